"""Database engine and sessions: SQLite (WAL, busy timeout) by default, PostgreSQL alike.

SQLite transactions start with ``BEGIN IMMEDIATE``: a writer takes the write lock up front,
so two processes checking the same target serialize instead of failing half-way with
"database is locked", and a reader (the CLI) never blocks thanks to WAL.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError
from sqlmodel import Session, SQLModel, create_engine

from . import models  # noqa: F401  (registers the tables)
from .blobs import BlobStore
from .config import Config

BUSY_TIMEOUT_MS = 30_000
_READ_ONLY = "tracker_read_only"  # execution option of Store.reading's connections


class StoreError(Exception):
    """The database cannot be opened or used (bad URL, unwritable folder, ...)."""


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and immediate write transactions."""
    try:
        if url.startswith("sqlite"):
            path = url.removeprefix("sqlite:///")
            if path and path != ":memory:":
                folder = Path(path).parent
                if not folder.exists():
                    raise StoreError(f"storage.database: folder {folder} does not exist")
            # cached_statements: sqlite3 keeps 128 prepared statements per connection by
            # default, and the bulk writes prepare one per batch size (a 100-row INSERT is
            # ~90 KB prepared): 11 MB that grew with the length of a check cycle. Sixteen
            # keep the hot statements and cost no measurable time.
            engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000,
                                                      "check_same_thread": False,
                                                      "cached_statements": 16})
            _sqlite_pragmas(engine)
        else:
            engine = create_engine(url, pool_pre_ping=True)
    except ArgumentError:
        raise StoreError(f"storage.database: not a database URL: {url!r}") from None
    except ModuleNotFoundError as exc:
        raise StoreError(f"storage.database: driver not installed for {url.split(':')[0]} "
                         f"({exc.name})") from None
    return engine


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        # Writers take the write lock up front (a deferred transaction that reads, then writes
        # gets SQLITE_BUSY without the busy timeout); readers (Store.reading) need no lock in
        # WAL mode and must not queue behind another process's writes.
        read_only = connection.get_execution_options().get(_READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _create_tables(engine: Engine) -> None:
    """Create missing tables; a "locked" answer is retried within the busy timeout.

    Two processes setting up the same brand-new SQLite file (two cron jobs, or the CLI and the
    daemon started together) can get "database is locked" at once, without SQLite's busy
    timeout being applied: seen about once in a thousand runs of the test that starts two
    checks on a new database, on a loaded machine. Creating tables is idempotent, so waiting
    and trying again is safe; any other error, or the timeout running out, is reported.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.05
    while True:
        try:
            SQLModel.metadata.create_all(engine)
            return
        except OperationalError as exc:
            if "locked" not in str(exc.orig) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 1.0)


@dataclass
class Store:
    """The database and the blob store of one configuration."""

    engine: Engine
    blobs: BlobStore

    @classmethod
    def open(cls, config: Config) -> Store:
        """Open (creating if needed) the blob folder first, then the database.

        The folder is checked first so a bad ``storage.snapshots`` leaves no empty database
        behind.
        """
        snapshots = config.snapshots_dir
        if snapshots.exists() and not snapshots.is_dir():
            raise StoreError(f"storage.snapshots: {snapshots} is not a folder")
        engine = make_engine(config.database_url)
        try:
            snapshots.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"storage.snapshots: cannot create {snapshots} "
                             f"({exc.strerror})") from None
        try:
            _create_tables(engine)
        except DatabaseError as exc:  # unreachable server, locked, or not a database at all
            raise StoreError(f"storage.database: cannot open {config.database_url}: "
                             f"{exc.orig}") from None
        return cls(engine, BlobStore(snapshots))

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success, rolled back on any error."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads only: it neither waits for nor blocks other writers.

        A check cycle's shards read previous state while another shard's writer holds the
        write lock; through :meth:`session` each read would wait for that commit.
        """
        with self.engine.connect() as connection:
            connection = connection.execution_options(**{_READ_ONLY: True})
            with Session(bind=connection) as session:
                yield session

    def close(self) -> None:
        self.engine.dispose()
