"""Make the database agree with config.toml's [[targets]], in plain SQL.

Every CLI command, cron job and daemon start does this; usually nothing changed, and then
it costs two reads and no SQLAlchemy. A target that disappears from config.toml is disabled,
not dropped: its versions stay browsable and it comes back with its history if it is listed
again. The list is handled a chunk at a time, so a config of 100,000 targets never holds a
second copy of itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .direct import CHUNK, Direct, insert_rows, marks
from .fingerprint import SETTINGS_CHANGED
from .target_spec import SYNCED, json_list, synced_values

if TYPE_CHECKING:
    from .config import Config, TargetConfig


def sync_config_targets(db: Direct, config: Config) -> None:
    """Write what differs: new targets, edited ones, and those no longer listed (disabled).

    Call inside a write transaction.
    """
    for stale in stale_config_targets(db, config):
        _write_stale(db, stale)
    dropped = dropped_config_targets(db, config)
    for start in range(0, len(dropped), CHUNK):
        names = dropped[start:start + CHUNK]
        db.execute(f"UPDATE targets SET enabled = ? WHERE name IN ({marks(len(names))})",
                   [False, *names])


def stale_config_targets(db: Direct, config: Config) -> Iterator[list[TargetConfig]]:
    """config.toml's targets whose stored rows differ (or are missing), a chunk at a time.

    A chunk at a time so that a config of 100,000 targets never holds a second copy of itself;
    most runs of a daemon or cron job find nothing stale.
    """
    targets = config.targets
    columns = ", ".join(("name", "origin", *SYNCED))
    for start in range(0, len(targets), CHUNK):
        chunk = targets[start:start + CHUNK]
        stored = {row[0]: row for row in db.rows(
            f"SELECT {columns} FROM targets WHERE name IN ({marks(len(chunk))})",
            [spec.name for spec in chunk])}
        stale = [spec for spec in chunk if _differs(stored.get(spec.name), spec)]
        if stale:
            yield stale


def _differs(row: tuple | None, spec: TargetConfig) -> bool:
    """Whether the stored ``row`` (name, origin, then :data:`SYNCED`) needs ``spec`` written."""
    return row is None or row[1] != "config" or tuple(row[2:]) != synced_values(spec)


def dropped_config_targets(db: Direct, config: Config) -> list[str]:
    """Enabled targets that came from config.toml and are no longer listed there."""
    listed = {spec.name for spec in config.targets}
    return [row[0] for row in db.rows(
        "SELECT name FROM targets WHERE origin = 'config' AND enabled")
        if row[0] not in listed]


def config_targets_in_sync(db: Direct, config: Config) -> bool:
    """Whether the database already agrees with config.toml's [[targets]]."""
    return next(stale_config_targets(db, config), None) is None \
        and not dropped_config_targets(db, config)


def _write_stale(db: Direct, stale: list[TargetConfig]) -> None:
    """Update the stored rows of ``stale`` targets and insert the new ones in bulk."""
    stored = {row[1]: row for row in db.rows(
        "SELECT id, name, url, select_json, remove_json FROM targets "
        f"WHERE name IN ({marks(len(stale))})", [spec.name for spec in stale])}
    now = datetime.now(UTC)
    new: list[dict[str, object]] = []
    edited: list[tuple[object, ...]] = []
    reread: list[int] = []
    for spec in stale:
        values = synced_values(spec)
        row = stored.get(spec.name)
        if row is None:  # a first run of a big config.toml adds many at once
            new.append({"name": spec.name, "origin": "config", "created_at": now,
                        **dict(zip(SYNCED, values, strict=True))})
            continue
        if tuple(row[2:]) != (spec.url, json_list(spec.select), json_list(spec.remove)):
            reread.append(row[0])  # another URL, or other parts of the page
        edited.append((*values, row[0]))
    insert_rows(db, "targets", new)
    db.execute_many(f"UPDATE targets SET {', '.join(f'{c} = ?' for c in SYNCED)}, "
                    "origin = 'config' WHERE id = ?", edited)
    forget_validators(db, reread)


def forget_validators(db: Direct, target_ids: list[int]) -> None:
    """Make the next check of these targets fetch and read their page in full.

    After a target's URL or selectors change, its stored ETag would have the server answer
    "304 Not Modified" and the new selectors would not apply until the page itself changed.
    The fingerprint is replaced by :data:`SETTINGS_CHANGED`, so that check also knows a new
    text may come from the edit: it records it without alerting anyone.
    """
    for start in range(0, len(target_ids), CHUNK):
        ids = target_ids[start:start + CHUNK]
        db.execute("UPDATE fetch_state SET etag = NULL, last_modified = NULL, "
                   f"last_fingerprint = ? WHERE target_id IN ({marks(len(ids))})",
                   [SETTINGS_CHANGED, *ids])
