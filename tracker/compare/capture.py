"""Is the new version a broken capture rather than a new policy?

A page that failed to load completely (an error page, a consent wall, a truncated download)
would otherwise show up as every clause of the policy being deleted — a flood of false
"material" findings. A version whose text collapsed, or that stops mid-sentence after losing
the end of the old text, is reported as suspect with a reason, and not as a change.
"""

from __future__ import annotations

from ..document import Document
from .text import Sentence

#: Below this share of the old word count, the new version is a collapse.
COLLAPSE_RATIO = 0.4
#: Below this share (and stopping mid-sentence), the new version may be a cut-off download.
#: Every verdict needs the new text under this share of the old (COLLAPSE_RATIO is lower).
CUT_RATIO = 0.85
#: Documents shorter than this (words) are too small to judge.
MIN_WORDS = 150


def suspect_capture(old: Document, new: Document, old_sentences: list[Sentence],
                    new_sentences: list[Sentence]) -> str | None:
    """A reason why ``new`` looks like a broken capture of the page, or None."""
    old_words = sum(len(s.tokens) for s in old_sentences)
    new_words = sum(len(s.tokens) for s in new_sentences)
    if old_words < MIN_WORDS:
        return None
    if new_words < COLLAPSE_RATIO * old_words:
        share = round(100 * new_words / old_words)
        return f"most of the text is gone: {new_words} of {old_words} words remain ({share}%)"
    if new_words < CUT_RATIO * old_words and new.blocks:
        last = new.blocks[-1].text.rstrip(" *_")
        if last and last[-1].isalnum() and len(last.split()) >= 6 and _prefix_kept(
                old_sentences, new_sentences):
            return "the text stops mid-sentence and the end of the old version is missing"
    return None


def _prefix_kept(old: list[Sentence], new: list[Sentence]) -> bool:
    """The new text is (nearly) the start of the old one: a cut, not a rewrite."""
    new_keys = {s.key for s in new}
    kept = [i for i, s in enumerate(old) if s.key in new_keys]
    if len(kept) < 0.8 * max(1, len(new) - 1):
        return False
    tail = old[max(kept) + 1:] if kept else old
    return len(tail) >= 0.15 * len(old)
