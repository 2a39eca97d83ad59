"""The outbox: alerts are rows first and mails second, so none is lost and none goes twice.

* :func:`queue_alert` writes an :class:`~tracker.models.Alert` inside the caller's transaction
  (a check's, or the digest's); its unique ``dedup_key`` makes queuing idempotent.
* :func:`send_due` claims one due row at a time with a compare-and-set update (status
  ``sending`` and a lease in ``next_attempt_at``), sends it, and marks it ``sent`` only after
  the SMTP server accepted it. Two senders never claim the same row; a sender that crashed
  mid-send leaves a lease that expires, and the row is retried.
* A failed send goes back to ``pending`` with exponential backoff capped by
  ``email.retry_max_interval``; the schedule lives in the row, so it survives restarts.

The one unavoidable window (accepted by the server, crash before the row is marked) is covered
by a Message-ID derived from the dedup key, so a receiving system can drop the duplicate.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING

from sqlalchemy import and_, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from ..change_rows import PENDING
from ..models import Alert, Change, Target, Version
from ..store import Store
from .compose import build_message
from .mailer import Mailer, MailError
from .recipients import resolve_recipients
from .timeutil import as_utc, now_utc

if TYPE_CHECKING:
    from ..config import Config

log = logging.getLogger("tracker.alerts")

SENDING = "sending"
SENT = "sent"
FAILED = "failed"  # permanently refused by the server; `tracker alerts` shows why
CANCELLED = "cancelled"  # superseded before it was sent (a broken alert for a recovered target)

#: First retry after this many seconds, doubling each time up to ``email.retry_max_interval``.
BASE_RETRY_DELAY = 30.0


def queue_alert(session: Session, *, kind: str, dedup_key: str, subject: str, text: str,
                html: str, recipients: Sequence[str], target_id: int | None = None,
                change_id: int | None = None, now: datetime | None = None) -> Alert | None:
    """Add an alert to the outbox unless one with this dedup key exists; None if it did."""
    if session.exec(select(Alert.id).where(Alert.dedup_key == dedup_key)).first() is not None:
        return None
    alert = Alert(kind=kind, dedup_key=dedup_key, target_id=target_id, change_id=change_id,
                  subject=subject, recipients_json=json.dumps(list(recipients)),
                  body_text=text, body_html=html, status=PENDING,
                  next_attempt_at=now or now_utc(), created_at=now or now_utc())
    try:
        with session.begin_nested():  # another process may have queued it since we looked
            session.add(alert)
    except IntegrityError:
        return None
    return alert


def retry_delay(attempts: int, max_interval: float, base: float = BASE_RETRY_DELAY) -> float:
    """Seconds before attempt ``attempts + 1``: base, 2x base, 4x base ... capped."""
    exponent = min(max(attempts - 1, 0), 30)
    return min(max_interval, base * (2 ** exponent))


def lease_seconds(config: Config) -> float:
    """How long a claim holds: well beyond one SMTP exchange, so leases expire only on crashes."""
    return max(60.0, config.email.timeout * 4)


def claim_next(store: Store, now: datetime, lease: float, *, force: bool = False,
               exclude: Sequence[int] = ()) -> Alert | None:
    """Claim the next due alert (pending and due, or sending with an expired lease).

    ``force`` ignores the retry schedule of pending alerts (an explicit `tracker alerts
    --send`), never a live lease.
    """
    due_pending = Alert.status == PENDING if force else \
        and_(Alert.status == PENDING, col(Alert.next_attempt_at) <= now)
    stale = and_(Alert.status == SENDING, col(Alert.next_attempt_at) <= now)
    with store.session() as session:
        query = select(Alert).where(or_(due_pending, stale))
        if exclude:
            query = query.where(col(Alert.id).not_in(list(exclude)))
        candidates = session.exec(query.order_by(col(Alert.next_attempt_at), col(Alert.id))
                                  .limit(10)).all()
        for alert in candidates:
            claimed = session.execute(
                update(Alert)
                .where(col(Alert.id) == alert.id, col(Alert.status) == alert.status,
                       col(Alert.attempts) == alert.attempts)
                .values(status=SENDING, attempts=alert.attempts + 1,
                        next_attempt_at=now + timedelta(seconds=lease)))
            if claimed.rowcount == 1:
                session.expire(alert)
                session.refresh(alert)
                return alert
    return None


def mark_sent(store: Store, alert_id: int, now: datetime, note: str | None = None,
              recipients: Sequence[str] | None = None) -> None:
    """Record the send, and to whom it went (an alert queued with no recipients of its own
    goes to those configured when it is sent)."""
    values: dict[str, object] = {"status": SENT, "sent_at": now, "last_error": note}
    if recipients is not None:
        values["recipients_json"] = json.dumps(list(recipients))
    with store.session() as session:
        session.execute(update(Alert).where(col(Alert.id) == alert_id).values(**values))


def mark_retry(store: Store, alert: Alert, error: str, now: datetime,
               max_interval: float) -> datetime:
    when = now + timedelta(seconds=retry_delay(alert.attempts, max_interval))
    with store.session() as session:
        session.execute(update(Alert).where(col(Alert.id) == alert.id)
                        .values(status=PENDING, next_attempt_at=when, last_error=error))
    return when


def mark_failed(store: Store, alert_id: int, error: str) -> None:
    with store.session() as session:
        session.execute(update(Alert).where(col(Alert.id) == alert_id)
                        .values(status=FAILED, last_error=error))


@dataclass
class SendSummary:
    """What one pass over the outbox did (for the daemon's log and `tracker alerts --send`)."""

    sent: list[int] = field(default_factory=list)
    retrying: list[tuple[int, str]] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)


