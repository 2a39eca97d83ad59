"""Dates in policy text, and the policy's own effective / last-updated date.

Policies state their date in many ways ("Last updated: May 24, 2018", "Effective as of
24/05/2018", "Revised 2018-05-24", "Updated March 2021", "the 24th of May 2018"). The date is
returned as an ISO string at the precision the text gives (YYYY-MM-DD, YYYY-MM or YYYY), so a
month-only statement never pretends to know the day. Numeric dates whose day and month could be
swapped (05/06/2018) are flagged ambiguous; the document's other numeric dates decide the order
when they can, otherwise month-first is assumed for slashes (the common US web form).

Only dates introduced by an "updated / effective / revised ..." phrase, or the newest entry of
a revision-history table, count as the policy's date: copyright years, dates of laws, menu
entries ("Tulip Day (May 13, 2020)") and example dates are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ...document import Document

MONTHS = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4,
    "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sep": 9, "sept": 9, "october": 10, "oct": 10, "november": 11, "nov": 11,
    "december": 12, "dec": 12,
}
_MONTH = (r"(?P<{name}>january|february|march|april|may|june|july|august|september|october|"
          r"november|december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)\.?")
_DAY = r"(?P<{name}>[0-3]?\d)(?:st|nd|rd|th)?"
# A year may be glued to following text by sloppy extraction ("202423 min read").
_YEAR = r"(?P<{name}>(?:19|20)\d\d)(?!\d(?!\d?\s*min))"
_SEP = r"[\s,.\-/]*"

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    # 2018-05-24 (optionally with a time: 2025-10-30T11:20:06+01:00)
    ("ymd", re.compile(r"(?<![\d.])(?P<y>(?:19|20)\d\d)-(?P<m>[01]?\d)-(?P<d>[0-3]?\d)(?!\d)")),
    # May 24, 2018 / May 24th 2018 / Jul 16, 2024 / effective-September-30-2025
    ("mdy", re.compile(r"\b" + _MONTH.format(name="mn") + r"[\s\-]*" + _DAY.format(name="d")
                       + r"(?!\d)" + r"(?:\s*,\s*|[\s\-]+)" + _YEAR.format(name="y"),
                       re.IGNORECASE)),
    # 24 May 2018 / the 24th of May, 2018 / 16-OCT-2023 / 5 September, 2018
    ("dmy", re.compile(r"(?<![\d.])\[?" + _DAY.format(name="d") + r"\]?(?:\s+of)?[\s\-]+"
                       + _MONTH.format(name="mn") + r"(?:\s*,\s*|[\s\-]+)"
                       + _YEAR.format(name="y"), re.IGNORECASE)),
    # 24/05/2018, 05/24/2018, 9/19/17, 24.05.2018, 06-03-26
    ("num", re.compile(r"(?<![\d./-])(?P<a>[0-3]?\d)(?P<s>[/.\-])(?P<b>[0-3]?\d)(?P=s)"
                       r"(?P<y>(?:19|20)\d\d|\d\d)(?![\d/])")),
    # 02/25, 2025 (month/day, year)
    ("md_y", re.compile(r"(?<![\d./-])(?P<a>[01]?\d)/(?P<b>[0-3]?\d),\s*(?P<y>(?:19|20)\d\d)\b")),
    # March 2021 / APRIL-2024 / March, 2021
    ("my", re.compile(r"\b" + _MONTH.format(name="mn") + r"(?:\s*,\s*|[\s\-]+)"
                      + _YEAR.format(name="y"), re.IGNORECASE)),
    # 2021-03
    ("ym", re.compile(r"(?<![\d.\-])(?P<y>(?:19|20)\d\d)-(?P<m>[01]\d)(?![\d\-])")),
]


@dataclass(frozen=True, slots=True)
class DateMatch:
    """A date found in text: ISO value at the given precision, where it was, and doubts."""

    iso: str
    precision: str  # "day" | "month" | "year"
    start: int
    end: int
    ambiguous: bool = False  # day and month could be swapped (05/06/2018)
    order: str = ""  # for numeric dates: "dmy" or "mdy" as interpreted


def _valid(y: int, m: int, d: int | None) -> bool:
    if not 1 <= m <= 12:
        return False
    return d is None or 1 <= d <= 31


_HAS_YEAR = re.compile(r"(?:19|20)\d\d")
_HAS_NUMERIC = re.compile(r"\d[/.\-]\d")
#: Either of the two above (a digit, then two more or a separator and one): one scan rules out
#: the many blocks that hold no date, where the two tests would take two.
_MAY_HAVE_DATE = re.compile(r"\d(?:\d\d|[/.\-]\d)")


def find_dates(text: str, day_first: bool | None = None) -> list[DateMatch]:
    """All dates in ``text``, longest match first at each position, in text order.

    ``day_first`` decides ambiguous numeric dates; ``None`` means month-first for slashes and
    day-first for dots and dashes (the usual European forms).
    """
    return list(_dates_in(text, day_first))


_ASCII_DIGITS = b"0123456789"


def _dates_in(text: str, day_first: bool | None) -> tuple[DateMatch, ...]:
    """:func:`_find_dates`, after a C-speed test for the blocks that hold no digit at all.

    Most blocks of a policy hold none; the pattern scan took ~1.8 µs a block to say so, this
    test ~0.5 µs, and those blocks no longer crowd the cache. A text with other than ASCII
    characters goes to the patterns, whose ``\\d`` also reads other scripts' digits.
    """
    if text.isascii():
        data = text.encode("ascii")
        if len(data.translate(None, _ASCII_DIGITS)) == len(data):
            return ()
    return _find_dates(text, day_first)


@lru_cache(maxsize=2048)
def _find_dates(text: str, day_first: bool | None) -> tuple[DateMatch, ...]:
    if _MAY_HAVE_DATE.search(text) is None:
        return ()
    has_year = _HAS_YEAR.search(text) is not None
    if not has_year and not _HAS_NUMERIC.search(text):
        return ()  # every date form has a four-digit year or a d/m/y number group
    found: list[DateMatch] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern in _PATTERNS:
        if not has_year and kind != "num":
            continue
        for m in pattern.finditer(text):
            s, e = m.span()
            if any(s < te and ts < e for ts, te in taken):
                continue
            match = _interpret(kind, m, day_first)
            if match is not None:
                found.append(match)
                taken.append((s, e))
    found.sort(key=lambda d: d.start)
    return tuple(found)


def _interpret(kind: str, m: re.Match[str], day_first: bool | None) -> DateMatch | None:
    s, e = m.span()
    if kind == "ymd":
        y, mo, d = int(m["y"]), int(m["m"]), int(m["d"])
        return DateMatch(f"{y:04d}-{mo:02d}-{d:02d}", "day", s, e) if _valid(y, mo, d) else None
    if kind in ("mdy", "dmy"):
        y, mo, d = int(m["y"]), MONTHS[m["mn"].lower().rstrip(".")], int(m["d"])
        return DateMatch(f"{y:04d}-{mo:02d}-{d:02d}", "day", s, e) if _valid(y, mo, d) else None
    if kind == "my":
        y, mo = int(m["y"]), MONTHS[m["mn"].lower().rstrip(".")]
        return DateMatch(f"{y:04d}-{mo:02d}", "month", s, e)
    if kind == "ym":
        y, mo = int(m["y"]), int(m["m"])
        return DateMatch(f"{y:04d}-{mo:02d}", "month", s, e) if _valid(y, mo, None) else None
    if kind == "md_y":
        y, mo, d = int(m["y"]), int(m["a"]), int(m["b"])
        return DateMatch(f"{y:04d}-{mo:02d}-{d:02d}", "day", s, e) if _valid(y, mo, d) else None
    a, b, year = int(m["a"]), int(m["b"]), m["y"]
    y = int(year) if len(year) == 4 else 2000 + int(year)
    if a > 12 and b > 12:
        return None
    if a > 12:
        order, ambiguous = "dmy", False
    elif b > 12:
        order, ambiguous = "mdy", False
    else:
        ambiguous = a != b
        if day_first is None:
            day_first = m["s"] != "/"
        order = "dmy" if day_first else "mdy"
    d, mo = (a, b) if order == "dmy" else (b, a)
    if not _valid(y, mo, d):
        return None
    return DateMatch(f"{y:04d}-{mo:02d}-{d:02d}", "day", s, e, ambiguous, order)


def remove_dates(text: str) -> str:
    """``text`` without its dates (they are compared as the effective date, not as words)."""
    dates = find_dates(text)
    if not dates:
        return text
    out, last = [], 0
    for d in dates:
        out.append(text[last:d.start])
        out.append(" ")
        last = d.end
    out.append(text[last:])
    return "".join(out)


# --- the policy's own date ----------------------------------------------------------------

_KEYWORD = re.compile(
    r"(?:last|recently|most\s+recently)?\s*(?:updated|modified|revised|amended|reviewed|changed)"
    r"|last\s+(?:update|revision|modification|change|review)"
    r"|(?:date\s+of\s+(?:last\s+)?(?:update|revision|modification))"
    r"|effective(?:\s+date)?|in\s+(?:force|effect)\s+(?:since|from|as\s+of)|valid\s+(?:from|as\s+of)"
    r"|takes?\s+effect|version\s+date|revision\s+date|update\s+date|updated\s+on",
    re.IGNORECASE,
)
# Between the keyword and the date: at most a few connecting words or punctuation.
_GAP = re.compile(
    r"^[\s:*_\-,.)(\]\[]*(?:(?:on|as\s+of|as\s+at|at|from|since|date|dated|in|of|and|the"
    r"|effective|is|was|this|policy|notice|statement|version)[\s:*_\-,.]*){0,4}$",
    re.IGNORECASE,
)
_NOT_OWN = re.compile(r"\b(?:until|before|prior|previous|archived|earlier|older)\b",
                      re.IGNORECASE)
_HISTORY = re.compile(r"revision|history|change\s*log|changes|versions?|updates?|amendments?",
                      re.IGNORECASE)
_OWN_DOC = re.compile(r"\b(?:policy|notice|statement|version|terms|document|page)\b",
                      re.IGNORECASE)
_TIMESTAMP = re.compile(r"(?<!\d)(?:19|20)\d\d-[01]\d-[0-3]\dT\d\d:\d\d")


@dataclass(frozen=True, slots=True)
class EffectiveDate:
    """The policy's own date with its evidence."""

    iso: str
    text: str
    section: str
    ambiguous: bool = False


