"""Blobs written in bulk (``put(sync=False)``) live in blobs.sqlite3, committed by ``sync()``."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import os
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.blobtools import overwrite_stored, policy_page, set_written
from tracker.analysis import PageJob, analyze_in_worker
from tracker.blob_pack import FILE_NAME
from tracker.blobs import BlobError, BlobStore
from tracker.fetch import FetchResult


def _committed(root: Path) -> set[str]:
    """Digests another connection sees: what a reader in another process would find."""
    if not (root / FILE_NAME).exists():
        return set()
    with sqlite3.connect(root / FILE_NAME) as connection:
        return {row[0] for row in connection.execute("SELECT digest FROM blob")}




def test_bulk_blobs_are_buffered_until_sync_then_stored_in_one_file(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    first = blobs.put(b"raw page one", sync=False)
    second = blobs.put(b"normalized text one", sync=False)
    # Readable at once by this process (a batch may dedup against its own pages) ...
    assert blobs.exists(first) and blobs.get(first) == b"raw page one"
    assert set(blobs.all_digests()) == {first, second}
    # ... but not yet stored: nothing another process could read, and no files at all.
    assert _committed(tmp_path) == set()
    blobs.sync()
    assert _committed(tmp_path) == {first, second}
    assert not [p for p in tmp_path.rglob("*.z")]  # no blob files: one SQLite file
    assert BlobStore(tmp_path).get(second) == b"normalized text one"
    assert blobs.verify(first) is None and blobs.verify(second) is None


def test_a_bulk_blob_is_stored_once_and_reuse_refreshes_its_age(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    digest = blobs.put(b"the same page", sync=False)
    assert blobs.put(b"the same page", sync=False) == digest
    blobs.sync()
    set_written(blobs, digest, 1_000_000.0)
    assert blobs.written_at(digest) == 1_000_000.0
    blobs.put(b"the same page", sync=False)  # about to be referenced again
    blobs.sync()
    assert time.time() - (blobs.written_at(digest) or 0) < 60
    with sqlite3.connect(tmp_path / FILE_NAME) as connection:
        assert connection.execute("SELECT count(*) FROM blob").fetchone() == (1,)


def test_a_blob_reused_while_a_repair_deletes_it_is_stored_again(tmp_path: Path) -> None:
    """`verify --repair` in another process may delete an old orphan just as a check finds
    it and is about to reference it: the check's sync must put it back."""
    blobs = BlobStore(tmp_path)
    digest = blobs.put(b"an old orphan page", sync=False)
    blobs.sync()
    assert blobs.put(b"an old orphan page", sync=False) == digest  # found: reused
    with sqlite3.connect(tmp_path / FILE_NAME) as connection:  # the repair, elsewhere
        connection.execute("DELETE FROM blob WHERE digest = ?", (digest,))
    blobs.sync()
    assert digest in _committed(tmp_path) and BlobStore(tmp_path).get(digest) == \
        b"an old orphan page"


