"""The result types of a semantic comparison and their JSON form (see docs/TAXONOMY.md).

Kept apart from the comparison logic so storage, alerts and the CLI can read stored results
(``Comparison.from_json_dict``) without importing the extractors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

ADDED = "added"
REMOVED = "removed"
CHANGED = "changed"
MOVED = "moved"
REWORDED = "reworded"
CHANGE_KINDS = (ADDED, REMOVED, CHANGED, MOVED, REWORDED)

#: Findings that mean text was written or deleted, not only moved or reworded: a change
#: whose findings are all of these kinds, none material, still goes to the digest.
TEXT_EDITS = (ADDED, REMOVED, CHANGED)


def text_edits(comparison: dict[str, Any]) -> int:
    """How many passages a stored comparison says were added, removed or changed."""
    return sum(1 for f in comparison.get("findings") or () if f.get("change") in TEXT_EDITS)


HIGH = "high"
MEDIUM = "medium"
LOW = "low"
INFO = "info"
SEVERITIES = (HIGH, MEDIUM, LOW, INFO)
_RANK = {HIGH: 3, MEDIUM: 2, LOW: 1, INFO: 0}


@dataclass(slots=True)
class Finding:
    """One change of meaning (or a note) with its evidence and old/new typed values."""

    category: str
    change: str  # added | removed | changed | moved | reworded
    severity: str  # high | medium | low | info
    old: object = None
    new: object = None
    old_text: str | None = None
    new_text: str | None = None
    section: str = ""

    @property
    def is_material(self) -> bool:
        """A finding that alone makes the change material (see TAXONOMY.md)."""
        return (self.category != "effective_date" and self.severity != INFO
                and self.change in (ADDED, REMOVED, CHANGED))

    def to_json_dict(self) -> dict[str, Any]:
        return {"category": self.category, "change": self.change, "severity": self.severity,
                "old": self.old, "new": self.new, "old_text": self.old_text,
                "new_text": self.new_text, "section": self.section}

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(data["category"], data["change"], data["severity"], data.get("old"),
                   data.get("new"), data.get("old_text"), data.get("new_text"),
                   data.get("section") or "")


@dataclass(slots=True)
class Comparison:
    """Everything the comparison of two versions found, ready to store as JSON."""

    material: bool
    noise_only: bool
    categories: list[str]
    effective_date: dict | None
    findings: list[Finding] = field(default_factory=list)
    suspect: bool = False
    suspect_reason: str | None = None

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "material": self.material,
            "noise_only": self.noise_only,
            "categories": list(self.categories),
            "effective_date": dict(self.effective_date) if self.effective_date else None,
            "findings": [f.to_json_dict() for f in self.findings],
            "suspect": self.suspect,
            "suspect_reason": self.suspect_reason,
        }

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> Comparison:
        return cls(
            material=bool(data.get("material")),
            noise_only=bool(data.get("noise_only")),
            categories=list(data.get("categories") or []),
            effective_date=data.get("effective_date"),
            findings=[Finding.from_json_dict(f) for f in data.get("findings") or []],
            suspect=bool(data.get("suspect", False)),
            suspect_reason=data.get("suspect_reason"),
        )

    def summary(self) -> str:
        """One line for a history table: what kind of change this was, most important first."""
        if self.suspect:
            return f"suspect capture: {self.suspect_reason or 'new version looks broken'}"
        date = ""
        if self.effective_date:
            date = (f"effective date {self.effective_date.get('old') or '?'} \u2192 "
                    f"{self.effective_date.get('new') or '?'}")
        if self.material:
            parts: list[str] = []
            for category in self.categories:
                if category == "effective_date":
                    continue
                parts.append(_category_summary(category, self.findings))
            text = "material: " + "; ".join(parts)
            return text + (f" ({date})" if date else "")
        if date:
            return date + " only"
        edits = sum(1 for f in self.findings if f.change in TEXT_EDITS)
        if edits:
            return f"minor edit, not material: {edits} passage{'s' if edits > 1 else ''} " \
                   "added, removed or changed"
        if self.noise_only:
            return "noise only"
        return "no change"


def _category_summary(category: str, findings: list[Finding]) -> str:
    """"retention 1 year→2 years" when one typed value changed, else just the category name."""
    relevant = [f for f in findings if f.category == category and f.is_material]
    relevant.sort(key=lambda f: -_RANK[f.severity])
    for f in relevant:
        if f.change == CHANGED and _scalar(f.old) and _scalar(f.new):
            # The others of the category are counted: a new "5 years" beside "18 months→6
            # months" must not vanish from the one line people read.
            more = f" (+{len(relevant) - 1} more)" if len(relevant) > 1 else ""
            return f"{category} {readable(f.old)}\u2192{readable(f.new)}{more}"
    return category


_ISO_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$")
_UNITS = ("year", "month", "week", "day")


def readable(value: object) -> str:
    """A value for people: ISO durations in words ("P18M" -> "18 months"), the rest as is.

    The JSON keeps the ISO form (the contract, and what scripts compare); summaries and mail
    are read by people who should not have to decode P18M.
    """
    text = str(value)
    match = _ISO_DURATION.match(text) if text.startswith("P") and len(text) > 1 else None
    if match is None:
        return text
    parts = [f"{int(n)} {unit}{'' if int(n) == 1 else 's'}"
             for n, unit in zip(match.groups(), _UNITS, strict=True) if n is not None]
    return " ".join(parts) if parts else text


def _scalar(value: object) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)
