"""Typed facts of one sentence, compared between versions instead of comparing words.

A fact is a category plus a value that can be compared exactly: a retention period (``P1Y``),
the polarity of a sale statement (``does not sell`` / ``may sell``), an age threshold, a
contact e-mail, a request deadline, an advance-notice period, a transfer mechanism, a set of
data categories or purposes. Two versions of a sentence whose facts are equal say the same thing
however they are worded; facts that differ are a change of meaning, with old and new values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..lexicons import (
    CHILDREN,
    CONTACT,
    POLICY_CHANGES,
    RETENTION,
    RIGHTS,
    SHARING,
    Hit,
)
from ..text import fold
from .durations import RetentionPeriod, find_durations, find_retention

_EMAIL = re.compile(r"[a-z0-9][\w.+-]*@[a-z0-9-]+(?:\.[a-z0-9-]+)+", re.IGNORECASE)
_SELL = re.compile(r"\b(?:sell\w*|sold|sale)\b", re.IGNORECASE)
_SELL_NEGATED = re.compile(
    r"(?:\b(?:not|never|no)\b|n't)(?:\s+\w+){0,4}?\s+(?:sell\w*|sold|sale)\b|"
    r"\b(?:neither|nor)\b.{0,30}\bsell|"
    # the negation after the verb: "sell nothing", "sell none of it", "sold no data"
    r"\b(?:sell|sold)\s+(?:nothing|none|no)\b|\bwithout\s+selling\b",
    re.IGNORECASE,
)
_SELL_OPT_OUT = re.compile(r"\bdo\s+not\s+sell\b(?:\s+or\s+share)?\s+my\b|opt[\s-]*out\s+of"
                           r"(?:\s+the)?\s+(?:sale|selling)", re.IGNORECASE)
_SELL_MAY = re.compile(r"\b(?:may|might|could|can)\b(?:\s+\w+){0,3}?\s+(?:sell\w*|sold|"
                       r"(?:be\s+)?(?:considered|deemed)\s+(?:a\s+)?(?:sale|selling))\b",
                       re.IGNORECASE)
_AGE = re.compile(
    r"\b(?:under|below|younger\s+than|over|older\s+than|at\s+least|aged?|minimum\s+age\s+"
    r"(?:of|is)?|age\s+of|between)\s+(?:the\s+age\s+of\s+)?(?P<n>\d{1,2})(?:\s*(?:-|to|and)\s*"
    r"(?P<m>\d{1,2}))?(?!\d)|\b(?P<k>\d{1,2})\s*(?:\+|-?\s*years?[\s-]*(?:of\s+age|old|and\s+"
    r"(?:over|older|up)))",
    re.IGNORECASE,
)
_CHILD_CONTEXT = re.compile(r"\b(?:child\w*|minors?|kids?|teen\w*|age|aged|years?\s+old|"
                            r"parent\w*|guardians?|coppa|young)\b", re.IGNORECASE)
_DEADLINE = re.compile(r"\b(?:within|in|no\s+later\s+than|up\s+to)\s+$", re.IGNORECASE)
_REQUEST_CONTEXT = re.compile(r"\b(?:respond|response|request\w*|reply|answer|acknowledg\w*)\b",
                              re.IGNORECASE)
_NOTICE_CONTEXT = re.compile(r"\b(?:notice|notify|notif\w*|inform|before\s+(?:the\s+)?"
                             r"(?:changes?|they))\b", re.IGNORECASE)
_POLICY_CONTEXT = re.compile(r"\b(?:policy|notice|statement|changes?|updates?)\b", re.I)

_ORGANISATION = re.compile(
    r"\b(?:[A-Z][\w'&-]*\s+){0,4}[A-Z][\w'&-]*,?\s+(?:Inc|LLC|L\.L\.C|Ltd|Limited|GmbH|"
    r"Corporation|Corp|B\.V|BV|S\.A\.S|SAS|S\.A|plc|PLC|AG|SARL|S\.r\.l|Pty|AB|Oy|ASA|N\.V|"
    r"Co\.,? Ltd|Pte\.? Ltd|KK|K\.K)\b\.?(?:\s+of\s+[A-Z]\w+)?"
)
_LEADING_COMMON = re.compile(r"^(?:(?:Also|And|The|Our|This|By|Contact|At|To|From|With|Please|"
                             r"If|For|Or|Of|In|On)\s+)+")
_CONTACT_CONTEXT = re.compile(
    r"\b(?:contact\w*|controller|operated|responsible|representative|address|registered|"
    r"headquarter\w*|located\s+at|we\s+are|provided\s+by|data\s+protection\s+officer|DPO|"
    r"write\s+to|mail)\b", re.IGNORECASE)
_NEGATION = re.compile(r"\b(?:not|never|no|none|nor|neither|without)\b|n't\b", re.IGNORECASE)
_PERMISSIVE = re.compile(r"\b(?:may|might|can|could)\b", re.IGNORECASE)


@dataclass(slots=True)
class Facts:
    """What one sentence states, by category; empty containers when it states nothing."""

    retention: list[RetentionPeriod] = field(default_factory=list)
    sale: str | None = None  # "does not sell" | "may sell" | "sells" | "opt-out of sale"
    ages: list[int] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    organisations: list[str] = field(default_factory=list)  # named in a contact context
    deadlines: list[str] = field(default_factory=list)  # request response deadlines (ISO)
    notice_periods: list[str] = field(default_factory=list)  # advance notice of changes (ISO)
    labels: dict[str, set[str]] = field(default_factory=dict)  # lexicon values by category

    def typed(self) -> dict[str, object]:
        """Category -> comparable typed value for the facts this sentence states."""
        out: dict[str, object] = {}
        if self.retention:
            values = [r.value for r in self.retention]
            out[RETENTION] = values[0] if len(values) == 1 else values
        if self.sale:
            out[SHARING] = self.sale
        if self.ages:
            out[CHILDREN] = self.ages
        if self.emails or self.organisations:
            out[CONTACT] = sorted(self.emails + self.organisations)
        if self.deadlines:
            out[RIGHTS] = self.deadlines
        if self.notice_periods:
            out[POLICY_CHANGES] = self.notice_periods
        return out


def sale_polarity(text: str) -> str | None:
    """How a sentence speaks of selling personal data, if it does."""
    if not _SELL.search(text):
        return None
    if _SELL_OPT_OUT.search(text) and not _SELL_NEGATED.search(
            _SELL_OPT_OUT.sub(" ", text)):
        return "opt-out of sale"
    if _SELL_NEGATED.search(text):
        return "does not sell"
    if _SELL_MAY.search(text):
        return "may sell"
    return "sells"


def find_ages(text: str) -> list[int]:
    """Age thresholds in a sentence about children or ages ("under 13", "16 years old")."""
    if not _CHILD_CONTEXT.search(text):
        return []
    ages: set[int] = set()
    for m in _AGE.finditer(text):
        for group in ("n", "m", "k"):
            if m[group]:
                value = int(m[group])
                if 5 <= value <= 25:
                    ages.add(value)
    return sorted(ages)


def find_emails(text: str) -> list[str]:
    return sorted({e.lower().rstrip(".") for e in _EMAIL.findall(text)})


def find_organisations(text: str) -> list[str]:
    """Company names with a legal-form suffix ("Example Media, Inc.", "Example GmbH")."""
    names = {re.sub(r"\s+", " ", m.group(0)).rstrip(".,") for m in _ORGANISATION.finditer(text)}
    return sorted({_LEADING_COMMON.sub("", n) for n in names})


def extract_facts(text: str, section: str = "", hits: list[Hit] | None = None) -> Facts:
    """All typed facts of one sentence (``section`` is its heading, for context)."""
    facts = Facts()
    text = fold(text)
    facts.retention = find_retention(text, section)
    facts.sale = sale_polarity(text)
    facts.ages = find_ages(text)
    facts.emails = find_emails(text)
    if _CONTACT_CONTEXT.search(text) or re.search(r"contact|about us|who we are", section, re.I):
        facts.organisations = find_organisations(text)
    if _REQUEST_CONTEXT.search(text) or _NOTICE_CONTEXT.search(text):
        for d in find_durations(text):
            if not _DEADLINE.search(text[max(0, d.start - 25):d.start]):
                continue
            if _REQUEST_CONTEXT.search(text):
                facts.deadlines.append(d.iso)
            elif _POLICY_CONTEXT.search(text):
                facts.notice_periods.append(d.iso)
        if not facts.notice_periods and _NOTICE_CONTEXT.search(text) and \
                _POLICY_CONTEXT.search(text):
            facts.notice_periods = [d.iso for d in find_durations(text)
                                    if re.search(r"\b(?:notice|before|prior|advance)\b",
                                                 text[d.end:d.end + 30] +
                                                 text[max(0, d.start - 10):d.start], re.I)]
    if facts.retention and facts.deadlines:
        facts.deadlines = []
    for hit in hits or ():
        if hit.is_value:
            facts.labels.setdefault(hit.category, set()).add(hit.label)
    return facts


def polarity(tokens: list[str]) -> tuple[int, bool]:
    """Negation count and whether the sentence is permissive ("may") — flips are material."""
    text = " ".join(tokens)
    return len(_NEGATION.findall(text)), bool(_PERMISSIVE.search(text))
