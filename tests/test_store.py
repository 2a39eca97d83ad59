"""Blob store and database basics."""

from __future__ import annotations

import collections
import hashlib
import os
import sqlite3
import time
from pathlib import Path

import pytest

from tests.blobtools import policy_page as _page
from tracker import direct
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




def test_a_new_version_is_stored_as_a_delta_on_the_previous(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    first = blobs.put(_page("We keep logs for 12 months."))
    whole_size = blobs.path(first).stat().st_size
    second_data = _page("We keep logs for 18 months.")
    second = blobs.put(second_data, like=first)
    assert blobs.base_of(first) is None and blobs.base_of(second) == first
    assert blobs.path(second).stat().st_size < whole_size / 10
    assert blobs.get(second) == second_data and blobs.verify(second) is None
    # A delta's base is always a whole blob: the next version goes against the first too.
    third_data = _page("We keep logs for 24 months.")
    third = blobs.put(third_data, like=second)
    assert blobs.base_of(third) == first and blobs.get(third) == third_data
    assert blobs.put(third_data, like=second) == third  # still idempotent


def test_deltas_are_only_written_where_they_pay_and_are_safe(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    first = blobs.put(_page("We keep logs for 12 months."))
    unrelated = blobs.put(os.urandom(20_000), like=first)  # nothing in common
    missing_base = blobs.put(_page("A"), like="f" * 64)
    wrong_bytes = blobs.put(_page("B"), like=first, like_data=_page("not the first page"))
    for digest in (unrelated, missing_base, wrong_bytes):
        assert blobs.base_of(digest) is None
        assert blobs.verify(digest) is None
    # like_data that really is the base's bytes is used as given.
    right_bytes = blobs.put(_page("C"), like=first, like_data=_page("We keep logs for 12 months."))
    assert blobs.base_of(right_bytes) == first


def test_a_delta_whose_base_is_damaged_says_so(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    first = blobs.put(_page("We keep logs for 12 months."))
    second = blobs.put(_page("We keep logs for 18 months."), like=first)
    blobs.path(first).write_bytes(b"not zstd")
    assert f"{second[:12]} is a delta whose base blob {first[:12]} is corrupt" \
        in (blobs.verify(second) or "")
    blobs.path(first).unlink()
    with pytest.raises(BlobError, match=f"{second[:12]} is a delta whose base blob "
                                        f"{first[:12]} is missing") as missing:
        blobs.get(second)
    # Its header names the base: when that name is what got damaged, the base "is missing".
    assert str(missing.value).endswith("(or this delta's header is damaged)")


def test_reads_do_not_wait_for_another_process_writing(tmp_path: Path) -> None:
    store = Store.open(parse_config({}, tmp_path / "config.toml"))
    writer = sqlite3.connect(tmp_path / "tracker.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # as a check shard's writer holds it while it records
    writer.execute("INSERT INTO targets (name, url, select_json, remove_json, source, "
                   "tags_json, recipients_json, enabled, origin, created_at) VALUES ('a', "
                   "'https://a.example/', '[]', '[]', 'live', '[]', '[]', 1, 'cli', "
                   "'2026-01-01')")
    started = time.monotonic()
    with direct.connection(store) as db:  # as the next claim's previous state is read
        with db.transaction(write=False):
            assert db.rows("SELECT count(*) FROM targets") == [(0,)]
        assert time.monotonic() - started < 5  # not the 30 s busy timeout
        writer.execute("COMMIT")
        with db.transaction(write=False):
            assert db.rows("SELECT count(*) FROM targets") == [(1,)]


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


def test_blobs_of_the_legacy_two_level_layout_are_still_found(tmp_path) -> None:
    import os
    import zlib

    from tracker.blobs import BlobStore, sha256_hex

    blobs = BlobStore(tmp_path)
    old = b"<p>written by an earlier version into ab/cd/</p>"
    digest = sha256_hex(old)
    legacy = tmp_path / digest[:2] / digest[2:4] / f"{digest}.z"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(zlib.compress(old))
    assert blobs.exists(digest) and blobs.get(digest) == old and blobs.path(digest) == legacy
    assert blobs.put(old) == digest and not (tmp_path / digest[:2] / f"{digest}.z").exists()
    new = blobs.put(b"<p>written now</p>")
    assert (tmp_path / new[:2] / f"{new}.z").exists()  # one folder deep
    assert set(blobs.all_digests()) == {digest, new}
    blobs.delete(digest)
    assert not blobs.exists(digest) and not legacy.exists()
    assert os.listdir(tmp_path / new[:2]) == [f"{new}.z"]


def test_zlib_blobs_of_older_stores_read_beside_new_zstd_blobs(tmp_path: Path) -> None:
    import zlib

    from tracker.blobs import sha256_hex

    blobs = BlobStore(tmp_path)
    old = b"<p>stored by a tracker that wrote zlib</p>" * 50
    digest = sha256_hex(old)
    (tmp_path / digest[:2]).mkdir()
    blobs.path(digest).write_bytes(zlib.compress(old))
    new = blobs.put(b"<p>stored now</p>" * 50)
    assert blobs.path(new).read_bytes()[:4] == b"\x28\xb5\x2f\xfd"  # a zstd frame
    assert blobs.get(digest) == old and blobs.verify(digest) is None
    assert blobs.get_text(new) == "<p>stored now</p>" * 50 and blobs.verify(new) is None
    # A damaged zstd frame is reported as corrupt, like a damaged zlib stream.
    frame = bytearray(blobs.path(new).read_bytes())
    frame[-6:] = b"\x00" * 6
    blobs.path(new).write_bytes(bytes(frame[:-3]))
    assert "corrupt" in (blobs.verify(new) or "")


def test_a_locked_new_database_is_waited_for_other_errors_are_reported(
        tmp_path: Path, monkeypatch) -> None:
    import sqlite3

    import tracker.store as store_module

    real = store_module.configure_sqlite
    answers = ["database is locked", "database is locked"]

    def configure(connection: sqlite3.Connection) -> None:
        if answers:
            raise sqlite3.OperationalError(answers.pop(0))
        real(connection)

    monkeypatch.setattr(store_module, "configure_sqlite", configure)
    Store.open(parse_config({}, tmp_path / "config.toml")).close()  # after two "locked"
    assert not answers
    answers.append("disk I/O error")
    (tmp_path / "other").mkdir()
    with pytest.raises(StoreError, match="cannot open .*: disk I/O error"):
        Store.open(parse_config({}, tmp_path / "other" / "config.toml"))


def test_a_new_sqlite_database_gets_exactly_the_schema_sqlalchemy_would_create(
        tmp_path: Path) -> None:
    """schema_sqlite.sql spares a first run SQLAlchemy; it must not drift from the models."""
    import sqlite3

    from tracker.store import _create_tables, make_engine

    def schema(path: Path) -> list[tuple]:
        connection = sqlite3.connect(path)
        rows = [(kind, name, table, " ".join((sql or "").split())) for kind, name, table, sql
                in connection.execute("SELECT type, name, tbl_name, sql FROM sqlite_master")]
        connection.close()
        return sorted(rows)

    engine = make_engine(f"sqlite:///{tmp_path / 'orm.db'}")
    _create_tables(engine)
    engine.dispose()
    store = Store.open(parse_config({}, tmp_path / "config.toml"))
    assert store._engine is None
    store.close()
    assert schema(tmp_path / "tracker.db") == schema(tmp_path / "orm.db")
    Store.open(parse_config({}, tmp_path / "config.toml")).close()  # opening again: no error


def test_a_long_history_is_not_all_deltas_of_one_base(tmp_path: Path) -> None:
    # The store is evidence: losing one file must not take a page's whole history with it.
    blobs = BlobStore(tmp_path)
    history = [blobs.put(_page("We keep logs for 12 months."))]
    for n in range(1, 160):
        history.append(blobs.put(_page(f"We keep logs for {12 + n} months."), like=history[-1]))
    bases = [blobs.base_of(digest) or digest for digest in history]
    dependents = collections.Counter(bases)
    assert 4 <= len(dependents) <= 30  # about one in KEYFRAME_EVERY is stored whole
    assert max(dependents.values()) < 80
    blobs.path(history[0]).unlink()  # the first page's base lost: later keyframes survive
    readable = [digest for digest in history if blobs.verify(digest) is None]
    assert len(readable) == len(history) - dependents[history[0]]


def test_the_tables_a_ready_database_is_checked_for_are_the_models_tables() -> None:
    from sqlmodel import SQLModel

    from tracker import models  # noqa: F401  (registers the tables)
    from tracker.store import TABLES

    assert set(SQLModel.metadata.tables) == TABLES


def test_a_database_with_its_tables_opens_without_sqlalchemy_and_bad_files_fail_plainly(
        tmp_path: Path) -> None:
    config = parse_config({}, tmp_path / "config.toml")
    Store.open(config).close()  # creates the tables (through SQLAlchemy)
    store = Store.open(config)
    assert store._engine is None  # the schema is there: nothing to create, no engine yet
    store.close()
    (tmp_path / "tracker.db").unlink()
    (tmp_path / "tracker.db").write_bytes(b"not a database at all " * 100)
    with pytest.raises(StoreError, match="storage.database: cannot open .*not a database"):
        Store.open(config)