def day_first_hint(*docs: Document) -> bool | None:
    """Whether the document writes numeric dates day-first, from its unambiguous ones."""
    votes = 0
    for block in (b for doc in docs for b in doc.blocks):
        if _HAS_NUMERIC.search(block.text) is None:
            continue  # only numeric dates (24/05/2018) have an order to vote with
        for d in find_dates(block.text):
            if d.order and not d.ambiguous:
                votes += 1 if d.order == "dmy" else -1
    return None if votes == 0 else votes > 0


def find_effective_date(doc: Document, day_first: bool | None = None,
                        hint_docs: tuple[Document, ...] = ()) -> EffectiveDate | None:
    """The policy's own effective / last-updated date, or None when it states none.

    Candidates, strongest first: a date introduced by "updated / effective / revised" in a
    short statement (or one naming the policy), the same inside a long sentence, the newest row
    of a revision-history table, a date standing alone near the top, a page timestamp near the
    top. The newest date of the strongest kind wins ("Effective Dec 15. Last revised Nov 15").
    ``day_first`` overrides the hint for ambiguous numeric dates; without it the hint comes
    from ``hint_docs`` (say, both versions of a compared pair), else from ``doc`` alone. The
    hint reads every block, so it is worked out only once an ambiguous date turns up: most
    policies write their dates with month names and never need it.
    """
    hint: list[bool | None] = [] if day_first is None else [day_first]
    tiers: dict[int, list[EffectiveDate]] = {}
    for number, block in enumerate(doc.blocks):
        text = block.text[:2000]
        dates = _dates_in(text, hint[0] if hint else None)  # cached; most blocks have none
        if not dates:
            continue
        if not hint and any(d.ambiguous for d in dates):
            hint.append(_document_hint(doc, hint_docs))
            dates = _dates_in(text, hint[0])
        section = block.section_title
        words = len(text.split())
        for d in dates:
            candidate = EffectiveDate(d.iso, block.text, section, d.ambiguous)
            if _introduced(text, d):
                strong = words <= 20 or _OWN_DOC.search(_sentence_around(text, d.start))
                tier = 0 if strong else 1
            elif (block.kind == "row" and d.start < 5 and
                  _HISTORY.search(" ".join(block.section))):
                tier = 2
            elif number < 6 and words <= 6 and d.start < 5:
                tier = 3
            elif number < 3 and _TIMESTAMP.match(text, d.start):
                tier = 4
            else:
                continue
            tiers.setdefault(tier, []).append(candidate)
    if not tiers:
        return None
    return max(tiers[min(tiers)], key=lambda c: c.iso)


def _document_hint(doc: Document, hint_docs: tuple[Document, ...]) -> bool | None:
    """The day-first vote of ``hint_docs``; the document's own when they are split evenly."""
    hint = day_first_hint(*hint_docs) if hint_docs else None
    return day_first_hint(doc) if hint is None else hint


def _sentence_around(text: str, position: int) -> str:
    start = max(text.rfind(". ", 0, position), 0)
    end = text.find(". ", position)
    return text[start:end if end >= 0 else len(text)]


def _introduced(text: str, date: DateMatch) -> bool:
    """The date follows an "updated / effective / revised" phrase closely."""
    window_start = max(0, date.start - 80)
    window = text[window_start:date.start]
    best = None
    for m in _KEYWORD.finditer(window):
        best = m
    if best is None:
        return False
    gap = window[best.end():]
    if not _GAP.match(gap):
        return False
    before = text[max(0, window_start + best.start() - 40):window_start + best.end()]
    return not _NOT_OWN.search(before + gap)


def extract_effective_date(doc: Document, day_first: bool | None = None) -> str | None:
    """ISO date (at the precision given) of the policy's own effective / last-updated date."""
    found = find_effective_date(doc, day_first)
    return found.iso if found else None
