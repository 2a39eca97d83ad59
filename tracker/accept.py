"""Accept a quarantined capture as a version, once a person has looked at it.

The quality gate keeps broken pages out of the history, and it has to guess: a policy that
really was cut to a third of its length looks like a page that failed to render, and every
check after that is quarantined against the long version again. Tracking then stays "broken"
while the new policy is never recorded. ``tracker accept`` is the way out: it reads the
quarantined capture again from its stored raw bytes (with the target's current selectors),
shows what it would record, and records it as any other version, change alert included.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from .analysis import compare_texts, read_capture
from .compare.extractors.dates import extract_effective_date
from .history import latest_version, record_version
from .models import Snapshot, Version
from .normalize import NORMALIZER_VERSION
from .store import Store
from .targets import TargetError, TargetSpec, get_target

if TYPE_CHECKING:
    from .config import Config


@dataclass(frozen=True)
class Accepted:
    """What accepting a capture did (or, for a preview, would do)."""

    snapshot_id: int
    captured_at: str
    reason: str | None  # why it had been quarantined
    words: int
    previous_words: int | None
    version_id: int | None = None  # None for a preview, or when the text was already recorded
    summary: str | None = None  # the change's summary against the version before it
    text: str = ""  # the normalized text it records (a preview prints it, to be checked)


def accept_capture(config: Config, store: Store, name: str, snapshot_id: int | None = None,
                   preview: bool = False) -> Accepted:
    """Record the target's newest quarantined capture (or ``snapshot_id``) as a version."""
    with store.session() as session:
        spec = TargetSpec.of(get_target(session, name))
        snapshot = _quarantined(session, spec, snapshot_id)
        assert snapshot.id is not None
        document = read_capture(store.blobs, snapshot, spec.select, spec.remove)
        if not document.blocks:
            raise TargetError(f"capture #{snapshot.id} of {name} has no text under the "
                              "target's selectors: nothing to accept")
        text = document.to_text()
        before = latest_version(session, spec.id, snapshot.captured_at)
        comparison = None
        if before is not None:
            comparison = compare_texts(store.blobs.get_text(before.text_sha256), text,
                                       confirmed=True)
        accepted = Accepted(snapshot.id, f"{snapshot.captured_at:%Y-%m-%d %H:%M}",
                            snapshot.quality_reason, document.word_count(),
                            before.words if before else None,
                            summary=_summary(comparison) if comparison else None, text=text)
        if preview:
            return accepted
        encoded = text.encode("utf-8")
        text_sha = store.blobs.put(encoded)
        snapshot.quality = "ok"
        snapshot.quality_reason = f"accepted by hand; quarantined for: {snapshot.quality_reason}"
        version, change = record_version(
            session, store.blobs, snapshot, text_sha, accepted.words, len(encoded),
            extract_effective_date(document), NORMALIZER_VERSION, comparison)
        if change is not None:
            from .alerts.rules import queue_change_alert_for

            queue_change_alert_for(session, config, spec, change)
        return replace(accepted, version_id=version.id if version else None)


def _summary(comparison: dict) -> str:
    from .compare.semantic import Comparison

    return Comparison.from_json_dict(comparison).summary()


def _quarantined(session: Session, spec: TargetSpec, snapshot_id: int | None) -> Snapshot:
    """The capture to accept: ``snapshot_id``, else the newest quarantined one."""
    query = select(Snapshot).where(Snapshot.target_id == spec.id)
    if snapshot_id is not None:
        snapshot = session.exec(query.where(Snapshot.id == snapshot_id)).first()
        if snapshot is None:
            raise TargetError(f"{spec.name} has no capture #{snapshot_id}")
        if snapshot.quality != "suspect":
            raise TargetError(f"capture #{snapshot_id} of {spec.name} is not quarantined")
    else:
        query = query.where(Snapshot.quality == "suspect")
        latest = latest_version(session, spec.id)
        if latest is not None:  # older ones were followed by a good capture: name them
            query = query.where(Snapshot.captured_at > latest.captured_at)
        snapshot = session.exec(query.order_by(col(Snapshot.captured_at).desc(),
                                               col(Snapshot.id).desc()).limit(1)).first()
        if snapshot is None:
            raise TargetError(f"{spec.name} has no quarantined capture since its latest "
                              "version (an older one: --capture ID)")
    if session.exec(select(Version.id).where(Version.snapshot_id == snapshot.id)).first():
        raise TargetError(f"capture #{snapshot.id} of {spec.name} is already a version")
    if snapshot.status is None or not 200 <= snapshot.status < 300:
        raise TargetError(f"capture #{snapshot.id} of {spec.name} was an HTTP "
                          f"{snapshot.status} answer, not a page: it cannot be a version")
    return snapshot

