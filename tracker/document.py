"""The document model every stage shares: a policy page as sections of blocks.

HTML, Markdown and plain text all become a :class:`Document`, so comparison never depends on
where a page came from. A document serializes to a small Markdown dialect (``to_text``) that is
what the store keeps as a version's normalized text; :func:`tracker.normalize.parse_markdown`
reads it back into the same blocks, so stored versions can be diffed without re-parsing HTML.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

HEADING = "heading"
PARAGRAPH = "paragraph"
ITEM = "item"
ROW = "row"  # a table row; its cells joined by " | " so a retention table keeps its context

_TRANSLATE = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
        "\u00ab": '"', "\u00bb": '"',
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
        "\u2015": "-", "\u2212": "-",
        "\u00a0": " ", "\u2007": " ", "\u202f": " ", "\u2009": " ", "\u200a": " ",
        "\u3000": " ", "\t": " ",
        "\u00ad": None, "\u200b": None, "\u200c": None, "\u200d": None, "\u2060": None,
        "\ufeff": None,
        "\u2026": "...",
    }
)
_SPACES = re.compile(r"\s+")
_INVISIBLE = dict.fromkeys([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F, 0xFFFD,
                            0xAD, 0x200B])
_ASCII_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # _INVISIBLE within ASCII
_LIST_MARKER = re.compile(
    r"^(?:\(?\d{1,3}[.)]|\(?[a-z][.)]|\(?[ivx]{1,5}[.)]|[-*\u2022\u25cf\u25aa])\s+", re.IGNORECASE)
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?)])")


def clean_display(text: str) -> str:
    """Collapse whitespace for display; keeps the page's own characters (quotes, dashes)."""
    if text.isascii() and _ASCII_INVISIBLE.search(text) is None:
        return " ".join(text.split())  # nothing to delete: skip translate (most texts, 2x faster)
    return " ".join(text.translate(_INVISIBLE).split())


def comparison_key(text: str) -> str:
    """The form of a text used to decide equality: typography and spacing never count.

    NFKC folds compatibility characters, curly quotes and dashes become ASCII, soft hyphens and
    zero-width characters vanish, list numbering is dropped (renumbering is not a change), and
    whitespace collapses. Case is kept: it is almost never the only difference, and when it is,
    the word diff shows it as a rewording anyway.
    """
    text = unicodedata.normalize("NFKC", text).translate(_TRANSLATE)
    text = _SPACES.sub(" ", text).strip()
    text = _LIST_MARKER.sub("", text)
    return _SPACE_BEFORE_PUNCT.sub(r"\1", text)


@dataclass(frozen=True, slots=True)
class Block:
    """One unit of text: a heading, paragraph, list item or table row, under a section path."""

    kind: str
    text: str
    section: tuple[str, ...] = ()
    level: int = 0  # heading level (1-6) for headings, nesting depth for items
    _key: str | None = field(default=None, init=False, compare=False, repr=False)

    @property
    def key(self) -> str:
        """The comparison key, computed on first use (alignment asks for it many times)."""
        if self._key is None:
            object.__setattr__(self, "_key", comparison_key(self.text))
        return self._key  # type: ignore[return-value]

    @property
    def section_title(self) -> str:
        """The innermost heading this block sits under ("" before the first heading)."""
        return self.section[-1] if self.section else ""


@dataclass(slots=True)
class Document:
    """A normalized page: an ordered list of blocks and an optional title."""

    blocks: list[Block] = field(default_factory=list)
    title: str = ""

    def to_text(self) -> str:
        """Serialize to the canonical Markdown dialect stored as a version's text."""
        out: list[str] = []
        for block in self.blocks:
            out.append(_render_block(block))
        return "\n\n".join(out) + ("\n" if out else "")

    def word_count(self) -> int:
        return sum(len(b.text.split()) for b in self.blocks)

    @classmethod
    def from_text(cls, text: str) -> Document:
        """Read back what :meth:`to_text` wrote (exact round trip, no Markdown guessing).

        Every changed page reads its previous version back through here, so the loop keeps
        to plain string tests and builds a section path only when a heading changes it.
        """
        blocks: list[Block] = []
        path: list[tuple[int, str]] = []
        section: tuple[str, ...] = ()
        for chunk in text.split("\n\n"):
            line = chunk.strip("\n")
            if not line or line.isspace():
                continue
            first = line[0]
            heading = _HEADING_LINE.match(line) if first == "#" else None
            if heading:
                level, title = len(heading.group(1)), heading.group(2)
                while path and path[-1][0] >= level:
                    path.pop()
                blocks.append(Block(HEADING, title, tuple(t for _, t in path), level))
                path.append((level, title))
                section = tuple(t for _, t in path)
                continue
            item = _ITEM_LINE.match(line) if first in " -" else None
            if item:
                blocks.append(Block(ITEM, item.group(2), section, len(item.group(1)) // 2 + 1))
            elif first == "|" and line.startswith("| ") and line.endswith(" |"):
                blocks.append(Block(ROW, line[2:-2], section))
            else:
                blocks.append(Block(PARAGRAPH, line[1:] if first == "\\" else line, section))
        return cls(blocks)


_HEADING_LINE = re.compile(r"^(#{1,6}) (.*)$")
_ITEM_LINE = re.compile(r"^( *)- (.*)$")
_NEEDS_ESCAPE = re.compile(r"^(?:#{1,6}\s|[-*+]\s|\d{1,9}[.)]\s|\||>|\\)")


def _render_block(block: Block) -> str:
    text = block.text
    if block.kind == HEADING:
        return "#" * max(1, min(block.level or 1, 6)) + " " + text
    if block.kind == ITEM:
        indent = "  " * max(0, block.level - 1)
        return f"{indent}- {text}"
    if block.kind == ROW:
        return "| " + text + " |"
    if _NEEDS_ESCAPE.match(text):
        return "\\" + text
    return text
