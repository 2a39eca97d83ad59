"""Bulk recording: every row of a batch points at its own target's rows, whatever the order."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlmodel import select

from tests.test_check_pipeline import local_config, policy, synced_store
from tracker import direct
from tracker.check import run_checks
from tracker.models import Change, CheckLog, Snapshot, Target, Version
from tracker.record_bulk import insert_rows


def test_a_batch_links_each_targets_snapshot_version_change_and_log(tmp_path,
                                                                     page_server) -> None:
    paths = [f"/p{i}" for i in range(12)]
    for i, path in enumerate(paths):
        page_server.html(path, policy(retention=f"{i + 1} months", token=f"a{i}"))
    # Inline, one process: the whole cycle lands in one or two write batches.
    config = local_config(tmp_path, page_server, paths, workers=0)
    store, specs = synced_store(config)
    assert {o.result for o in run_checks(config, store, specs)} == {"first_version"}
    for i, path in enumerate(paths):
        page_server.html(path, policy(retention=f"{i + 13} months", token=f"b{i}"))
    assert {o.result for o in run_checks(config, store, specs)} == {"new_version"}

    with store.session() as session:
        number = {t.id: int(t.name.lstrip("p")) for t in session.exec(select(Target))}
        snapshots = {s.id: s for s in session.exec(select(Snapshot))}
        versions = {v.id: v for v in session.exec(select(Version))}
        changes = list(session.exec(select(Change)))
        logs = list(session.exec(select(CheckLog)))
    assert len(snapshots) == len(versions) == 24 and len(changes) == 12 and len(logs) == 24
    for version in versions.values():
        snapshot = snapshots[version.snapshot_id]
        assert snapshot.target_id == version.target_id
        raw = store.blobs.get(snapshot.sha256).decode()
        i = number[version.target_id]
        assert f"for {i + 1} months" in raw or f"for {i + 13} months" in raw  # its own page
    for change in changes:
        i = number[change.target_id]
        old, new = versions[change.from_version_id], versions[change.to_version_id]
        assert old.target_id == new.target_id == change.target_id
        assert f"for {i + 13} months" in store.blobs.get(snapshots[new.snapshot_id].sha256).decode()
        found = {(f["old"], f["new"]) for f in json.loads(change.comparison_json)["findings"]
                 if f["category"] == "retention"}
        assert (f"P{i + 1}M", f"P{i + 13}M") in found
    for log in logs:
        assert snapshots[log.snapshot_id].target_id == log.target_id


def test_rows_the_key_cannot_tell_apart_still_get_their_ids_in_order(tmp_path,
                                                                    page_server) -> None:
    page_server.html("/p", policy())
    store, specs = synced_store(local_config(tmp_path, page_server, ["/p"]))
    now = datetime.now(UTC)
    rows = [{"target_id": specs[0].id, "checked_at": now, "result": result, "detail": None,
             "snapshot_id": None} for result in ("a", "b", "c")]
    with direct.connection(store) as db, db.transaction(write=True):
        ids = insert_rows(db, "check_log", rows, "target_id")  # one key for all three
        unique = insert_rows(db, "check_log", [dict(rows[0], target_id=specs[0].id)],
                             "target_id")
    with store.session() as session:
        result_of = {log.id: log.result for log in session.exec(select(CheckLog))}
    assert [result_of[i] for i in ids] == ["a", "b", "c"]
    assert result_of[unique[0]] == "a"
