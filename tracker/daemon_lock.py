"""One daemon per database: a lock that dies with the process that holds it.

SQLite: an ``fcntl`` lock on ``<database>.daemon.lock`` (released by the kernel if the process
dies, so a crash never leaves a stale lock; the file only records the holder's pid for the
error message). PostgreSQL: a session-level advisory lock on a connection held open for the
daemon's lifetime. ``[storage] shared = true`` skips the lock (several machines, one database).
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

#: Arbitrary, fixed 63-bit key for pg_try_advisory_lock ("policy-tracker daemon").
ADVISORY_KEY = 0x706F6C6963797472


class LockError(Exception):
    """Another daemon holds the database (a user error: one clear line, exit status 2)."""


class DaemonLock:
    def __init__(self, fd: int | None = None, path: Path | None = None,
                 connection: Connection | None = None) -> None:
        self._fd = fd
        self.path = path
        self._connection = connection

    @classmethod
    def acquire(cls, database_url: str, engine: Engine, shared: bool) -> DaemonLock:
        if shared:
            return cls()
        if database_url.startswith("sqlite"):
            path = database_url.removeprefix("sqlite:///")
            if not path or path == ":memory:":
                return cls()
            return cls._file_lock(Path(path + ".daemon.lock"), database_url)
        if engine.dialect.name == "postgresql":
            return cls._advisory_lock(engine, database_url)
        return cls()

    @classmethod
    def _file_lock(cls, path: Path, database_url: str) -> DaemonLock:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
            os.close(fd)
            raise LockError(f"another tracker daemon ({holder}) is already running on "
                            f"{database_url}; stop it first (an SQLite database takes one "
                            "daemon)") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        return cls(fd=fd, path=path)

    @classmethod
    def _advisory_lock(cls, engine: Engine, database_url: str) -> DaemonLock:
        connection = engine.connect()
        got = connection.execute(text("SELECT pg_try_advisory_lock(:key)"),
                                 {"key": ADVISORY_KEY}).scalar()
        connection.commit()
        if not got:
            connection.close()
            raise LockError(f"another tracker daemon is already running on this PostgreSQL "
                            f"database ({engine.url.render_as_string(hide_password=True)}); "
                            "stop it first, or set [storage] shared = true")
        return cls(connection=connection)

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
        if self._connection is not None:
            connection, self._connection = self._connection, None
            try:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"),
                                   {"key": ADVISORY_KEY})
                connection.commit()
            finally:
                connection.close()
