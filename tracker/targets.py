"""Targets: the pages being watched, from config.toml and from `tracker add`.

config.toml is the source of truth for the targets it lists (they are synced into the database
on every run, origin ``config``); `tracker add` stores others in the database (origin ``cli``).
Either way the rest of the program sees one table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlmodel import Session, select

from .config import Config, TargetConfig
from .models import FetchState, Target


class TargetError(Exception):
    """A user-facing problem with a target name (unknown, duplicate, managed by config)."""


@dataclass(frozen=True)
class TargetSpec:
    """A target as the pipeline needs it (plain data, safe to pass to worker processes)."""

    id: int
    name: str
    url: str
    select: tuple[str, ...]
    remove: tuple[str, ...]
    source: str
    schedule: str | None
    tags: tuple[str, ...]
    recipients: tuple[str, ...]
    enabled: bool

    @classmethod
    def of(cls, row: Target) -> TargetSpec:
        assert row.id is not None
        return cls(row.id, row.name, row.url, tuple(json.loads(row.select_json)),
                   tuple(json.loads(row.remove_json)), row.source, row.schedule,
                   tuple(json.loads(row.tags_json)), tuple(json.loads(row.recipients_json)),
                   row.enabled)


def _apply(row: Target, spec: TargetConfig) -> None:
    row.url = spec.url
    row.select_json = json.dumps(spec.select)
    row.remove_json = json.dumps(spec.remove)
    row.schedule = spec.schedule
    row.tags_json = json.dumps(spec.tags)
    row.recipients_json = json.dumps(spec.recipients)
    row.source = spec.source
    row.enabled = spec.enabled


def sync_config_targets(session: Session, config: Config) -> None:
    """Make the database agree with config.toml's [[targets]] (history is never deleted).

    A target that disappears from config.toml is disabled, not dropped: its versions stay
    browsable and it comes back with its history if it is listed again.
    """
    rows = {row.name: row for row in session.exec(select(Target))}
    listed = set()
    for spec in config.targets:
        listed.add(spec.name)
        row = rows.get(spec.name)
        if row is None:
            row = Target(name=spec.name, url=spec.url, origin="config")
            session.add(row)
        _apply(row, spec)  # unchanged values leave the row clean: no write happens
        row.origin = "config"
    for name, row in rows.items():
        if row.origin == "config" and name not in listed and row.enabled:
            row.enabled = False
    session.flush()


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
    rows = session.exec(select(Target).where(Target.enabled).order_by(Target.name))
    return [TargetSpec.of(row) for row in rows]


def fetch_state(session: Session, target_id: int) -> FetchState:
    state = session.get(FetchState, target_id)
    if state is None:
        state = FetchState(target_id=target_id)
        session.add(state)
    return state
