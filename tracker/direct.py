"""The check cycle's hot statements as plain SQL on a DB-API connection, without SQLAlchemy.

A cycle of unchanged pages reads each target's previous state and writes two small updates
per page; through SQLAlchemy that cost a third of a second of imports before the first fetch,
a third of the whole cycle. These statements are the same for SQLite and PostgreSQL (only the
placeholder style and datetime binding differ), so there is one implementation, shared by the
ORM code paths that need the same statements (through :meth:`Direct.of_session`).

Datetimes are stored in SQLite the way SQLAlchemy stores them (naive UTC,
``YYYY-MM-DD HH:MM:SS.ffffff``), so rows written here read back through the ORM unchanged.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .target_spec import SPEC_COLUMNS, TargetSpec, stored_strings

if TYPE_CHECKING:
    from sqlmodel import Session

    from .store import Store

#: Ids or names per IN list: SQLite caps the parameters of one statement.
CHUNK = 500


class Direct:
    """A DB-API connection and the dialect details plain statements need.

    Statements are written with ``?`` placeholders; PostgreSQL's drivers get ``%s`` (so a
    statement must hold no literal ``?`` or ``%``: values go in as parameters).
    """

    def __init__(self, connection: Any, owned: bool = True) -> None:
        self.connection = connection
        # A pool's wrapper (an in-memory SQLite database goes through the engine) says what
        # it wraps in driver_connection.
        self.sqlite = isinstance(getattr(connection, "driver_connection", connection),
                                 sqlite3.Connection)
        self._owned = owned  # False: borrowed from an ORM session, which ends its transaction

    @classmethod
    def of_session(cls, session: Session) -> Direct:
        """The DB-API connection under an ORM session, inside the session's transaction."""
        return cls(session.connection().connection.driver_connection, owned=False)

    def sql(self, statement: str) -> str:
        return statement if self.sqlite else statement.replace("?", "%s")

    def stamp(self, moment: datetime) -> object:
        """A datetime as a bind value, stored as SQLAlchemy's DateTime would store it."""
        if not self.sqlite:
            return moment
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC)
        return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d} {moment.hour:02d}:"
                f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond:06d}")

    def rows(self, statement: str, params: Sequence[object] = ()) -> list[tuple]:
        cursor = self.connection.cursor()
        try:
            cursor.execute(self.sql(statement), tuple(params))
            return cursor.fetchall()
        finally:
            cursor.close()

    def execute(self, statement: str, params: Sequence[object] = ()) -> None:
        cursor = self.connection.cursor()
        try:
            cursor.execute(self.sql(statement), tuple(params))
        finally:
            cursor.close()

    def execute_many(self, statement: str, rows: Sequence[Sequence[object]]) -> None:
        if not rows:
            return
        cursor = self.connection.cursor()
        try:
            cursor.executemany(self.sql(statement), rows)
        finally:
            cursor.close()

    @contextmanager
    def transaction(self, write: bool) -> Iterator[Direct]:
        """One transaction; a SQLite writer takes the write lock up front (see tracker.store).

        A reader's transaction gives its statements one consistent view, without a lock.
        """
        if not self._owned:
            yield self
            return
        if self.sqlite:
            self.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield self
        except BaseException:
            self.connection.rollback()
            raise
        self.connection.commit()

    def close(self) -> None:
        if self._owned:
            self.connection.close()


@contextmanager
def connection(store: Store) -> Iterator[Direct]:
    """A plain connection to ``store``'s database, closed at the end of the block."""
    direct = Direct(store.connect())
    try:
        yield direct
    finally:
        direct.close()


def marks(count: int) -> str:
    return ", ".join("?" * count)


#: Bind parameters per multi-row INSERT (SQLite allows 32,766 since 3.32; PostgreSQL more).
_MAX_PARAMS = 30_000


