"""Targets: the pages being watched, from config.toml and from `tracker add`.

config.toml is the source of truth for the targets it lists (they are synced into the database
on every run, origin ``config``); `tracker add` stores others in the database (origin ``cli``).
Either way the rest of the program sees one table.
"""

from __future__ import annotations

from sqlalchemy import insert, update
from sqlmodel import Session, col, select

from .config import Config, TargetConfig
from .direct import Direct, dropped_config_targets, stale_config_targets
from .direct import enabled_targets as direct_enabled_targets
from .fingerprint import SETTINGS_CHANGED
from .models import FetchState, Target, utcnow
from .target_spec import (  # noqa: F401  (re-exported: the names most callers know)
    DEFAULT_PORTS,
    SYNCED,
    TargetError,
    TargetSpec,
    interleave_hosts,
    json_list,
    politeness_key,
    synced_values,
)


def _columns(spec: TargetConfig) -> dict[str, object]:
    """The Target columns config.toml decides, as stored."""
    return dict(zip(SYNCED, synced_values(spec), strict=True))


def _apply(row: Target, spec: TargetConfig) -> None:
    for name, value in _columns(spec).items():
        setattr(row, name, value)


#: Config targets compared and written per step of :func:`sync_config_targets` (and the IN
#: list of each query: SQLite caps the parameters of one statement).
_SYNC_CHUNK = 500


def sync_config_targets(session: Session, config: Config) -> None:
    """Make the database agree with config.toml's [[targets]] (history is never deleted).

    A target that disappears from config.toml is disabled, not dropped: its versions stay
    browsable and it comes back with its history if it is listed again. Rows are compared as
    plain tuples first (:mod:`tracker.direct`) and loaded as ORM objects only when they need a
    write: a daemon or cron job starts with this on every run, and usually nothing changed.
    """
    db = Direct.of_session(session)
    for stale in stale_config_targets(db, config):
        _write_stale(session, stale)
    dropped = dropped_config_targets(db, config)
    for start in range(0, len(dropped), _SYNC_CHUNK):
        for row in session.exec(select(Target).where(
                col(Target.name).in_(dropped[start:start + _SYNC_CHUNK]))):
            row.enabled = False
    session.flush()


def _write_stale(session: Session, stale: list[TargetConfig]) -> None:
    """Update the stored rows of ``stale`` targets and insert the new ones in bulk."""
    rows = {row.name: row for row in session.exec(
        select(Target).where(col(Target.name).in_([spec.name for spec in stale])))}
    new: list[dict[str, object]] = []
    reread: list[int] = []
    for spec in stale:
        row = rows.get(spec.name)
        if row is None:  # a first run of a big config.toml adds many at once
            new.append({"name": spec.name, "origin": "config", "created_at": utcnow(),
                        **_columns(spec)})
            continue
        if _reads_differently(row, spec) and row.id is not None:
            reread.append(row.id)
        _apply(row, spec)
        row.origin = "config"
    if new:
        session.execute(insert(Target), new)
    if reread:
        forget_validators(session, reread)
    session.flush()  # edited rows leave the session's keeping: a chunk's worth at a time


def _reads_differently(row: Target, spec: TargetConfig) -> bool:
    """Whether ``spec`` fetches another URL or picks other parts of the page than ``row``."""
    return (row.url != spec.url or row.select_json != json_list(spec.select)
            or row.remove_json != json_list(spec.remove))


def forget_validators(session: Session, target_ids: list[int]) -> None:
    """Make the next check of these targets fetch and read their page in full.

    After a target's URL or selectors change, its stored ETag would have the server answer
    "304 Not Modified" and the new selectors would not apply until the page itself changed.
    The fingerprint is replaced by :data:`SETTINGS_CHANGED`, so that check also knows a new
    text may come from the edit: it records it without alerting anyone.
    """
    session.execute(update(FetchState).where(col(FetchState.target_id).in_(target_ids))
                    .values(etag=None, last_modified=None, last_fingerprint=SETTINGS_CHANGED))


def add_target(session: Session, spec: TargetConfig) -> Target:
    existing = session.exec(select(Target).where(Target.name == spec.name)).first()
    if existing is not None:
        raise TargetError(f"target {spec.name!r} already exists ({existing.url})")
    row = Target(name=spec.name, url=spec.url, origin="cli")
    _apply(row, spec)
    session.add(row)
    session.flush()
    return row


def remove_target(session: Session, name: str) -> None:
    row = get_target(session, name)
    if row.origin == "config":
        raise TargetError(f"target {name!r} is defined in config.toml; remove it there")
    row.enabled = False
    row.name = f"{row.name}~removed~{row.id}"  # frees the name; history stays for export


def get_target(session: Session, name: str) -> Target:
    row = session.exec(select(Target).where(Target.name == name)).first()
    if row is None:
        known = [t.name for t in session.exec(select(Target).where(Target.enabled))]
        hint = f"; known targets: {', '.join(sorted(known)[:10])}" if known else \
            "; no targets yet (tracker add NAME URL)"
        raise TargetError(f"unknown target {name!r}{hint}")
    return row


def enabled_targets(session: Session) -> list[TargetSpec]:
    """Every enabled target by name."""
    return direct_enabled_targets(Direct.of_session(session))


def fetch_state(session: Session, target_id: int) -> FetchState:
    state = session.get(FetchState, target_id)
    if state is None:
        state = FetchState(target_id=target_id)
        session.add(state)
    return state