def test_bulk_versions_are_deltas_on_the_previous_like_blob_files(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    first = blobs.put(policy_page("We keep logs for 12 months."), sync=False)
    blobs.sync()
    later = [policy_page(f"We keep logs for {n} months.") for n in (18, 24, 36)]
    digests = [blobs.put(data, sync=False, like=first) for data in later]
    blobs.sync()
    deltas = [d for d in digests if blobs.base_of(d) == first]
    assert deltas, "a new version resembling the previous one is stored as a delta"
    with sqlite3.connect(tmp_path / FILE_NAME) as connection:
        sizes = dict(connection.execute("SELECT digest, length(stored) FROM blob"))
    assert all(sizes[d] < sizes[first] / 10 for d in deltas)
    assert [blobs.get(d) for d in digests] == later
    # A file blob may be the base of a bulk one, and the other way round.
    page = policy_page("We keep logs for 48 months.")
    loose = blobs.put(page, like=digests[0])
    assert blobs.path(loose).exists() and blobs.get(loose) == page


def test_bulk_blobs_are_deleted_and_damage_is_reported(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    kept, gone = blobs.put(b"kept", sync=False), blobs.put(b"gone", sync=False)
    blobs.sync()
    blobs.delete(gone)
    assert not blobs.exists(gone) and blobs.exists(kept)
    with pytest.raises(BlobError, match="missing"):
        blobs.get(gone)
    overwrite_stored(blobs, kept, b"not zstd")
    assert "corrupt" in (blobs.verify(kept) or "")


def test_a_damaged_blob_file_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    digest = blobs.put(b"page", sync=False)
    blobs.sync()
    blobs.close()
    (tmp_path / FILE_NAME).write_bytes(b"this is not a database" * 200)
    error = BlobStore(tmp_path).verify(digest) or ""
    assert f"blob {digest[:12]} cannot be read from" in error and FILE_NAME in error


def test_blobs_that_could_not_be_stored_stay_buffered_for_the_next_sync(
        tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).mkdir()  # where the file should be: SQLite cannot open it
    blobs = BlobStore(tmp_path)
    digest = blobs.put(b"page", sync=False)
    with pytest.raises(BlobError, match="cannot store blobs in"):
        blobs.sync()
    assert blobs.exists(digest)  # pages analyzed meanwhile may need it: still buffered
    (tmp_path / FILE_NAME).rmdir()
    blobs.sync()
    assert _committed(tmp_path) == {digest}


def _child_puts_and_syncs(root: str, parent_buffered: str) -> None:
    blobs = BlobStore(Path(root))
    if blobs.exists(parent_buffered):  # the parent's buffered blob is not this process's
        raise SystemExit(3)
    blobs.put(b"written by the child", sync=False)
    blobs.sync()


def test_a_forked_process_stores_its_own_blobs_not_its_parents(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    blobs.put(b"committed before the fork", sync=False)
    blobs.sync()  # the parent has a connection open now
    buffered = blobs.put(b"buffered in the parent", sync=False)
    child = multiprocessing.get_context("fork").Process(target=_child_puts_and_syncs,
                                                        args=(str(tmp_path), buffered))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert len(_committed(tmp_path)) == 2  # the child's blob, not the parent's buffered one
    blobs.sync()  # the parent's connection still works after the child used its own
    assert len(_committed(tmp_path)) == 3


def test_stored_bulk_blobs_are_read_by_another_process(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    digest = blobs.put(b"read me elsewhere", sync=False)
    blobs.sync()
    code = ("import sys; from pathlib import Path; from tracker.blobs import BlobStore; "
            "sys.stdout.buffer.write(BlobStore(Path(sys.argv[1])).get(sys.argv[2]))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path), digest],
                         capture_output=True, check=True, timeout=60)
    assert out.stdout == b"read me elsewhere"


def test_a_parse_worker_stores_its_blobs_before_returning(tmp_path: Path) -> None:
    """The daemon's worker processes analyze pages; the parent cannot sync their buffers."""
    body = (b"<html><head><title>Privacy</title></head><body><main><h1>Privacy policy</h1>"
            + b"".join(b"<p>We keep your account data for %d months and then delete it.</p>"
                       % n for n in range(40)) + b"</main></body></html>")
    result = FetchResult("http://127.0.0.1/p", "http://127.0.0.1/p", 200, {}, "text/html",
                         "utf-8", body, datetime.now(UTC), 0.01)
    job = PageJob(result, (), (), str(tmp_path))
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        analysis = pool.submit(analyze_in_worker, job).result(timeout=120)
    assert analysis.ok and analysis.raw_sha and analysis.text_sha
    assert _committed(tmp_path) == {analysis.raw_sha, analysis.text_sha}


def _sync_batches(root: str, start: multiprocessing.synchronize.Barrier, batches: int) -> None:
    blobs = BlobStore(Path(root))
    start.wait(30)
    for batch in range(batches):
        for n in range(20):
            blobs.put(f"{os.getpid()} {batch} {n}".encode() * 50, sync=False)
        blobs.sync()  # raises (and the exit code says so) if the file could not be shared


def test_processes_opening_a_new_blob_file_at_once_all_store_their_blobs(
        tmp_path: Path) -> None:
    """A cycle's shards open blobs.sqlite3 together: switching a new file to WAL returned
    "database is locked" at once to all but one (SQLite's busy timeout does not cover it)."""
    context = multiprocessing.get_context("fork")
    for trial in range(4):
        root = tmp_path / str(trial)
        root.mkdir()
        start = context.Barrier(3)
        shards = [context.Process(target=_sync_batches, args=(str(root), start, 3))
                  for _ in range(3)]
        for shard in shards:
            shard.start()
        for shard in shards:
            shard.join(60)
        assert [shard.exitcode for shard in shards] == [0, 0, 0], f"trial {trial}"
        assert len(_committed(root)) == 3 * 3 * 20


def test_a_store_on_read_only_media_is_read(tmp_path: Path, monkeypatch) -> None:
    """A copy of a store shared read-only: WAL would need to write beside the file."""
    blobs = BlobStore(tmp_path)
    digest = blobs.put(b"evidence", sync=False)
    blobs.sync()
    blobs.close()
    subprocess.run([sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]);"
                    " c.execute('PRAGMA journal_mode=DELETE'); c.close()",
                    str(tmp_path / FILE_NAME)], check=True, timeout=60)  # as a copy would be
    import tracker.blob_pack as blob_pack

    monkeypatch.setattr(blob_pack, "_packs", {})  # a new process, as it were
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if os.fspath(path) == str(
        tmp_path) and mode == os.W_OK else real_access(path, mode))
    tmp_path.chmod(0o555)
    try:
        reader = BlobStore(tmp_path)
        assert reader.get(digest) == b"evidence" and reader.verify(digest) is None
        assert list(reader.all_digests()) == [digest]
        assert os.listdir(tmp_path) == [FILE_NAME]  # nothing written beside it (no WAL)
    finally:
        tmp_path.chmod(0o755)


def test_stores_of_one_folder_share_their_buffered_blobs_however_it_is_spelled(
        tmp_path: Path, monkeypatch) -> None:
    """A page's analysis makes its own store; the cycle's writer syncs through another."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "snapshots").mkdir()
    digest = BlobStore(Path("snapshots")).put(b"analyzed page", sync=False)
    BlobStore(tmp_path / "snapshots").sync()
    assert _committed(tmp_path / "snapshots") == {digest}


def test_pages_are_buffered_and_read_while_a_commit_waits_for_the_file(tmp_path: Path) -> None:
    """A commit waits for the disk or for another process's transaction; the event loop must
    not wait with it to buffer its next page. (Were it to wait, this test could only let the
    other transaction go after the commit had given up: the commit would fail.)"""
    import threading

    blobs = BlobStore(tmp_path)
    blobs.put(b"first page", sync=False)
    blobs.sync()
    waiting = blobs.put(b"second page", sync=False)
    other = sqlite3.connect(tmp_path / FILE_NAME, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another shard's commit holds the file
    outcome: list[str] = []

    def commit() -> None:
        try:
            blobs.sync()
            outcome.append("stored")
        except BlobError as exc:
            outcome.append(str(exc))

    committing = threading.Thread(target=commit)
    committing.start()
    try:
        time.sleep(0.3)  # let the commit reach the file and wait there
        third = blobs.put(b"third page", sync=False)
        assert blobs.get(waiting) == b"second page" and blobs.get(third) == b"third page"
    finally:
        other.execute("COMMIT")
        other.close()
        committing.join(60)
    assert outcome == ["stored"]
    blobs.sync()
    assert {waiting, third} <= _committed(tmp_path)