def insert_rows(db: Direct, table: str, rows: list[dict], key: str | None = None) -> list[int]:
    """Multi-row INSERTs returning the new ids in the order of ``rows`` (none without a key).

    SQLite returns RETURNING rows in no promised order, so each row is told apart by its
    ``key`` column instead (a target, snapshot or version id, unique within a batch); rows
    the key cannot tell apart go one statement each. Datetimes are bound as the ORM stores
    them.
    """
    if not rows:
        return []
    columns = list(rows[0])
    values = [tuple(db.stamp(v) if isinstance(v, datetime) else v for v in row.values())
              for row in rows]
    statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
    one = f"({marks(len(columns))})"
    if key is None:
        db.execute_many(statement + one, values)
        return []
    keys = [row[key] for row in rows]
    if len(set(keys)) < len(keys):
        return [db.rows(statement + one + " RETURNING id", row)[0][0] for row in values]
    ids: dict[object, int] = {}
    per_statement = max(1, _MAX_PARAMS // len(columns))
    for start in range(0, len(values), per_statement):
        part = values[start:start + per_statement]
        returned = db.rows(statement + ", ".join([one] * len(part)) + f" RETURNING id, {key}",
                           [value for row in part for value in row])
        ids.update((row_key, row_id) for row_id, row_key in returned)
    return [ids[k] for k in keys]


def enabled_targets(db: Direct) -> list[TargetSpec]:
    """Every enabled target by name (read as plain rows: this starts every check cycle)."""
    rows = db.rows(f"SELECT {', '.join(SPEC_COLUMNS)} FROM targets WHERE enabled "
                   "ORDER BY name")
    return [TargetSpec(row[0], row[1], row[2], stored_strings(row[3]),
                       stored_strings(row[4]), row[5], row[6], stored_strings(row[7]),
                       stored_strings(row[8]), bool(row[9])) for row in rows]


# --- a check's previous state and its plain outcomes ------------------------------------------

@dataclass(frozen=True, slots=True)
class Previous:
    """What a check needs to know of a target's last check and latest version."""

    etag: str | None
    last_modified: str | None
    fingerprint: str | None
    text_sha: str | None
    words: int | None
    version_id: int | None = None
    failures: int = 0
    raw_sha: str | None = None  # the latest version's raw snapshot


NO_PREVIOUS = Previous(None, None, None, None, None)

#: The latest version of each target: the newest capture, the newest row among equals.
LATEST_VERSIONS = (
    "SELECT v.target_id, v.id, v.text_sha256, v.words, s.sha256 FROM versions v "
    "LEFT OUTER JOIN snapshots s ON s.id = v.snapshot_id "
    "WHERE v.target_id IN ({ids}) AND v.id = (SELECT i.id FROM versions i "
    "WHERE i.target_id = v.target_id ORDER BY i.captured_at DESC, i.id DESC LIMIT 1)")


def load_previous(db: Direct, target_ids: list[int]) -> dict[int, Previous]:
    """Validators, fingerprints and latest versions of many targets, two queries a chunk."""
    found: dict[int, Previous] = {}
    for start in range(0, len(target_ids), CHUNK):
        ids = target_ids[start:start + CHUNK]
        with db.transaction(write=False):
            states = {row[0]: row for row in db.rows(
                "SELECT target_id, etag, last_modified, last_fingerprint, consecutive_failures "
                f"FROM fetch_state WHERE target_id IN ({marks(len(ids))})", ids)}
            latest = {row[0]: row for row in db.rows(
                LATEST_VERSIONS.format(ids=marks(len(ids))), ids)}
        for target_id in ids:
            state, version = states.get(target_id), latest.get(target_id)
            etag = last_modified = fingerprint = None
            failures = 0
            if state is not None:
                _, etag, last_modified, fingerprint, failures = state
                if version is None:  # validators of a page never recorded: refetch
                    etag = last_modified = None
            _, version_id, text_sha, words, raw_sha = version or (None, None, None, None, None)
            found[target_id] = Previous(etag, last_modified, fingerprint, text_sha, words,
                                        version_id, failures or 0, raw_sha)
    return found


@dataclass(frozen=True, slots=True)
class Unchanged:
    """A successful check that found the latest version's text again (or a 304)."""

    target_id: int
    version_id: int
    kind: str
    fingerprint: str | None  # None: keep the stored one (a 304 has no body to fingerprint)
    etag: str | None
    last_modified: str | None
    keep_validators: bool  # a 304: the stored validators still hold


def record_unchanged(db: Direct, pages: Sequence[Unchanged], now: datetime) -> None:
    """Two bulk UPDATEs: the fetch states, and the versions' last-seen times."""
    stamp = db.stamp(now)
    db.execute_many(
        "UPDATE fetch_state SET last_check_at = ?, last_result = ?, last_error = NULL, "
        "last_success_at = ?, last_fingerprint = COALESCE(?, last_fingerprint), "
        "etag = CASE WHEN ? THEN etag ELSE ? END, "
        "last_modified = CASE WHEN ? THEN last_modified ELSE ? END WHERE target_id = ?",
        [(stamp, p.kind, stamp, p.fingerprint, p.keep_validators, p.etag, p.keep_validators,
          p.last_modified, p.target_id) for p in pages])
    db.execute_many("UPDATE versions SET last_seen_at = ? WHERE id = ?",
                    [(stamp, p.version_id) for p in pages])