Transport = Callable[[], Mailer]


def send_due(store: Store, config: Config, *, now: Callable[[], datetime] = now_utc,
             force: bool = False, limit: int = 200,
             mailer_factory: Transport | None = None,
             stop: Callable[[], bool] | None = None) -> SendSummary:
    """Send due alerts (blocking: run it in a thread from async code). Needs email configured.

    One SMTP connection is reused across the alerts of a pass and reopened after an error.
    ``stop`` is polled between alerts, so a daemon shutting down waits for one send at most.
    """
    email = config.email
    summary = SendSummary()
    factory = mailer_factory or (lambda: Mailer(email))
    lease = lease_seconds(config)
    mailer: Mailer | None = None
    tried: list[int] = []
    try:
        while len(tried) < limit and not (stop is not None and stop()):
            alert = claim_next(store, now(), lease, force=force, exclude=tried)
            if alert is None:
                break
            assert alert.id is not None
            tried.append(alert.id)
            recipients = _recipients(store, config, alert)
            if not recipients:
                error = "no recipients: set email.recipients (or the target's recipients)"
                mark_retry(store, alert, error, now(), email.retry_max_interval)
                summary.retrying.append((alert.id, error))
                continue
            message = _message(config, ensure_body(store, alert), recipients)
            try:
                if mailer is None:
                    mailer = factory()
                    mailer.open()
                refused = mailer.send(message, recipients)
            except MailError as exc:
                if mailer is not None:
                    mailer.close()
                    mailer = None
                if exc.permanent:
                    mark_failed(store, alert.id, str(exc))
                    summary.failed.append((alert.id, str(exc)))
                else:
                    mark_retry(store, alert, str(exc), now(), email.retry_max_interval)
                    summary.retrying.append((alert.id, str(exc)))
                continue
            note = f"refused by the server: {', '.join(sorted(refused))}" if refused else None
            mark_sent(store, alert.id, now(), note, recipients)
            summary.sent.append(alert.id)
    finally:
        if mailer is not None:
            with suppress(Exception):
                mailer.close()
    return summary


def ensure_body(store: Store, alert: Alert) -> Alert:
    """Compose (once, and keep) the body of a change alert queued with its subject only."""
    if alert.body_text or alert.kind != "change" or alert.change_id is None:
        return alert
    from .compose import ChangeItem, TargetInfo, compose_change, compose_change_brief

    with store.session() as session:
        change = session.get(Change, alert.change_id)
        target = session.get(Target, change.target_id) if change else None
        old = session.get(Version, change.from_version_id) if change else None
        new = session.get(Version, change.to_version_id) if change else None
        if change is None or target is None or old is None or new is None:
            return alert  # nothing to compose from; the subject goes out alone
        item = ChangeItem(TargetInfo(target.id or 0, target.name, target.url), change, old, new)
        try:
            composed = compose_change(item, store.blobs)
        except Exception:  # never let rendering lose the alert
            log.exception("event=compose_failed change=%s", change.id)
            composed = compose_change_brief(item)
        row = session.get(Alert, alert.id)
        if row is not None:
            row.body_text, row.body_html = composed.text, composed.html
    alert.body_text, alert.body_html = composed.text, composed.html
    return alert


def _recipients(store: Store, config: Config, alert: Alert) -> list[str]:
    """The recipients recorded at queue time; re-resolved from config if there were none."""
    recorded = json.loads(alert.recipients_json or "[]")
    if recorded:
        return recorded
    if alert.target_id is None:
        return resolve_recipients(config.email)
    with store.session() as session:
        target = session.get(Target, alert.target_id)
        if target is None:
            return resolve_recipients(config.email)
        return resolve_recipients(config.email, json.loads(target.recipients_json),
                                  json.loads(target.tags_json))


def _message(config: Config, alert: Alert, recipients: Sequence[str]) -> EmailMessage:
    sender = config.email.sender or config.email.username or "policy-tracker@localhost"
    return build_message(subject=alert.subject, text=alert.body_text, html=alert.body_html,
                         sender=sender, recipients=recipients, dedup_key=alert.dedup_key,
                         created_at=alert.created_at)


def alert_dict(alert: Alert, target_name: str | None) -> dict:
    def iso(value: datetime | None) -> str | None:
        value = as_utc(value)
        return value.isoformat(timespec="seconds").replace("+00:00", "Z") if value else None

    return {
        "id": alert.id, "kind": alert.kind, "target": target_name, "status": alert.status,
        "subject": alert.subject, "recipients": json.loads(alert.recipients_json or "[]"),
        "attempts": alert.attempts, "created_at": iso(alert.created_at),
        "next_attempt_at": iso(alert.next_attempt_at) if alert.status in (PENDING, SENDING)
        else None,
        "sent_at": iso(alert.sent_at), "last_error": alert.last_error,
        "dedup_key": alert.dedup_key, "change_id": alert.change_id,
    }


def list_alerts(session: Session, *, pending_only: bool = False, limit: int = 100) -> list[dict]:
    """Newest first; ``pending_only`` keeps what has not gone out yet (pending or sending)."""
    query = select(Alert, Target.name).join(Target, col(Target.id) == col(Alert.target_id),
                                            isouter=True)
    if pending_only:
        query = query.where(col(Alert.status).in_([PENDING, SENDING]))
    rows = session.exec(query.order_by(col(Alert.id).desc()).limit(limit)).all()
    return [alert_dict(alert, name) for alert, name in rows]


def count_unsent(session: Session) -> int:
    from sqlalchemy import func

    return session.exec(select(func.count()).select_from(Alert)
                        .where(col(Alert.status).in_([PENDING, SENDING]))).one()
