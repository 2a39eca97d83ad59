"""Sentences and comparison tokens: the units the semantic comparison works on.

Policies are compared sentence by sentence, and inside an edited stretch word by word. Both
need a form of the text where nothing that never carries meaning can differ: typography, case,
punctuation, Markdown leftovers, link targets, e-mail obfuscation placeholders, list numbering
and the policy's own dates (those are compared separately as the effective date). This module
produces that form once per sentence so every later stage works on plain token lists.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from ..document import HEADING, ROW, Block, Document
from .extractors.dates import remove_dates

_FOLD = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u00ab": '"',
        "\u00bb": '"', "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-",
        "\u2014": "-", "\u2015": "-", "\u2212": "-", "\u00a0": " ", "\u202f": " ",
        "\u2009": " ", "\u00ad": None, "\u200b": None, "\u200c": None, "\u200d": None,
        "\ufeff": None, "\u2060": None,
    }
)


def fold(text: str) -> str:
    """Typography-folded text (NFKC, ASCII quotes and dashes, no invisible characters)."""
    return unicodedata.normalize("NFKC", text).translate(_FOLD)


# --- things removed before tokenizing ---------------------------------------------------------

_URL = re.compile(r"(?:https?://|www\.)[^\s<>()\]\[\"']+", re.IGNORECASE)
#: Cloudflare and similar e-mail protection leave a placeholder instead of the address.
EMAIL_PLACEHOLDER = re.compile(r"\[\s*email(?:&#160;|\s)*protected\s*\]|email\s*protected\b",
                               re.IGNORECASE)
PLACEHOLDER_TOKEN = "obfuscated@email.invalid"
_LEADING_NUMBER = re.compile(
    r"^\s*(?:\(?(?:\d{1,3}(?:\.\d{1,3})*|[a-z]|[ivxlc]{1,6})[.)]\s*|\d{1,3}(?:\.\d{1,3})+\s+"
    r"|(?:article|section|chapter|part)\s+\d{1,3}(?:\.\d{1,3})*[.:)]?\s+)",
    re.IGNORECASE,
)
_CONTRACTION = re.compile(r"\b(?:won't|can't|cannot|shan't)\b|n't\b", re.IGNORECASE)
_EXPANDED = {"won't": "will not", "can't": "can not", "cannot": "can not", "shan't": "shall not",
             "n't": " not"}
_TOKEN = re.compile(r"[a-z0-9][\w.+-]*@[a-z0-9-]+(?:\.[a-z0-9-]+)+|[a-z0-9]+")


#: A quoted Title Case phrase named as a section is a cross-reference ("see the "Your
#: Rights" section below"); it changes whenever a heading is renamed.
_QUOTED_TITLE = re.compile(
    r'(?:(?<=\b[Ss]ee )|(?<=\b[Ss]ection )|(?<=\btitled )|(?<=\bentitled )|(?<=\bheading )|'
    r'(?<=\bthe ))"(?:[A-Z0-9][\w\'&/,-]*\s+(?:(?:and|or|of|the|to|for|in|on|with|a|an|-|&)'
    r'\s+)*){1,12}[A-Z0-9][\w\'&/-]*"(?=\s+(?:section|heading|chapter|paragraph|part|below|'
    r'above|page)\b)|(?:(?<=\b[Ss]ee )|(?<=\b[Ss]ection )|(?<=\btitled )|(?<=\bentitled ))'
    r'"[^"]{3,100}"'
)


def strip_furniture_text(text: str) -> str:
    """Remove link targets, e-mail placeholders and section cross-references.

    None of them carries the policy's meaning: a link target rotates with tracking parameters,
    a placeholder is an e-mail protection artefact, and a cross-reference changes whenever a
    heading is renamed.
    """
    # Cheap substring checks first: this runs on every sentence of both versions.
    if "://" in text or "www." in text:
        text = _URL.sub(" ", text)
    if '"' in text:
        text = _QUOTED_TITLE.sub(" ", text)
    if "protected" in text:
        text = EMAIL_PLACEHOLDER.sub(" " + PLACEHOLDER_TOKEN + " ", text)
    return text


def tokens_of(text: str) -> list[str]:
    """Lower-case word tokens (e-mail addresses kept whole) of a display text, dates removed."""
    return list(_tokens(text))


@lru_cache(maxsize=4096)
def _tokens(text: str) -> tuple[str, ...]:
    # Cached: most sentences of two versions are the same text. Tokens are interned: a
    # policy's vocabulary is a few thousand words, so a full cache holds ~3k strings instead
    # of ~70k copies (6.9 -> 3.6 MB per process), and equal tokens compare by identity.
    text = strip_furniture_text(fold(text))
    if "'" in text or "nnot" in text:
        text = _CONTRACTION.sub(lambda m: _EXPANDED[m.group(0).lower()], text)
    return tuple(map(sys.intern, _TOKEN.findall(remove_dates(text).lower())))


def loose_key(text: str) -> str:
    """Letters and digits only: equal for texts differing in case, spacing or punctuation."""
    return "".join(tokens_of(text))


def clear_caches() -> None:
    """Forget cached tokenizations (benchmarks measure cold comparisons with this)."""
    from .extractors.dates import _find_dates
    from .lexicons import heading_categories

    _tokens.cache_clear()
    heading_categories.cache_clear()
    _sentences_of_block.cache_clear()
    proper_words.cache_clear()
    _find_dates.cache_clear()


# --- sentences ---------------------------------------------------------------------------------

_SPLIT = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9])")
_ABBREVIATIONS = {
    "e.g.", "i.e.", "etc.", "inc.", "ltd.", "co.", "corp.", "no.", "nos.", "mr.", "mrs.", "ms.",
    "dr.", "st.", "vs.", "u.s.", "u.k.", "e.u.", "art.", "sec.", "para.", "p.", "pp.", "approx.",
    "incl.", "jan.", "feb.", "mar.", "apr.", "jun.", "jul.", "aug.", "sep.", "sept.", "oct.",
    "nov.", "dec.", "fig.", "cf.", "llc.", "s.a.", "b.v.", "n.v.", "a.g.", "ltda.", "pty.",
}


_INITIALS = re.compile(r"(?:[a-z]\.)+")  # "j.r." in "J.R. Smith": not a sentence end


def split_sentences(text: str) -> list[str]:
    """Split a block into sentences, keeping abbreviations and initials intact."""
    parts: list[str] = []
    start = 0
    for match in _SPLIT.finditer(text):
        head = text[start:match.start()].rstrip("\"')]")
        last_word = head.rsplit(None, 1)[-1].lower() if head.split() else ""
        if last_word in _ABBREVIATIONS or _INITIALS.fullmatch(last_word):
            continue
        if len(last_word) <= 2 and last_word[:-1].isdigit():  # "1." list-like numbering
            continue
        parts.append(text[start:match.start()].strip())
        start = match.end()
    parts.append(text[start:].strip())
    return [p for p in parts if p]


@dataclass(slots=True)
class Sentence:
    """One sentence of a document with what the comparison needs to know about it."""

    index: int
    text: str
    section: tuple[str, ...]
    kind: str
    block: int
    tokens: tuple[str, ...] = ()
    key: str = ""  # the tokens joined: equal keys mean the same words (computed once)

    @property
    def names(self) -> frozenset[str]:
        """Lower-cased words written as names (capitalized mid-sentence, or acronyms)."""
        return proper_words(self.text)


    @property
    def section_title(self) -> str:
        return self.section[-1] if self.section else ""


_WORD = re.compile(r"(?<![\w@.])([A-Za-z][\w'-]*)")


@lru_cache(maxsize=2048)
def proper_words(text: str) -> frozenset[str]:
    """Words that look like names: capitalized after the first word, or all-caps acronyms."""
    out: set[str] = set()
    for number, m in enumerate(_WORD.finditer(fold(text))):
        word = m.group(1)
        if number == 0 or not word[0].isupper():
            continue
        before = text[max(0, m.start() - 2):m.start()]
        if before.strip().endswith((".", ":", "!", "?", ";", "\u2022")) and not word.isupper():
            continue  # a new sentence or list entry starts here
        out.add(word.lower())
    return frozenset(out)


def common_ends(old: Document, new: Document) -> tuple[int, int]:
    """How many leading and trailing blocks two documents share (same kind, same text).

    A new version usually edits a few paragraphs of a long policy; the shared blocks at both
    ends yield identical sentences on both sides, so the comparison can skip splitting and
    aligning them (the way text diffs strip a common prefix and suffix first).
    """
    a, b = old.blocks, new.blocks
    limit = min(len(a), len(b))
    head = 0
    while head < limit and a[head].kind == b[head].kind and a[head].text == b[head].text:
        head += 1
    tail = 0
    while (tail < limit - head and a[-1 - tail].kind == b[-1 - tail].kind
           and a[-1 - tail].text == b[-1 - tail].text):
        tail += 1
    return head, tail


def sentences_of(doc: Document, start: int = 0, stop: int | None = None) -> list[Sentence]:
    """The sentences of blocks ``start:stop`` in order; headings and table rows stay whole.

    ``index`` counts from the first sentence returned, ``block`` is the block's own number.
    """
    out: list[Sentence] = []
    for number, block in enumerate(doc.blocks[start:stop], start):
        section, kind = block.section, block.kind
        for text in _sentences_of_block(kind, block.text):
            tokens = _tokens(text)
            if tokens:
                out.append(Sentence(len(out), text, section, kind, number, tokens,
                                    "".join(tokens)))
    return out


def _block_sentences(block: Block) -> tuple[str, ...]:
    return _sentences_of_block(block.kind, block.text)


@lru_cache(maxsize=2048)
def _sentences_of_block(kind: str, text: str) -> tuple[str, ...]:
    if kind != ROW:
        text = _LEADING_NUMBER.sub("", text, count=1)
    if kind in (HEADING, ROW):
        return (text,) if text.strip() else ()
    return tuple(split_sentences(text))
