"""Backfill from a local fake Wayback Machine: ordering, dedup, resume, provenance."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import select

from tests.fake_wayback import FakeWayback
from tests.pageserver import PageServer
from tests.test_check_pipeline import policy
from tracker.backfill import backfill
from tracker.check import run_checks
from tracker.config import parse_config
from tracker.history import versions_of
from tracker.models import Change, Snapshot, Version
from tracker.store import Store
from tracker.targets import enabled_targets, sync_config_targets

URL = "https://policies.example.test/privacy"


def make_env(tmp_path: Path, fake: FakeWayback, url: str = URL, source: str = "live"):
    config = parse_config({
        "fetch": {"per_host_delay": 0, "timeout": 5, "retries": 0},
        "wayback": {"base_url": fake.base_url, "cdx_rate": 10, "memento_rate": 100,
                    "pause_on_429": 0.2},
        "targets": [{"name": "acme", "url": url, "source": source}],
    }, tmp_path / "config.toml")
    store = Store.open(config)
    with store.session() as session:
        sync_config_targets(session, config)
        spec = enabled_targets(session)[0]
    return config, store, spec


def archive(fake: FakeWayback, url: str = URL) -> None:
    """Five captures, three distinct texts; tokens differ in every capture."""
    fake.add_capture(url, "20190110120000", body=policy("6 months", token="a").encode())
    fake.add_capture(url, "20190210120000", body=policy("6 months", token="b").encode())
    fake.add_capture(url, "20190310120000", body=policy("12 months", token="c").encode())
    fake.add_capture(url, "20190410120000", body=policy("12 months", token="d").encode())
    fake.add_capture(url, "20200101120000", body=policy("12 months", sell="may sell",
                                                        token="e").encode())


def texts(store: Store, spec) -> list[str]:
    with store.session() as session:
        return [store.blobs.get_text(v.text_sha256) for v in versions_of(session, spec.id)]


def test_backfill_records_distinct_versions_in_capture_order(tmp_path: Path) -> None:
    with FakeWayback() as fake:
        archive(fake)
        config, store, spec = make_env(tmp_path, fake)
        progress = asyncio.run(backfill(config, store, spec, every="all"))
    assert (progress.found, progress.fetched, progress.new_versions) == (5, 5, 3)
    with store.session() as session:
        versions = versions_of(session, spec.id)
        changes = list(session.exec(select(Change)))
        snapshots = list(session.exec(select(Snapshot)))
    assert [v.captured_at.strftime("%Y%m%d") for v in versions] == \
        ["20190110", "20190310", "20200101"]
    assert all(v.source == "wayback" for v in versions)
    assert len(changes) == 2 and all(c.alert_state == "suppressed" for c in changes)
    assert {"retention"} <= set(json.loads(changes[0].categories_json))
    assert all(s.memento_url and "id_/" in s.memento_url for s in snapshots)
    assert len(snapshots) == 5
    # Every capture after the first is stored as a delta on the first one's raw page.
    raws = [s.sha256 for s in sorted(snapshots, key=lambda s: s.captured_at)]
    assert [store.blobs.base_of(raw) for raw in raws] == [None] + [raws[0]] * 4


def test_backfill_lands_before_existing_live_versions(tmp_path: Path,
                                                      page_server: PageServer) -> None:
    live_url = page_server.url("/privacy")
    page_server.html("/privacy", policy("24 months", sell="may sell"))
    with FakeWayback() as fake:
        archive(fake, live_url)
        config, store, spec = make_env(tmp_path, fake, live_url)
        assert [o.result for o in run_checks(config, store, [spec])] == ["first_version"]
        asyncio.run(backfill(config, store, spec, every="all"))
    with store.session() as session:
        versions = versions_of(session, spec.id)
        changes = {c.to_version_id: c for c in session.exec(select(Change))}
    assert [v.source for v in versions] == ["wayback", "wayback", "wayback", "live"]
    live = versions[-1]
    # The live version's change now starts from the newest archived version.
    assert changes[live.id].from_version_id == versions[-2].id
    assert changes[live.id].alert_state == "suppressed"
    assert "24 months" in texts(store, spec)[-1]


def test_interrupted_backfill_resumes_without_loss_or_duplicates(tmp_path: Path) -> None:
    with FakeWayback() as fake:
        archive(fake)
        config, store, spec = make_env(tmp_path, fake)

        def stop_after_two(progress) -> None:
            if progress.fetched == 2:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            asyncio.run(backfill(config, store, spec, every="all", on_progress=stop_after_two))
        with store.session() as session:
            assert len(list(session.exec(select(Snapshot)))) == 2
        resumed = asyncio.run(backfill(config, store, spec, every="all"))
        mementos = [r for r in fake.requests if r.kind == "memento"]
    assert resumed.skipped == 2 and resumed.fetched == 3
    # Captures recorded before the interruption are never downloaded again (downloads that
    # were in flight when it stopped are simply redone).
    for recorded in ("20190110120000", "20190210120000"):
        assert sum(recorded in r.path for r in mementos) == 1
    with store.session() as session:
        assert len(list(session.exec(select(Snapshot)))) == 5
        assert len(versions_of(session, spec.id)) == 3
        assert len(list(session.exec(select(Change)))) == 2


def test_archived_error_page_is_quarantined(tmp_path: Path) -> None:
    with FakeWayback() as fake:
        fake.add_capture(URL, "20190110120000", body=policy().encode())
        fake.add_capture(URL, "20190210120000", status=404,
                         body=b"<html><body><h1>Not found</h1></body></html>")
        config, store, spec = make_env(tmp_path, fake)
        progress = asyncio.run(backfill(config, store, spec, every="all"))
    assert progress.quarantined == 1 and progress.new_versions == 1
    with store.session() as session:
        suspect = session.exec(select(Snapshot).where(Snapshot.quality == "suspect")).one()
        assert suspect.status == 404 and "404" in (suspect.quality_reason or "")
        assert len(list(session.exec(select(Version)))) == 1


def test_wayback_source_target_tracks_the_newest_capture(tmp_path: Path) -> None:
    with FakeWayback() as fake:
        fake.add_capture(URL, "20240110120000", body=policy().encode())
        config, store, spec = make_env(tmp_path, fake, source="wayback")
        assert [o.result for o in run_checks(config, store, [spec])] == ["first_version"]
        assert [o.result for o in run_checks(config, store, [spec])] == ["unchanged"]
        fake.add_capture(URL, "20240210120000", body=policy("30 days", token="z").encode())
        outcomes = run_checks(config, store, [spec])
    assert [o.result for o in outcomes] == ["new_version"] and outcomes[0].material
    with store.session() as session:
        change = session.exec(select(Change)).one()
    assert change.alert_state in ("pending", "queued")  # tracked via the archive: alerts


def test_blocked_site_is_one_clear_cli_error(tmp_path: Path) -> None:
    with FakeWayback() as fake:
        fake.block(URL)
        config_path = tmp_path / "config.toml"
        config_path.write_text(
            f'[wayback]\nbase_url = "{fake.base_url}"\ncdx_rate = 10\nmemento_rate = 100\n'
            f'[[targets]]\nname = "acme"\nurl = "{URL}"\n', encoding="utf-8")
        tracker = str(Path(sys.executable).with_name("tracker"))
        result = subprocess.run([tracker, "--config", str(config_path), "backfill", "acme"],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "Wayback Machine" in result.stderr and "Traceback" not in result.stderr


def test_cli_backfill_reports_counts(tmp_path: Path) -> None:
    with FakeWayback() as fake:
        archive(fake)
        config_path = tmp_path / "config.toml"
        config_path.write_text(
            f'[wayback]\nbase_url = "{fake.base_url}"\ncdx_rate = 10\nmemento_rate = 100\n'
            f'[[targets]]\nname = "acme"\nurl = "{URL}"\n', encoding="utf-8")
        tracker = str(Path(sys.executable).with_name("tracker"))
        result = subprocess.run([tracker, "--config", str(config_path), "backfill", "acme",
                                 "--from", "2019-01-01", "--to", "2019-12-31", "--every",
                                 "month"], capture_output=True, text=True, timeout=60)
        history = subprocess.run([tracker, "--config", str(config_path), "history", "acme",
                                  "--format", "json"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "4 captures found" in result.stdout and "2 new versions" in result.stdout
    rows = json.loads(history.stdout)
    assert [r["source"] for r in rows] == ["wayback", "wayback"]
    assert rows[0]["memento_url"] and rows[0]["captured_at"].startswith("2019-01-10")
