"""Database engine and sessions: SQLite (WAL, busy timeout) by default, PostgreSQL alike.

SQLite transactions start with ``BEGIN IMMEDIATE``: a writer takes the write lock up front,
so two processes checking the same target serialize instead of failing half-way with
"database is locked", and a reader (the CLI) never blocks thanks to WAL.

SQLAlchemy (with SQLModel, a third of a second to import) is loaded when the ORM is first
used, not when the store opens: a check cycle of unchanged pages needs only plain statements
(:mod:`tracker.direct`), and that import was most of its time.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from .blobs import BlobStore
from .sqlite_retry import retry_locked, sqlite_locked

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlmodel import Session

    from .config import Config

BUSY_TIMEOUT_MS = 30_000


class StoreError(Exception):
    """The database cannot be opened or used (bad URL, unwritable folder, ...)."""


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and immediate write transactions."""
    from sqlalchemy.exc import ArgumentError
    from sqlmodel import create_engine

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


def configure_sqlite(dbapi_connection: sqlite3.Connection) -> None:
    """WAL, the busy timeout, foreign keys, and transactions begun by us (see the module doc)."""
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_pragmas(engine: Engine) -> None:
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        configure_sqlite(dbapi_connection)

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        # Writers take the write lock up front: a deferred transaction that reads, then writes
        # gets SQLITE_BUSY without the busy timeout. (The check cycle's reads go through
        # tracker.direct, whose readers take no lock.)
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _create_tables(engine: Engine) -> None:
    """Create missing tables through SQLAlchemy (PostgreSQL, in-memory SQLite)."""
    from sqlalchemy.exc import OperationalError
    from sqlmodel import SQLModel

    from . import models  # noqa: F401  (registers the tables)

    _retry_locked(lambda: SQLModel.metadata.create_all(engine),
                  lambda exc: isinstance(exc, OperationalError) and "locked" in str(exc.orig))


def _create_sqlite_schema(path: str) -> None:
    """Create missing tables and indexes from ``schema_sqlite.sql``, in one transaction."""
    script = (Path(__file__).with_name("schema_sqlite.sql")).read_text(encoding="utf-8")
    sql = "\n".join(line for line in script.splitlines() if not line.startswith("--"))
    statements = [_if_not_exists(s.strip()) for s in sql.split(";") if s.strip()]

    def create() -> None:
        connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            configure_sqlite(connection)
            connection.execute("BEGIN IMMEDIATE")
            for statement in statements:
                connection.execute(statement)
            connection.commit()
        finally:
            connection.close()

    _retry_locked(create, sqlite_locked)


def _if_not_exists(statement: str) -> str:
    for kind in ("CREATE TABLE ", "CREATE UNIQUE INDEX ", "CREATE INDEX "):
        if statement.startswith(kind):
            return statement.replace(kind, kind + "IF NOT EXISTS ", 1)
    raise ValueError(f"unexpected statement in schema_sqlite.sql: {statement[:40]!r}")


def _retry_locked(action: Callable[[], None], locked: Callable[[Exception], bool]) -> None:
    """:func:`tracker.sqlite_retry.retry_locked` within the database's busy timeout (seen about
    once in a thousand runs of the test that starts two checks on a new database)."""
    retry_locked(action, locked, BUSY_TIMEOUT_MS / 1000)


#: The tables of :mod:`tracker.models` (a test keeps the two in step). A SQLite file that has
#: them all needs no schema work, so opening it needs no SQLAlchemy.
TABLES = frozenset({"targets", "daemon_heartbeat", "snapshots", "fetch_state", "versions",
                    "check_log", "changes", "alerts"})


def sqlite_path(url: str) -> str | None:
    """The file of a ``sqlite:///`` URL (None for other databases and in-memory ones)."""
    if not url.startswith("sqlite:///"):
        return None
    path = unquote(url.removeprefix("sqlite:///").split("?", 1)[0])  # as SQLAlchemy reads it
    return path if path and path != ":memory:" else None


def _has_schema(path: str) -> bool:
    """Whether the SQLite file at ``path`` exists with every table (read-only, never creates)."""
    if not Path(path).is_file():
        return False
    try:
        connection = sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode=ro", uri=True,
                                     timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            names = {row[0] for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            connection.close()
    except sqlite3.Error:  # not a database, or unreadable: creating the tables says which
        return False
    return names >= TABLES


class Store:
    """The database and the blob store of one configuration.

    ``engine`` (SQLAlchemy) is made on first use; :meth:`connect` hands out plain DB-API
    connections for the check cycle's hot statements.
    """

    def __init__(self, url: str, blobs: BlobStore, engine: Engine | None = None) -> None:
        self.url = url
        self.blobs = blobs
        self._engine = engine
        self._engine_lock = threading.Lock()  # a cycle's writer thread and its event loop

    @classmethod
    def open(cls, config: Config) -> Store:
        """Open (creating if needed) the blob folder first, then the database.

        The folder is checked first so a bad ``storage.snapshots`` leaves no empty database
        behind. A SQLite file gets its tables from ``schema_sqlite.sql`` if it lacks them, and
        its SQLAlchemy engine only when something first needs the ORM.
        """
        snapshots = config.snapshots_dir
        if snapshots.exists() and not snapshots.is_dir():
            raise StoreError(f"storage.snapshots: {snapshots} is not a folder")
        url = config.database_url
        path = sqlite_path(url)
        if path is not None and not Path(path).parent.exists():
            raise StoreError(f"storage.database: folder {Path(path).parent} does not exist")
        engine = None if path is not None else make_engine(url)
        try:
            snapshots.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"storage.snapshots: cannot create {snapshots} "
                             f"({exc.strerror})") from None
        store = cls(url, BlobStore(snapshots), engine)
        if engine is not None:
            store._prepare(engine)
        elif path is not None and not _has_schema(path):
            try:
                _create_sqlite_schema(path)
            except sqlite3.DatabaseError as exc:  # locked too long, or not a database at all
                raise StoreError(f"storage.database: cannot open {url}: {exc}") from None
        return store

    def _prepare(self, engine: Engine) -> None:
        from sqlalchemy.exc import DatabaseError

        try:
            _create_tables(engine)
        except DatabaseError as exc:  # unreachable server, locked, or not a database at all
            raise StoreError(f"storage.database: cannot open {self.url}: "
                             f"{exc.orig}") from None

    @property
    def engine(self) -> Engine:
        with self._engine_lock:
            if self._engine is None:
                engine = make_engine(self.url)
                self._prepare(engine)
                self._engine = engine
            return self._engine

    def connect(self) -> Any:
        """A plain DB-API connection (configured like the engine's): the caller closes it."""
        path = sqlite_path(self.url)
        if path is None:
            return self.engine.raw_connection()
        connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000,
                                     check_same_thread=False, cached_statements=16)
        configure_sqlite(connection)
        return connection

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success, rolled back on any error."""
        from sqlmodel import Session

        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def close(self) -> None:
        """Close the engine's connections, if it was ever made, and the blob store's (before a
        fork, or at exit)."""
        if self._engine is not None:
            self._engine.dispose()
        self.blobs.close()
