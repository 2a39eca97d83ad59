"""Targets: the pages being watched, from config.toml and from `tracker add`.

config.toml is the source of truth for the targets it lists (they are synced into the database
on every run, origin ``config``); `tracker add` stores others in the database (origin ``cli``).
Either way the rest of the program sees one table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import Session, select

from . import target_sync
from .direct import Direct
from .direct import enabled_targets as direct_enabled_targets
from .models import FetchState, Target
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

if TYPE_CHECKING:
    from .config import Config, TargetConfig


def _columns(spec: TargetConfig) -> dict[str, object]:
    """The Target columns config.toml decides, as stored."""
    return dict(zip(SYNCED, synced_values(spec), strict=True))


def _apply(row: Target, spec: TargetConfig) -> None:
    for name, value in _columns(spec).items():
        setattr(row, name, value)


def sync_config_targets(session: Session, config: Config) -> None:
    """:func:`tracker.target_sync.sync_config_targets` inside an ORM session's transaction
    (call it first: Target objects the session already holds would not see its writes)."""
    target_sync.sync_config_targets(Direct.of_session(session), config)


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
