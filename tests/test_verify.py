"""`tracker verify`: what a damaged store looks like, what --repair rebuilds, what it cannot.

Damage is done the way it happens in real life: blob files deleted or overwritten on disk, rows
removed by hand with SQLite's foreign keys off. The store is filled in-process (fast); the
command itself runs through the installed `tracker` console script.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from sqlmodel import Session, select

from tests.blobtools import overwrite_stored, set_written
from tests.pageserver import PageServer
from tests.test_check_pipeline import policy
from tracker.blobs import sha256_hex
from tracker.check import run_checks
from tracker.config import Config, load_config
from tracker.models import Alert, Change, Snapshot, Target, Version
from tracker.store import Store
from tracker.targets import enabled_targets, sync_config_targets
from tracker.verify import repair_store, verify_store

TRACKER = str(Path(sys.executable).with_name("tracker"))
OLD = time.time() - 24 * 3600  # an mtime older than verify's repair grace period


class Tracked:
    """A store with targets a (3 versions), b and c (1 version each), and its config file."""

    def __init__(self, tmp_path: Path, server: PageServer) -> None:
        self.server = server
        self.path = tmp_path / "config.toml"
        targets = "".join(f"[[targets]]\nname = '{n}'\nurl = '{server.url('/' + n)}'\n"
                          for n in "abc")
        self.path.write_text("[fetch]\nper_host_delay = 0\ntimeout = 5\nretries = 0\n"
                             + targets, encoding="utf-8")
        self.config: Config = load_config(self.path)
        self.store = Store.open(self.config)
        with self.store.session() as session:
            sync_config_targets(session, self.config)
        for name in "abc":
            server.html("/" + name, policy(sell=f"do not sell ({name})"))
        self.check()
        for months in ("24 months", "36 months"):
            server.html("/a", policy(retention=months, sell="do not sell (a)"))
            self.check()
        self.db = self.config.database_url.removeprefix("sqlite:///")

    def check(self) -> None:
        with self.store.session() as session:
            specs = enabled_targets(session)
        run_checks(self.config, self.store, specs)

    def versions(self, name: str) -> list[Version]:
        with Session(self.store.engine) as session:
            target = session.exec(select(Target).where(Target.name == name)).one()
            return list(session.exec(select(Version).where(Version.target_id == target.id)
                                     .order_by(Version.captured_at, Version.id)))

    def snapshot(self, version: Version) -> Snapshot:
        with Session(self.store.engine) as session:
            snapshot = session.get(Snapshot, version.snapshot_id)
            assert snapshot is not None
            return snapshot

    def sql(self, *statements: str) -> None:
        """Damage rows by hand, as a person with the sqlite3 shell would (foreign keys off)."""
        with sqlite3.connect(self.db) as connection:
            connection.execute("PRAGMA foreign_keys=OFF")
            for statement in statements:
                connection.execute(statement)

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        result = subprocess.run([TRACKER, "--config", str(self.path), "verify", *args],
                                capture_output=True, text=True, timeout=90)
        assert "Traceback" not in result.stderr, result.stderr
        return result

    def cli_json(self, *args: str) -> tuple[int, dict]:
        result = self.cli("--format", "json", *args)
        return result.returncode, json.loads(result.stdout)


@pytest.fixture
def tracked(tmp_path: Path, page_server: PageServer) -> Tracked:
    return Tracked(tmp_path, page_server)


def kinds(data: dict) -> dict[str, list]:
    found: dict[str, list] = {}
    for issue in data["issues"]:
        found.setdefault(issue["kind"], []).append(issue["id"])
    return found


def test_healthy_store_exits_0(tracked: Tracked) -> None:
    result = tracked.cli()
    assert result.returncode == 0, result.stdout
    assert "checked 3 targets" in result.stdout and "5 versions, 2 changes" in result.stdout
    assert "ok: no problems found" in result.stdout
    code, data = tracked.cli_json()
    assert code == 0 and data["healthy"] is True and data["issues"] == []
    assert data["counts"]["versions"] == 5 and data["counts"]["orphan_blobs"] == 0


def test_orphan_blobs_and_temp_files_are_warnings_deleted_only_with_repair(
        tracked: Tracked) -> None:
    blobs = tracked.store.blobs
    orphan = blobs.put(b"written by a check that was killed before its transaction")
    shard = blobs.path(orphan).parent
    temp = shard / ".tmp-interrupted.z"
    temp.write_bytes(b"half a blob")
    result = tracked.cli()
    assert result.returncode == 0, result.stdout
    assert "orphan blobs: 1 (harmless" in result.stdout
    assert "temp_file" in result.stdout and "1 warning" not in result.stdout
    assert blobs.exists(orphan) and temp.exists()  # plain verify never deletes

    # Young leftovers may belong to a check in progress: --repair keeps them.
    repairs = repair_store(tracked.store, verify_store(tracked.store))
    assert {r.kind for r in repairs if not r.done} == {"orphan_blob", "temp_file"}
    assert blobs.exists(orphan) and temp.exists()

    os.utime(blobs.path(orphan), (OLD, OLD))
    os.utime(temp, (OLD, OLD))
    code, data = tracked.cli_json("--repair")
    assert code == 0
    assert kinds(data) == {"orphan_blob": [orphan], "temp_file": [str(temp.relative_to(
        blobs.root))]}
    assert all(issue["severity"] == "warning" for issue in data["issues"])
    assert all(r["done"] for r in data["repairs"]) and len(data["repairs"]) == 2
    assert data["after_repair"]["issues"] == []
    assert not blobs.exists(orphan) and not temp.exists()
    assert verify_store(tracked.store).issues == []


def test_an_orphan_bulk_blob_is_deleted_by_repair_once_it_is_old(tracked: Tracked) -> None:
    """A check killed between storing its blobs and committing its rows leaves them in
    blobs.sqlite3: an orphan like a blob file, deleted by --repair after the grace period."""
    blobs = tracked.store.blobs
    orphan = blobs.put(b"stored by a check that was killed before its rows", sync=False)
    blobs.sync()
    code, data = tracked.cli_json("--repair")
    assert kinds(data) == {"orphan_blob": [orphan]} and blobs.exists(orphan)  # young: kept
    set_written(blobs, orphan, OLD)
    code, data = tracked.cli_json("--repair")
    assert kinds(data) == {"orphan_blob": [orphan]} and data["after_repair"]["issues"] == []
    assert not blobs.exists(orphan)
    assert verify_store(tracked.store).issues == []


def test_an_unreadable_blob_file_is_reported_not_a_traceback(tracked: Tracked) -> None:
    tracked.store.close()
    (tracked.store.blobs.root / "blobs.sqlite3").write_bytes(b"overwritten by accident " * 500)
    result = tracked.cli()
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
    code, data = tracked.cli_json()
    found = kinds(data)
    assert found["blob_pack_unreadable"] == ["blobs.sqlite3"]
    assert len(found["raw_blob_missing"]) == 5  # every capture was stored in bulk


def test_an_orphan_that_a_kept_delta_is_stored_on_is_not_deleted(tracked: Tracked) -> None:
    blobs = tracked.store.blobs
    page = "<p>clause {}</p>" + "".join(f"<p>section {i} of a long policy</p>" for i in range(400))
    base = blobs.put(page.format(1).encode())
    delta = blobs.put(page.format(2).encode(), like=base)
    assert blobs.base_of(delta) == base
    for digest in (base, delta):
        os.utime(blobs.path(digest), (OLD, OLD))
    code, data = tracked.cli_json("--repair")
    assert kinds(data) == {"orphan_blob": [delta]}  # the base stays while the delta exists
    assert not blobs.exists(delta) and blobs.exists(base)
    code, data = tracked.cli_json("--repair")
    assert kinds(data) == {"orphan_blob": [base]} and not blobs.exists(base)
    assert verify_store(tracked.store).issues == []


def test_missing_and_corrupt_text_blobs_are_rederived_from_raw(tracked: Tracked) -> None:
    first, second, third = tracked.versions("a")
    blobs = tracked.store.blobs
    assert blobs.base_of(third.text_sha256) == first.text_sha256  # stored as a delta on it
    blobs.delete(first.text_sha256)
    overwrite_stored(blobs, second.text_sha256, zlib.compress(b"bit rot"))
    code, data = tracked.cli_json()
    assert code == 1 and data["healthy"] is False
    # The third text loses its base with the first: reported, and re-derived like the others.
    assert kinds(data) == {"text_blob_missing": [first.id],
                           "text_blob_corrupt": [second.id, third.id]}
    issue = data["issues"][0]
    assert issue["table"] == "versions" and issue["repairable"] is True
    assert "re-derives" in issue["detail"]
    (third_issue,) = [i for i in data["issues"] if i["id"] == third.id]
    assert f"a delta on blob {first.text_sha256[:12]}, which is damaged or missing" \
        in third_issue["detail"]

    result = tracked.cli("--repair")
    assert result.returncode == 0, result.stdout
    assert result.stdout.count("repaired: version") == 3
    for version in (first, second, third):
        assert blobs.verify(version.text_sha256) is None
    assert "12 months" in blobs.get_text(first.text_sha256)
    assert "36 months" in blobs.get_text(third.text_sha256)


def test_missing_raw_blob_is_reported_as_unrepairable(tracked: Tracked) -> None:
    (version,) = tracked.versions("b")
    snapshot = tracked.snapshot(version)
    blobs = tracked.store.blobs
    blobs.delete(snapshot.sha256)
    blobs.delete(version.text_sha256)  # ... and the text cannot come back without it
    result = tracked.cli("--repair")
    assert result.returncode == 1
    assert f"snapshot {snapshot.id} of b: raw blob {snapshot.sha256[:12]} is missing; " \
           "cannot be repaired" in result.stdout
    assert f"NOT repaired: version {version.id}: cannot re-derive its text: raw snapshot " \
           f"{snapshot.id} is unusable" in result.stdout
    assert "PROBLEMS: 2 error(s)" in result.stdout.splitlines()[-1]


def test_text_that_no_longer_normalizes_the_same_names_the_normalizer(tracked: Tracked) -> None:
    (version,) = tracked.versions("c")
    stale = sha256_hex(b"text made by an older normalizer")
    tracked.sql(f"UPDATE versions SET text_sha256 = '{stale}', normalizer_version = 0 "
                f"WHERE id = {version.id}")
    report = verify_store(tracked.store)
    assert [(i.kind, i.id) for i in report.errors] == [("text_blob_missing", version.id)]
    (repair,) = [r for r in repair_store(tracked.store, report) if r.table == "versions"]
    assert not repair.done
    assert "the normalizer changed (version made by normalizer 0" in repair.detail
    assert "tracker renormalize c" in repair.detail
    assert not verify_store(tracked.store).healthy


def test_orphan_rows_dangling_changes_and_missing_change(tracked: Tracked) -> None:
    first, middle, last = tracked.versions("a")
    (c_version,) = tracked.versions("c")
    with Session(tracked.store.engine) as session:
        dangling = sorted(c.id for c in session.exec(select(Change)))
    tracked.sql(
        f"DELETE FROM versions WHERE id = {middle.id}",  # both changes of a now dangle
        f"INSERT INTO alerts (kind, dedup_key, change_id, subject, recipients_json, body_text,"
        f" body_html, status, attempts, next_attempt_at, created_at) VALUES ('change', 'k', "
        f"{dangling[0]}, 's', '[]', '', '', 'sent', 1, '2024-01-01', '2024-01-01')",
        f"DELETE FROM snapshots WHERE id = {c_version.snapshot_id}",
        "INSERT INTO snapshots (target_id, source, url, final_url, headers_json, content_type,"
        " sha256, size, fetched_at, captured_at, quality) VALUES (999, 'live', 'u', 'u', '{}',"
        f" 'text/html', '{first.text_sha256}', 0, '2024-01-01', '2024-01-01', 'ok')",
    )
    code, data = tracked.cli_json()
    assert code == 1
    found = kinds(data)
    assert sorted(found.pop("dangling_change")) == dangling
    assert found.pop("missing_change") == [last.id]
    assert found.pop("version_without_snapshot") == [c_version.id]
    assert len(found.pop("snapshot_without_target")) == 1
    assert set(found) <= {"orphan_blob"}  # c's raw blob and a's middle text lost their rows
    by_kind = {i["kind"]: i for i in data["issues"]}
    assert by_kind["dangling_change"]["table"] == "changes"
    assert by_kind["version_without_snapshot"]["repairable"] is False

    code, data = tracked.cli_json("--repair")
    assert code == 1  # the lost snapshot and the foreign one cannot be repaired
    remaining = kinds(data["after_repair"])
    assert set(remaining) <= {"version_without_snapshot", "snapshot_without_target",
                              "orphan_blob"}
    with Session(tracked.store.engine) as session:
        changes = list(session.exec(select(Change)))
        alert = session.exec(select(Alert).where(Alert.dedup_key == "k")).one()
    assert [(c.from_version_id, c.to_version_id, c.alert_state) for c in changes] == \
        [(first.id, last.id, "suppressed")]  # recomputed, never mailed
    assert alert.change_id is None


def test_identical_consecutive_versions_are_an_error(tracked: Tracked) -> None:
    _, middle, last = tracked.versions("a")
    tracked.sql(f"UPDATE versions SET text_sha256 = '{middle.text_sha256}' WHERE id = {last.id}")
    result = tracked.cli()
    assert result.returncode == 1
    assert f"duplicate_version: a: version {last.id} has the same text as the version just " \
           f"before it ({middle.id})" in result.stdout
    assert "tracker renormalize a" in result.stdout


def test_blob_listing_does_not_include_temp_files(tmp_path: Path) -> None:
    """BUG in tracker/blobs.py BlobStore.all_digests: ``glob("*/*/*.z")`` also matches the
    ``.tmp-XXXX.z`` files of interrupted writes (pathlib globs match dot files), so they are
    listed as blobs named ``.tmp-XXXX``. tracker.verify filters them out; the fix belongs in
    all_digests (skip names starting with "." or that are not 64 hex digits)."""
    from tracker.blobs import BlobStore

    blobs = BlobStore(tmp_path)
    digest = blobs.put(b"x")
    (blobs.path(digest).parent / ".tmp-abc123.z").write_bytes(b"half")
    assert list(blobs.all_digests()) == [digest]
