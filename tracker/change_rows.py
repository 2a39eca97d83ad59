"""The rows a new change writes, as plain values: its columns, its alert state, its alert.

Shared by the ORM paths (:mod:`tracker.history`, :mod:`tracker.alerts.rules`) and the
plain-SQL bulk recording of a check cycle (:mod:`tracker.record_bulk`), which must not load
SQLAlchemy, so nothing here does.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING

from .alerts.recipients import resolve_recipients
from .compare.findings import text_edits

if TYPE_CHECKING:
    from .config import Config
    from .target_spec import TargetSpec

ALERT_NONE = "none"
ALERT_PENDING = "pending"  # material: mail at once
ALERT_DIGEST = "digest"  # non-material text change or date-only bump: goes in the digest
ALERT_SUPPRESSED = "suppressed"  # backfilled or re-derived: never mailed
ALERT_QUEUED = "queued"  # Change.alert_state once its alert (or digest) is in the outbox
PENDING = "pending"  # Alert.status of an alert waiting to be sent


def alert_state_for(comparison: dict, alerts: bool) -> str:
    if not alerts:
        return ALERT_SUPPRESSED
    if comparison.get("suspect"):
        return ALERT_NONE  # reported as a quarantined capture, not as a policy change
    if comparison.get("material"):
        return ALERT_PENDING
    if comparison.get("noise_only") and not text_edits(comparison):
        return ALERT_NONE  # moved or reworded only: nothing a reader needs to hear about
    return ALERT_DIGEST


def after_settings_change(summary: str) -> str:
    """A change's summary when the target's URL or selectors changed since the last version."""
    return f"after a change of the target's URL or selectors (not alerted): {summary}"


def change_values(target_id: int, from_version_id: int, to_version_id: int, comparison: dict,
                  source: str, alert_state: str, created_at: datetime | None = None) -> dict:
    """The column values of a change row (shared by the ORM path and bulk inserts)."""
    from .compare.semantic import Comparison

    values = {
        "target_id": target_id, "from_version_id": from_version_id,
        "to_version_id": to_version_id, "material": bool(comparison.get("material")),
        "noise_only": bool(comparison.get("noise_only")),
        "suspect": bool(comparison.get("suspect")), "severity": _severity(comparison),
        "categories_json": json.dumps(comparison.get("categories", [])),
        "summary": Comparison.from_json_dict(comparison).summary(),
        "comparison_json": json.dumps(comparison), "source": source, "alert_state": alert_state,
    }
    if created_at is not None:
        values["created_at"] = created_at
    return values


_SEVERITY_ORDER = ["info", "low", "medium", "high"]


def _severity(comparison: dict) -> str:
    levels = [f.get("severity", "info") for f in comparison.get("findings", [])]
    levels = [lv for lv in levels if lv in _SEVERITY_ORDER]
    return max(levels, key=_SEVERITY_ORDER.index) if levels else "info"


def material_categories(comparison: dict) -> list[str]:
    return [c for c in comparison.get("categories", []) if c != "effective_date"]


def change_subject(name: str, comparison: dict) -> str:
    """``[policy change] acme-privacy: retention, sharing`` (names the material categories)."""
    categories = material_categories(comparison)
    if comparison.get("material") and categories:
        return f"[policy change] {name}: {', '.join(categories)}"
    if comparison.get("material"):
        return f"[policy change] {name}"
    if comparison.get("categories") == ["effective_date"]:
        return f"[policy update] {name}: effective date changed"
    return f"[policy update] {name}: text changed"


def settled_alert_state(config: Config, alert_state: str) -> str:
    """A new change's alert state once these rules ran (for bulk recording).

    Mirrors :func:`_change_alert`: a material change gets its alert queued, a digest change
    is dropped when the digest is off, anything else stays as it is.
    """
    if alert_state == ALERT_DIGEST and config.daemon.digest == "off":
        return ALERT_NONE
    if alert_state == ALERT_PENDING:
        return ALERT_QUEUED
    return alert_state


def change_alert_values(config: Config, spec: TargetSpec, change_id: int, comparison: dict,
                        now: datetime) -> dict:
    """The outbox row :func:`queue_change_alert` would add for a brand-new change."""
    recipients = resolve_recipients(config.email, spec.recipients, spec.tags)
    return {"kind": "change", "dedup_key": f"change:{change_id}", "target_id": spec.id,
            "change_id": change_id, "subject": change_subject(spec.name, comparison),
            "recipients_json": json.dumps(list(recipients)), "body_text": "",
            "body_html": "", "status": PENDING, "attempts": 0, "next_attempt_at": now,
            "last_error": None, "created_at": now, "sent_at": None}
