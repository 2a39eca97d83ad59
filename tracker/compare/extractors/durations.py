"""Durations and retention periods, compared as values rather than words.

"thirty (30) days", "12 months", "one year", "24 hours" and "two-year" are turned into ISO-8601
durations in the unit the text states ("12 months" -> ``P12M``, as readers expect to see it)
and compared in the largest exact unit (:func:`canonical_iso`), so "12 months" and "one year"
are both ``P1Y`` underneath (a rewording) while "12 months" -> "24 months" is a change. Retention
statements without a number ("as long as necessary", "indefinitely", "until you delete your
account") get a kind instead, and every period keeps its qualifier ("up to", "at least"),
anchor event ("after account closure") so that a changed anchor is a change too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNITS = {
    "second": "S", "seconds": "S", "sec": "S", "secs": "S",
    "minute": "MIN", "minutes": "MIN", "min": "MIN", "mins": "MIN",
    "hour": "H", "hours": "H", "hr": "H", "hrs": "H",
    "day": "D", "days": "D", "business day": "BD", "business days": "BD",
    "working day": "BD", "working days": "BD", "calendar day": "D", "calendar days": "D",
    "week": "W", "weeks": "W", "month": "M", "months": "M", "year": "Y", "years": "Y",
    "yr": "Y", "yrs": "Y",
}
_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "forty-five": 45, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "couple": 2,
    "half": 0.5, "single": 1,
}
_WORD_NUMBER = (r"(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:[\s-](?:one|two|"
                r"three|four|five|six|seven|eight|nine))?|eleven|twelve|thirteen|fourteen|"
                r"fifteen|sixteen|seventeen|eighteen|nineteen|hundred|one|two|three|four|five|"
                r"six|seven|eight|nine|ten|a\s+couple\s+of|an?|single")
_UNIT = (r"(?P<unit>business\s+days?|working\s+days?|calendar\s+days?|seconds?|secs?|minutes?|"
         r"mins?|hours?|hrs?|days?|weeks?|months?|years?|yrs?)")
DURATION = re.compile(
    r"(?<![\w.])(?:(?P<word>" + _WORD_NUMBER + r")\s*(?:\(\s*(?P<paren>\d+)\s*\)\s*)?|"
    r"(?P<num>\d{1,4}(?:[.,]\d+)?)\s*(?:\(\s*(?:" + _WORD_NUMBER + r")\s*\)\s*)?)"
    r"[\s-]*" + _UNIT + r"\b",
    re.IGNORECASE,
)
_RATE_BEFORE = re.compile(r"\b(?:hours?|days?|times?|weeks?|once|twice)\s*$", re.IGNORECASE)
_RATE_AFTER = re.compile(r"\s+(?:a|per|each|every)\s+(?:day|week|month|year)\b", re.IGNORECASE)
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
         "eighty": 80, "ninety": 90}
_ONES = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
         "eight": 8, "nine": 9}


def _word_value(word: str) -> float | None:
    word = re.sub(r"\s+", " ", word.lower()).replace("a couple of", "couple")
    if word in _NUMBER_WORDS:
        return _NUMBER_WORDS[word]
    parts = re.split(r"[\s-]", word)
    if len(parts) == 2 and parts[0] in _TENS and parts[1] in _ONES:
        return _TENS[parts[0]] + _ONES[parts[1]]
    return None


def stated_iso(value: float, unit: str) -> str:
    """ISO-8601 duration in the unit the text uses: (12, "M") -> "P12M", (30, "D") -> "P30D".

    This is the value reported to readers ("retention P12M -> P24M"); only fractions are
    turned into a whole smaller unit (1.5 years -> P18M). Compare with :func:`canonical_iso`.
    """
    if value != int(value):
        return iso_duration(value, unit)
    if unit == "BD":
        return f"P{_fmt(value)}D(business)"
    if unit in ("H", "MIN", "S"):
        return f"PT{_fmt(value)}{'M' if unit == 'MIN' else unit}"
    return f"P{_fmt(value)}{unit}"


_ISO = re.compile(r"^P(T?)(\d+(?:\.\d+)?)([YMWDHS])(\(business\))?$")


def canonical_iso(iso: str) -> str:
    """The comparable form of a duration: the largest exact unit ("P12M" and "P1Y" -> "P1Y")."""
    m = _ISO.match(iso)
    if not m:
        return iso
    if m[4]:
        return iso
    unit = ("MIN" if m[3] == "M" else m[3]) if m[1] else m[3]
    return iso_duration(float(m[2]), unit)


def iso_duration(value: float, unit: str) -> str:
    """ISO-8601 duration in the largest exact unit: (12, "M") -> "P1Y", (48, "H") -> "P2D"."""
    if unit == "BD":  # business days have no ISO form; keep them apart from calendar days
        return f"P{_fmt(value)}D(business)"
    if unit == "S" and value % 60 == 0:
        value, unit = value / 60, "MIN"
    if unit == "MIN" and value % 60 == 0:
        value, unit = value / 60, "H"
    if unit == "H" and value % 24 == 0:
        value, unit = value / 24, "D"
    if unit == "D" and value % 7 == 0:
        value, unit = value / 7, "W"
    if unit == "M" and value % 12 == 0:
        value, unit = value / 12, "Y"
    if unit == "Y" and value != int(value) and (value * 12) == int(value * 12):
        value, unit = value * 12, "M"
    if unit in ("H", "MIN", "S"):
        return f"PT{_fmt(value)}{'M' if unit == 'MIN' else unit}"
    return f"P{_fmt(value)}{unit}"


def _fmt(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


@dataclass(frozen=True, slots=True)
class Duration:
    """A stated length of time: its ISO value and where it stands in the text."""

    iso: str  # as stated ("P12M")
    start: int
    end: int
    text: str

    @property
    def canonical(self) -> str:
        """Largest exact unit ("P1Y"): equal for "12 months" and "one year"."""
        return canonical_iso(self.iso)


def find_durations(text: str) -> list[Duration]:
    """Every duration in the text ("thirty (30) days" -> P30D, "one year" -> P1Y)."""
    out: list[Duration] = []
    for m in DURATION.finditer(text):
        unit = _UNITS.get(re.sub(r"\s+", " ", m["unit"].lower()))
        if unit is None:
            continue
        if m["paren"]:
            value: float | None = float(m["paren"])
        elif m["num"]:
            value = float(m["num"].replace(",", "."))
        else:
            value = _word_value(m["word"])
        if value is None or value <= 0:
            continue
        if _RATE_BEFORE.search(text, 0, m.start()) and (m["word"] or "").lower() in ("a", "an"):
            continue  # the "a day" of "24 hours a day": a rate, not a period
        if _RATE_AFTER.match(text, m.end()):
            continue  # "24 hours a day", "twice a year": a frequency, not a period
        out.append(Duration(stated_iso(value, unit), m.start(), m.end(), m.group(0)))
    return out


# --- retention --------------------------------------------------------------------------------

_RETENTION_VERB = re.compile(
    r"\b(?:retain(?:s|ed|ing)?|retention|keep(?:s|ing)?|kept|stor(?:e|es|ed|ing|age)|"
    r"delet(?:e|es|ed|ing|ion)|eras(?:e|es|ed|ing|ure)|purg(?:e|es|ed|ing)|"
    r"anonymi[sz](?:e|es|ed|ing|ation)|de-?identif(?:y|ies|ied)|destroy(?:s|ed)?|"
    r"destruction|archiv(?:e|es|ed|ing)|hold(?:s)?|held|maintain(?:s|ed)?|preserv(?:e|es|ed)|"
    r"expir(?:e|es|y|ation)|lifespan|life\s?time|duration|remov(?:e|ed|al)|overwritten)\b",
    re.IGNORECASE,
)
_OPEN_ENDED = re.compile(
    r"\b(?:as\s+long\s+as(?:\s+(?:is|it\s+is|reasonably|strictly))?\s+(?:necessary|needed|"
    r"required|permitted|relevant|appropriate)|(?:no\s+longer|not\s+longer)\s+than\s+"
    r"(?:is\s+)?(?:necessary|needed|required)|for\s+the\s+(?:period|time|duration)\s+"
    r"(?:necessary|needed|required|strictly\s+necessary)|as\s+long\s+as\s+(?:you|your)\s+"
    r"(?:have|maintain|keep|use)|for\s+the\s+(?:life|lifetime|duration)\s+of\s+your\s+account"
    r"|until\s+(?:you|your)\s+(?:delete|close|request|withdraw|object|cancel|unsubscribe|"
    r"account\s+is)|while\s+your\s+account\s+(?:is|remains))",
    re.IGNORECASE,
)
_INDEFINITE = re.compile(r"\b(?:indefinitely|permanently|forever|in\s+perpetuity|"
                         r"without\s+(?:a\s+)?(?:time\s+)?limit)\b", re.IGNORECASE)
_MAX = re.compile(r"\b(?:up\s+to|no\s+(?:more|longer)\s+than|not\s+(?:more|longer)\s+than|"
                  r"maximum(?:\s+of)?|max\.?|at\s+most|within|less\s+than|a\s+period\s+not\s+"
                  r"exceeding|until)\s*$", re.IGNORECASE)
_MIN = re.compile(r"\b(?:at\s+least|minimum(?:\s+of)?|no\s+less\s+than|not\s+less\s+than|"
                  r"more\s+than)\s*$", re.IGNORECASE)
_ANCHOR = re.compile(
    r"^\W*(?:(?:after|from|following|since|of|beyond|past)\s+(?:the\s+)?(?P<a>(?:[\w'-]+\s+)"
    r"{0,5}?(?:(?:account\s+)?(?:closure|closing|termination|deletion|deactivation|end|"
    r"expiry|expiration|cancellation|collection|creation|last\s+(?:use|login|activity|contact|"
    r"interaction)|inactivity|receipt|completion|date|transaction|visit|request)|account)(?:\s+of\s+"
    r"(?:the\s+|your\s+)?[\w-]+(?:\s+[\w-]+)?)?)|(?P<b>of\s+inactivity))",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class RetentionPeriod:
    """A retention statement: how long, of what kind, counted from when."""

    duration: str | None  # ISO-8601 ("P1Y"), or None for open-ended / indefinite periods
    kind: str  # fixed | max | min | open-ended | indefinite | criteria
    anchor: str | None = None  # "account closure", "collection", ...
    text: str = ""

    @property
    def value(self) -> str:
        """The reported value: the duration as stated, or the kind when there is none."""
        if self.duration:
            return self.duration
        return self.kind

    @property
    def canonical(self) -> str:
        """The comparable value: duration in the largest exact unit, or the kind."""
        return canonical_iso(self.duration) if self.duration else self.kind


def is_retention_context(text: str, section: str = "") -> bool:
    """Whether a sentence (or its section heading) talks about keeping or deleting data."""
    return bool(_RETENTION_VERB.search(text) or re.search(
        r"retention|retain|how\s+long|storage\s+(?:period|duration)|keep", section, re.I))


def find_retention(text: str, section: str = "") -> list[RetentionPeriod]:
    """Retention periods stated in a sentence; empty when it is not about keeping data."""
    if not is_retention_context(text, section):
        return []
    out: list[RetentionPeriod] = []
    for d in find_durations(text):
        before = text[max(0, d.start - 40):d.start]
        after = text[d.end:d.end + 80]
        if re.search(r"\b(?:age|aged|old|under|older)\s*$", before, re.I) or \
                re.match(r"\s*(?:old|of\s+age)\b", after, re.I):
            continue  # "13 years old" is an age, not a period
        kind = "max" if _MAX.search(before) else "min" if _MIN.search(before) else "fixed"
        anchor_match = _ANCHOR.match(after)
        anchor = None
        if anchor_match:
            anchor = re.sub(r"\s+", " ", (anchor_match["a"] or anchor_match["b"] or "")).lower()
        out.append(RetentionPeriod(d.iso, kind, anchor, d.text))
    if not out:
        if _INDEFINITE.search(text):
            out.append(RetentionPeriod(None, "indefinite", None, text))
        elif m := _OPEN_ENDED.search(text):
            out.append(RetentionPeriod(None, "open-ended", None, m.group(0)))
    return out
