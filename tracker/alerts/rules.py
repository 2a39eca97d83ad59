"""Alert rules: what a check's outcome puts in the outbox. Runs inside the check's transaction.

* A material change (``Change.alert_state == "pending"``) is queued at once and its state
  becomes ``queued``. Non-material text changes and date-only bumps (``digest``) wait for the
  digest, or are dropped (state ``none``) when the digest is off. Noise-only, suspect and
  backfilled (``suppressed``) changes never mail.
* Tracking failures are a state machine per target: one "tracking broken" alert when the
  streak reaches ``daemon.failure_threshold`` (``FetchState.broken_alerted`` remembers it),
  nothing while it lasts, one "recovered" alert when a check succeeds again.

Because everything happens in the check's transaction, an alert exists if and only if the
check that caused it was recorded. Composition problems never fail the check: the alert is
then queued with a shorter body built from the stored findings.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from ..change_rows import (  # noqa: F401  (re-exported)
    ALERT_QUEUED,
    change_alert_values,
    settled_alert_state,
)
from ..check import CheckOutcome
from ..history import ALERT_DIGEST, ALERT_NONE, ALERT_PENDING
from ..models import Alert, Change, CheckLog, FetchState, Version
from ..targets import TargetSpec
from .compose import (
    ChangeItem,
    Failure,
    TargetInfo,
    change_subject,
    compose_broken,
    compose_recovered,
)
from .outbox import CANCELLED, PENDING, queue_alert
from .recipients import resolve_recipients
from .timeutil import as_utc, iso_key, now_utc

if TYPE_CHECKING:
    from ..config import Config

log = logging.getLogger("tracker.alerts")

def on_check_outcome(session: Session, config: Config, spec: TargetSpec, state: FetchState,
                     outcome: CheckOutcome, recovered_from: int) -> list[Alert]:
    """Queue whatever alerts this outcome calls for; returns them (new rows only)."""
    queued: list[Alert] = []
    if outcome.failed:
        alert = _maybe_broken(session, config, spec, state)
        return [alert] if alert else []
    if state.broken_alerted or recovered_from:
        alert = _maybe_recovered(session, config, spec, state, recovered_from)
        if alert:
            queued.append(alert)
    if outcome.change_id is not None:
        alert = _change_alert(session, config, spec, outcome.change_id)
        if alert:
            queued.append(alert)
    return queued


def _info(spec: TargetSpec) -> TargetInfo:
    return TargetInfo(spec.id, spec.name, spec.url)


def _recipients(config: Config, spec: TargetSpec) -> list[str]:
    return resolve_recipients(config.email, spec.recipients, spec.tags)


# --- changes -------------------------------------------------------------------------------

def _change_alert(session: Session, config: Config, spec: TargetSpec,
                  change_id: int) -> Alert | None:
    change = session.get(Change, change_id)
    if change is None:
        return None
    if change.alert_state == ALERT_DIGEST and config.daemon.digest == "off":
        change.alert_state = ALERT_NONE  # the digest is off: never mailed
        return None
    if change.alert_state != ALERT_PENDING:
        return None  # digest (later), none, suppressed (backfilled) or already queued
    item = change_item(session, _info(spec), change)
    if item is None:
        return None
    alert = queue_change_alert(session, config, item, _recipients(config, spec))
    change.alert_state = ALERT_QUEUED
    return alert


def queue_change_alert_for(session: Session, config: Config, spec: TargetSpec,
                           change: Change) -> Alert | None:
    """Apply the change rules to a change recorded outside a check (``tracker accept``)."""
    assert change.id is not None
    return _change_alert(session, config, spec, change.id)


def change_item(session: Session, target: TargetInfo, change: Change) -> ChangeItem | None:
    old = session.get(Version, change.from_version_id)
    new = session.get(Version, change.to_version_id)
    if old is None or new is None:
        return None
    return ChangeItem(target, change, old, new)


def queue_change_alert(session: Session, config: Config, item: ChangeItem,
                       recipients: list[str]) -> Alert | None:
    """Queue a change alert with its subject; the body is composed when it is first sent.

    Composing means re-reading and re-aligning both versions for the word diff, which costs as
    much as the check itself; inside a check's transaction it would slow every cycle with
    many changes. :func:`tracker.alerts.outbox.ensure_body` composes it once, at send time.
    """
    subject = change_subject(item.target.name, json.loads(item.change.comparison_json or "{}"))
    return queue_alert(session, kind="change", dedup_key=f"change:{item.change.id}",
                       subject=subject, text="", html="", recipients=recipients,
                       target_id=item.target.id, change_id=item.change.id)


# --- failures ------------------------------------------------------------------------------

def _maybe_broken(session: Session, config: Config, spec: TargetSpec,
                  state: FetchState) -> Alert | None:
    if state.broken_alerted or state.consecutive_failures < config.daemon.failure_threshold:
        return None
    since = as_utc(state.failing_since) or now_utc()
    recent = _recent_failures(session, spec.id, limit=min(state.consecutive_failures, 5))
    composed = compose_broken(_info(spec), state.last_error or "check failed", since,
                              state.consecutive_failures, recent)
    state.broken_alerted = True
    return queue_alert(session, kind="broken", dedup_key=f"broken:{spec.id}:{iso_key(since)}",
                       subject=composed.subject, text=composed.text, html=composed.html,
                       recipients=_recipients(config, spec), target_id=spec.id)


def _recent_failures(session: Session, target_id: int, limit: int) -> list[Failure]:
    rows = session.exec(select(CheckLog).where(
        CheckLog.target_id == target_id, col(CheckLog.result).in_(["failed", "quarantined"]))
        .order_by(col(CheckLog.checked_at).desc(), col(CheckLog.id).desc()).limit(limit)).all()
    return [Failure(as_utc(r.checked_at) or now_utc(), r.result, r.detail) for r in rows]


def _maybe_recovered(session: Session, config: Config, spec: TargetSpec, state: FetchState,
                     recovered_from: int) -> Alert | None:
    """One "recovered" alert, and only if the "broken" one actually went out.

    A broken alert still waiting in the outbox (SMTP down, email not configured) is cancelled
    instead: mailing "broken" and "recovered" together would only be noise.
    """
    if not state.broken_alerted:
        return None
    state.broken_alerted = False
    broken = session.exec(select(Alert).where(Alert.kind == "broken",
                                              Alert.target_id == spec.id)
                          .order_by(col(Alert.id).desc()).limit(1)).first()
    if broken is None:
        return None
    if broken.status == PENDING:
        broken.status = CANCELLED
        broken.last_error = "not sent: tracking recovered first"
        return None
    since_key = broken.dedup_key.removeprefix(f"broken:{spec.id}:")
    since = _parse_key(since_key) or as_utc(broken.created_at)
    now = now_utc()
    composed = compose_recovered(_info(spec), since, recovered_from, now)
    return queue_alert(session, kind="recovered",
                       dedup_key=f"recovered:{spec.id}:{since_key}",
                       subject=composed.subject, text=composed.text, html=composed.html,
                       recipients=_recipients(config, spec), target_id=spec.id)


def _parse_key(value: str) -> datetime | None:
    try:
        return as_utc(datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return None
