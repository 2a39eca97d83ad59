"""Blob store and database basics."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tracker.blobs import BlobError, BlobStore
from tracker.config import parse_config
from tracker.store import Store, StoreError


def test_blobs_are_content_addressed_compressed_and_verified(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    data = b"policy text " * 1000
    digest = blobs.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert blobs.put(data) == digest  # idempotent
    assert blobs.path(digest).stat().st_size < len(data) / 10
    assert blobs.get(digest) == data
    assert blobs.verify(digest) is None
    assert list(blobs.all_digests()) == [digest]
    assert not list(blobs.temp_files())


def test_corrupt_and_missing_blobs_are_reported(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    digest = blobs.put(b"abc")
    blobs.path(digest).write_bytes(b"not zlib")
    assert "corrupt" in (blobs.verify(digest) or "")
    with pytest.raises(BlobError, match="missing"):
        blobs.get("0" * 64)


def test_sqlite_store_uses_wal(tmp_path: Path) -> None:
    store = Store.open(parse_config({}, tmp_path / "config.toml"))
    with store.engine.connect() as connection:
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
    assert mode == "wal"
    assert (tmp_path / "snapshots").is_dir()


def test_bad_database_urls_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not a database URL"):
        Store.open(parse_config({"storage": {"database": "nonsense"}}, tmp_path / "c.toml"))
    with pytest.raises(StoreError, match="does not exist"):
        Store.open(parse_config({"storage": {"database": "sqlite:///no/such/dir/t.db"}},
                                tmp_path / "c.toml"))
