"""For blob store tests: pages whose versions differ in one clause, and damage done on purpose
to a stored blob wherever it is kept (a blob file or blobs.sqlite3)."""

from __future__ import annotations

import sqlite3

from tracker.blob_pack import FILE_NAME
from tracker.blobs import BlobStore


def policy_page(clause: str) -> bytes:
    """A ~30 KB page whose versions differ in one clause, like consecutive policy versions."""
    sections = "".join(f"<h2>Section {i}</h2><p>We process data item {i} for purpose {i * 7} "
                       f"and keep it as long as needed for reason {i * 13}.</p>"
                       for i in range(160))
    return f"<html><body>{sections}<p>{clause}</p></body></html>".encode()


def overwrite_stored(blobs: BlobStore, digest: str, stored: bytes) -> None:
    """Replace a blob's stored bytes (bit rot), as its file or its row."""
    path = blobs.path(digest)
    if path.exists():
        path.write_bytes(stored)
        return
    with sqlite3.connect(blobs.root / FILE_NAME) as connection:
        changed = connection.execute("UPDATE blob SET stored = ? WHERE digest = ?",
                                     (stored, digest)).rowcount
    assert changed == 1, f"blob {digest[:12]} is not stored"


def set_written(blobs: BlobStore, digest: str, when: float) -> None:
    """Backdate a blob (its file's mtime or its row's time)."""
    import os

    path = blobs.path(digest)
    if path.exists():
        os.utime(path, (when, when))
        return
    with sqlite3.connect(blobs.root / FILE_NAME) as connection:
        changed = connection.execute("UPDATE blob SET written = ? WHERE digest = ?",
                                     (when, digest)).rowcount
    assert changed == 1, f"blob {digest[:12]} is not stored"
