"""The digest: non-material changes (rewordings, date-only bumps) batched into periodic mails.

Each recipient receives the changes of the targets they follow, so recipients are grouped by
the exact set of changes they should see and each group gets one mail (nobody sees another
team's targets, and nobody gets two mails). The changes go to ``queued`` in the same
transaction as the alerts, so a change is in exactly one digest even if the job runs twice.
"""

from __future__ import annotations

import json
from datetime import datetime
from hashlib import sha256
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from ..blobs import BlobStore
from ..history import ALERT_DIGEST
from ..models import Alert, Change, Target
from .compose import ChangeItem, TargetInfo, compose_digest
from .outbox import queue_alert
from .recipients import resolve_recipients
from .rules import ALERT_QUEUED, change_item
from .timeutil import iso_key, now_utc

if TYPE_CHECKING:
    from ..config import Config


def pending_digest_changes(session: Session) -> list[tuple[Change, Target]]:
    return list(session.exec(
        select(Change, Target).join(Target, col(Target.id) == col(Change.target_id))
        .where(Change.alert_state == ALERT_DIGEST).order_by(col(Change.id))).all())


def waiting_for_digest(session: Session) -> int:
    """How many changes the next digest would carry (counted, not loaded)."""
    from sqlalchemy import func

    return session.exec(select(func.count()).select_from(Change)
                        .where(Change.alert_state == ALERT_DIGEST)).one()


def queue_digest(session: Session, config: Config, now: datetime | None = None) -> list[Alert]:
    """Put every change waiting for the digest into digest alerts; returns the new alerts."""
    now = now or now_utc()
    rows = pending_digest_changes(session)
    if not rows:
        return []
    items: dict[int, ChangeItem] = {}
    audience: dict[str, tuple[str, set[int]]] = {}  # lowercased address -> (address, changes)
    unaddressed: set[int] = set()
    for change, target in rows:
        assert change.id is not None and target.id is not None
        item = change_item(session, TargetInfo(target.id, target.name, target.url), change)
        change.alert_state = ALERT_QUEUED
        if item is None:
            continue
        items[change.id] = item
        recipients = resolve_recipients(config.email, json.loads(target.recipients_json),
                                        json.loads(target.tags_json))
        if not recipients:
            unaddressed.add(change.id)
        for address in recipients:
            _, ids = audience.setdefault(address.lower(), (address, set()))
            ids.add(change.id)
    groups: dict[tuple[int, ...], list[str]] = {}
    for address, ids in audience.values():
        groups.setdefault(tuple(sorted(ids)), []).append(address)
    if unaddressed:  # recorded anyway: `tracker alerts` shows it, it goes once recipients exist
        groups.setdefault(tuple(sorted(unaddressed)), [])
    period = iso_key(now)
    blobs = BlobStore(config.snapshots_dir)
    queued: list[Alert] = []
    for ids, recipients in sorted(groups.items()):
        composed = compose_digest([items[i] for i in ids], blobs, f"until {period}")
        token = sha256((",".join(map(str, ids)) + "|" + ",".join(sorted(recipients)))
                       .encode("utf-8")).hexdigest()[:12]
        alert = queue_alert(session, kind="digest", dedup_key=f"digest:{period}:{token}",
                            subject=composed.subject, text=composed.text, html=composed.html,
                            recipients=recipients, now=now)
        if alert is not None:
            queued.append(alert)
    return queued
