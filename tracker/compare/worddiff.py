"""Word-level diffs of two texts with diff-match-patch and semantic cleanup.

diff-match-patch diffs characters; a policy reader wants whole words. Each word (and each run
of spaces or punctuation) is mapped to one private-use character, the diff runs on those, and
the result is mapped back, so an edit never splits a word ("12 months" -> "24 months" shows
"12" -> "24", not "1" -> "2").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from diff_match_patch import diff_match_patch

DELETE, EQUAL, INSERT = -1, 0, 1
_TOKENS = re.compile(r"\w+|\s+|[^\w\s]", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Span:
    op: int  # DELETE, EQUAL or INSERT
    text: str


def _engine() -> diff_match_patch:
    engine = diff_match_patch()
    engine.Diff_Timeout = 0.5  # bounded even on pathological inputs
    return engine


_ENGINE = _engine()


def word_diff(old: str, new: str) -> list[Span]:
    """Spans that turn ``old`` into ``new``, at word granularity, cleaned up for humans."""
    if old == new:
        return [Span(EQUAL, old)] if old else []
    vocabulary: dict[str, str] = {}
    tokens: list[str] = []

    def encode(text: str) -> str:
        chars = []
        for token in _TOKENS.findall(text):
            code = vocabulary.get(token)
            if code is None:
                code = chr(0xF0000 + len(tokens)) if len(tokens) < 0xFFFD else chr(0x10FFFD)
                vocabulary[token] = code
                tokens.append(token)
            chars.append(code)
        return "".join(chars)

    a, b = encode(old), encode(new)
    diffs = _ENGINE.diff_main(a, b, False)
    _ENGINE.diff_cleanupSemantic(diffs)
    spans: list[Span] = []
    for op, chars in diffs:
        text = "".join(tokens[ord(c) - 0xF0000] for c in chars)
        if spans and spans[-1].op == op:
            spans[-1] = Span(op, spans[-1].text + text)
        elif text:
            spans.append(Span(op, text))
    return spans
