"""Blobs written in bulk: one SQLite file in the blob folder, ``snapshots/blobs.sqlite3``.

A check cycle stores two blobs per new version (the raw page and its text). As files, each
one took a temporary file, a write and a rename, and on this project's machines creating a
file costs anywhere from 25 µs to 700 µs (a filesystem without a journal skips over every
recently deleted inode to find a free one): for a cycle of a thousand new pages that was up
to a second and a half of CPU, more than parsing them. Rows in one SQLite file cost ~50 µs a
blob, fsync included, whatever the filesystem is doing, and a store of a million versions is
one file instead of two million.

Every blob is still content-addressed (its key is the sha256 of its bytes), compressed the
same way as a blob file (the stored bytes are exactly what the file would hold, whole zstd
frame or delta), and written atomically: a writer buffers its blobs in memory and
:meth:`BlobPack.commit` inserts them in one transaction, with ``synchronous=FULL`` so they
are on disk before the caller commits the database rows that name them. Several processes
(a cycle's shards, the CLI) share the file; SQLite's write lock serializes their commits, and
WAL lets readers read meanwhile.

Only this module knows the file's layout. Connections belong to one process (one to read,
one to commit, so that buffering and reading go on while a commit waits for the disk): a
connection must not cross a fork, so a forked child opens its own and leaves its parent's
untouched.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

from .sqlite_retry import retry_locked, sqlite_locked

FILE_NAME = "blobs.sqlite3"
_BUSY_TIMEOUT_S = 30.0
_SCHEMA = ("CREATE TABLE IF NOT EXISTS blob (digest TEXT PRIMARY KEY, stored BLOB NOT NULL, "
           "written REAL NOT NULL)")


class BlobPack:
    """The bulk blobs of one blob folder, as seen by this process."""

    def __init__(self, root: str) -> None:
        self.path = f"{root}/{FILE_NAME}"
        #: Guards the buffer and the reading connection: the event loop adds and reads.
        self._lock = threading.RLock()
        #: One commit at a time, on a connection of its own: a commit (fsync included) takes
        #: 5-35 ms, and holding ``_lock`` that long stalled the event loop's next page.
        self._commit_lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._committer: sqlite3.Connection | None = None
        #: digest -> stored bytes: written, not yet committed.
        self._pending: dict[str, bytes] = {}

    # --- writing -------------------------------------------------------------------------

    def add(self, digest: str, stored: bytes) -> None:
        """Buffer a blob until :meth:`commit` (idempotent).

        A blob already stored is added again when it is about to be referenced again: the
        commit then refreshes its time (`tracker verify --repair` deletes only orphans idle
        for a while), and stores it anew should a repair have deleted it in between.
        """
        with self._lock:
            self._pending.setdefault(digest, stored)

    def commit(self) -> None:
        """Store every blob buffered so far durably, in one transaction; raises sqlite3.Error.

        Blobs added meanwhile wait for the next commit; the committed ones stay readable from
        the buffer until the transaction is done, and from the file after.
        """
        with self._commit_lock:
            with self._lock:
                batch = list(self._pending.items())
            if not batch:
                return
            if self._committer is None:
                self._committer = retry_locked(self._connect, sqlite_locked, _BUSY_TIMEOUT_S)
            connection = self._committer
            now = time.time()
            try:
                connection.execute("BEGIN IMMEDIATE")
                connection.executemany(
                    "INSERT INTO blob (digest, stored, written) VALUES (?, ?, ?) "
                    "ON CONFLICT (digest) DO UPDATE SET written = excluded.written",
                    [(digest, stored, now) for digest, stored in batch])
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            with self._lock:
                for digest, _ in batch:
                    self._pending.pop(digest, None)

    def delete(self, digest: str) -> None:
        with self._lock:
            self._pending.pop(digest, None)
            connection = self._reader()
            if connection is not None:
                connection.execute("DELETE FROM blob WHERE digest = ?", (digest,))

    # --- reading -------------------------------------------------------------------------

    def stored(self, digest: str) -> bytes | None:
        """The stored bytes of a blob (as its file would hold them), or None."""
        with self._lock:
            if digest in self._pending:
                return self._pending[digest]
            row = self._query("SELECT stored FROM blob WHERE digest = ?", digest)
        return None if row is None else row[0]

    def info(self, digest: str, head: int) -> tuple[int, bytes] | None:
        """(stored size, first ``head`` bytes) of a blob, or None if it is not here: enough
        to tell a delta's base (its header names it) without reading the blob whole."""
        with self._lock:
            if digest in self._pending:
                stored = self._pending[digest]
                return len(stored), stored[:head]
            connection = self._reader()
            if connection is None:
                return None
            return connection.execute("SELECT length(stored), substr(stored, 1, ?) FROM blob "
                                      "WHERE digest = ?", (head, digest)).fetchone()

    def written(self, digest: str) -> float | None:
        """When the blob was written (Unix time; now for a buffered one), or None."""
        with self._lock:
            if digest in self._pending:
                return time.time()
            row = self._query("SELECT written FROM blob WHERE digest = ?", digest)
        return None if row is None else row[0]

    def contains(self, digest: str) -> bool:
        with self._lock:
            return digest in self._pending or \
                self._query("SELECT 1 FROM blob WHERE digest = ?", digest) is not None

    def digests(self) -> list[str]:
        """Every blob here, buffered ones included."""
        with self._lock:
            names = list(self._pending)
            connection = self._reader()
            if connection is not None:
                names += [row[0] for row in connection.execute("SELECT digest FROM blob")]
        return list(dict.fromkeys(names))

    def _query(self, sql: str, digest: str) -> tuple | None:
        connection = self._reader()
        return None if connection is None else connection.execute(sql, (digest,)).fetchone()

    # --- the connection --------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection | None:
        """This process's connection for reads (and deletes); None while the file does not
        exist (a reader never creates it)."""
        if self._connection is not None:
            return self._connection
        if not os.path.exists(self.path):
            return None
        if not os.access(os.path.dirname(self.path), os.W_OK):
            self._connection = self._read_only()
        else:
            self._connection = retry_locked(self._connect, sqlite_locked, _BUSY_TIMEOUT_S)
        return self._connection

    def _read_only(self) -> sqlite3.Connection:
        """A store on read-only media (a copy shared for research, a mounted backup): WAL
        needs a writable folder even to read, so the file is read as immutable (nothing can
        be writing to it there)."""
        uri = f"{Path(self.path).absolute().as_uri()}?immutable=1"
        return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None,
                                     check_same_thread=False)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk before it returns, so rows committed after it never
            # name a blob that a power cut could take back.
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute("PRAGMA journal_size_limit=8388608")  # WAL truncated to 8 MB
            connection.execute(_SCHEMA)
        except BaseException:
            connection.close()
            raise
        return connection

    def close(self) -> None:
        """Close this process's connections (buffered blobs stay buffered)."""
        with self._commit_lock, self._lock:
            for connection in (self._connection, self._committer):
                if connection is not None:
                    connection.close()
            self._connection = self._committer = None


_packs: dict[str, BlobPack] = {}
#: Packs of the process this one was forked from: kept referenced, never used nor closed
#: (closing a parent's SQLite connection in a child can release the parent's locks).
_inherited: list[BlobPack] = []
_registry_lock = threading.Lock()


def pack_for(root: str) -> BlobPack:
    """The one :class:`BlobPack` of ``root`` in this process (blob stores come and go per page,
    their buffered blobs must not)."""
    pack = _packs.get(root)
    if pack is None:
        with _registry_lock:
            pack = _packs.setdefault(root, BlobPack(root))
    return pack


def _start_afresh_after_fork() -> None:
    """A forked child neither commits its parent's buffer nor uses its connections."""
    global _registry_lock
    _inherited.extend(_packs.values())
    _packs.clear()
    _registry_lock = threading.Lock()  # another thread of the parent may have held it


os.register_at_fork(after_in_child=_start_afresh_after_fork)
