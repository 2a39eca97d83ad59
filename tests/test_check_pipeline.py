"""The check pipeline end to end against a real local HTTP server."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlmodel import select

from tests.pageserver import PageServer, Request
from tracker.check import run_checks
from tracker.config import parse_config
from tracker.models import Change, CheckLog, FetchState, Snapshot, Target, Version
from tracker.store import Store
from tracker.targets import enabled_targets, sync_config_targets

FILLER = " ".join(f"Clause {i}: we describe how personal information is handled here."
                  for i in range(12))


def policy(retention: str = "12 months", token: str = "t0", sell: str = "do not sell",
           banner: str = "b0", charset_meta: str = "") -> str:
    return f"""<!doctype html><html><head>{charset_meta}<title>Privacy</title>
<script>var sid="{token}";</script></head><body>
<nav><a href="/?sid={token}">Home</a></nav>
<div class="cookie-banner">Cookies! id {banner} <button>Accept</button></div>
<main><h1>Privacy Policy</h1><p>Last updated: May 24, 2018</p>
<h2>Retention</h2><p>We retain server logs for {retention}.</p>
<h2>Sharing</h2><p>We {sell} your personal information.</p>
<h2>More</h2><p>{FILLER}</p></main>
<footer>© 2024 Example <a href="/x?utm_source={token}">x</a></footer></body></html>"""


class Env:
    def __init__(self, tmp_path: Path, server: PageServer, paths: list[str]) -> None:
        self.config = parse_config({
            "fetch": {"per_host_delay": 0, "timeout": 1.5, "retries": 1, "backoff": 0.01,
                      "max_retry_after": 2},
            "targets": [{"name": p.strip("/").replace("/", "-") or "root",
                         "url": server.url(p)} for p in paths],
        }, tmp_path / "config.toml")
        self.store = Store.open(self.config)
        with self.store.session() as session:
            sync_config_targets(session, self.config)

    def check(self) -> dict[str, str]:
        with self.store.session() as session:
            specs = enabled_targets(session)
        return {o.target: o.result for o in run_checks(self.config, self.store, specs)}

    def rows(self, model):
        with self.store.session() as session:
            return list(session.exec(select(model)))


@pytest.fixture
def env_factory(tmp_path: Path, page_server: PageServer):
    return lambda paths: Env(tmp_path, page_server, paths)


def local_config(tmp_path: Path, server: PageServer, paths: list[str], **fetch):
    """A config watching ``paths`` of the local server at full speed (``fetch`` overrides)."""
    return parse_config({
        "fetch": {"per_host_delay": 0, "timeout": 5, "retries": 1, **fetch},
        "targets": [{"name": p.strip("/"), "url": server.url(p)} for p in paths],
    }, tmp_path / "config.toml")


def synced_store(config) -> tuple[Store, list]:
    """A store whose targets are the config's, and those targets as the pipeline takes them."""
    store = Store.open(config)
    with store.session() as session:
        sync_config_targets(session, config)
        specs = enabled_targets(session)
    return store, specs


def test_first_check_unchanged_then_material_change(page_server, env_factory) -> None:
    page_server.html("/p", policy())
    env = env_factory(["/p"])
    assert env.check() == {"p": "first_version"}
    page_server.html("/p", policy(token="t1", banner="b1"))  # rotating tokens, banner ids
    assert env.check() == {"p": "unchanged"}
    assert len(env.rows(Version)) == 1 and len(env.rows(Snapshot)) == 1
    page_server.html("/p", policy(retention="24 months", sell="may sell", token="t2"))
    assert env.check() == {"p": "new_version"}
    versions, changes = env.rows(Version), env.rows(Change)
    assert len(versions) == 2 and len(changes) == 1
    change = changes[0]
    assert change.material and change.alert_state in ("pending", "queued")
    assert {"retention", "sharing"} <= set(json.loads(change.categories_json))
    comparison = json.loads(change.comparison_json)
    retention = [f for f in comparison["findings"] if f["category"] == "retention"]
    assert retention and (retention[0]["old"], retention[0]["new"]) == ("P12M", "P24M")


def test_a_new_version_is_stored_as_deltas_on_the_previous_one(page_server,
                                                                env_factory) -> None:
    page_server.html("/p", policy())
    env = env_factory(["/p"])
    env.check()
    page_server.html("/p", policy(retention="24 months", token="t1"))
    assert env.check() == {"p": "new_version"}
    blobs = env.store.blobs
    (old_snap, new_snap), (old_ver, new_ver) = env.rows(Snapshot), env.rows(Version)
    assert blobs.base_of(new_snap.sha256) == old_snap.sha256
    assert blobs.base_of(new_ver.text_sha256) == old_ver.text_sha256
    assert blobs.get(new_snap.sha256) == policy(retention="24 months", token="t1").encode()
    assert "24 months" in blobs.get_text(new_ver.text_sha256)


def test_a_lost_previous_text_quarantines_that_page_only_until_repaired(page_server,
                                                                         env_factory) -> None:
    from tracker.verify import repair_store, verify_store

    page_server.html("/a", policy(sell="do not sell (a)"))
    page_server.html("/b", policy(sell="do not sell (b)"))
    env = env_factory(["/a", "/b"])
    env.check()
    name_of = {t.id: t.name for t in env.rows(Target)}
    text_of = {name_of[v.target_id]: v.text_sha256 for v in env.rows(Version)}
    env.store.blobs.delete(text_of["a"])
    page_server.html("/a", policy(retention="24 months", sell="do not sell (a)"))
    page_server.html("/b", policy(retention="24 months", sell="do not sell (b)"))
    outcomes = env.check()
    assert outcomes == {"a": "quarantined", "b": "new_version"}  # the cycle goes on
    (log,) = [row for row in env.rows(CheckLog) if row.result == "quarantined"]
    assert f"blob {text_of['a'][:12]} is missing" in log.detail
    assert "tracker verify --repair" in log.detail
    repair_store(env.store, verify_store(env.store))
    assert env.check() == {"a": "new_version", "b": "unchanged"}


def test_a_page_that_trips_a_bug_fails_alone(page_server, env_factory, monkeypatch) -> None:
    import tracker.check

    real = tracker.check.analyze_page

    def buggy(job):
        if job.result.url.endswith("/bad"):
            raise RecursionError("maximum recursion depth exceeded")
        return real(job)

    monkeypatch.setattr(tracker.check, "analyze_page", buggy)
    page_server.html("/bad", policy())
    page_server.html("/good", policy())
    env = env_factory(["/bad", "/good"])
    assert env.check() == {"bad": "failed", "good": "first_version"}
    (log,) = [row for row in env.rows(CheckLog) if row.result == "failed"]
    assert log.detail == ("internal error while analyzing the page: RecursionError: maximum "
                          "recursion depth exceeded")


def test_a_failed_orm_write_retries_only_its_own_pages(page_server, env_factory,
                                                      monkeypatch) -> None:
    """New texts are written in plain SQL, failures through the ORM, in two transactions: when
    the second fails, the first's pages are recorded already and keep their outcome."""
    import tracker.check_orm

    real = tracker.check_orm.record_one_by_one
    raised = []

    def flaky(config, store, batch):  # type: ignore[no-untyped-def]
        if len(batch) > 1:
            raised.append(len(batch))
            raise RuntimeError("the ORM transaction failed")
        return real(config, store, batch)

    monkeypatch.setattr(tracker.check_orm, "record_one_by_one", flaky)
    for path in ("/a", "/b"):
        page_server.html(path, policy())
    for path in ("/x", "/y"):
        page_server.routes[path] = lambda _request: (500, {}, b"oops")
    env = env_factory(["/a", "/b", "/x", "/y"])
    assert env.check() == {"a": "first_version", "b": "first_version", "x": "quarantined",
                           "y": "quarantined"}
    assert raised == [2]  # one batch; its two failures were retried one at a time
    assert len(env.rows(Version)) == 2 and len(env.rows(CheckLog)) == 4


def test_a_selected_block_swapped_by_class_is_a_new_version(tmp_path, page_server) -> None:
    # Tags and texts stay put; only which <div> carries the selected class moves. The
    # fingerprint must not call that unchanged.
    def page(a: str, b: str) -> str:
        return (f"<html><body><main><div class='{a}'><p>We keep server logs for a year.</p>"
                f"<p>{FILLER}</p></div><div class='{b}'><p>We sell your personal information "
                f"to brokers.</p><p>{FILLER}</p></div></main></body></html>")

    page_server.html("/p", page("policy", "other"))
    config = parse_config({"fetch": {"per_host_delay": 0, "timeout": 5, "retries": 0},
                           "targets": [{"name": "p", "url": page_server.url("/p"),
                                        "select": [".policy"]}]}, tmp_path / "config.toml")
    store, specs = synced_store(config)
    assert [o.result for o in run_checks(config, store, specs)] == ["first_version"]
    assert [o.result for o in run_checks(config, store, specs)] == ["unchanged"]
    page_server.html("/p", page("other", "policy"))
    assert [o.result for o in run_checks(config, store, specs)] == ["new_version"]


def test_a_stored_target_with_a_bad_selector_fails_with_the_reason(tmp_path, page_server,
                                                                   caplog) -> None:
    # Config and `tracker add` reject such selectors; a row written before they did, or by
    # hand, still gets a plain reason rather than an "internal error" and a traceback.
    page_server.html("/p", policy())
    config = local_config(tmp_path, page_server, ["/p"])
    store, _ = synced_store(config)
    with store.session() as session:
        target = session.exec(select(Target)).one()
        target.select_json = '["div >"]'
        session.add(target)
    with store.session() as session:
        specs = enabled_targets(session)
    (outcome,) = run_checks(config, store, specs)
    assert outcome.result == "failed"
    assert outcome.detail.startswith("target p: invalid CSS selector 'div >'")
    assert "Traceback" not in caplog.text


def test_a_first_version_does_not_load_the_semantic_engine(tmp_path) -> None:
    # ~60 ms per process of a first cycle: a first version needs only the date extractor.
    script = f"""
import sys
from datetime import UTC, datetime
from tracker.analysis import PageJob, analyze_page
from tracker.fetch import FetchResult
page = {policy()!r}.encode()
result = FetchResult("http://x/", "http://x/", 200, {{}}, "text/html", "utf-8", page,
                     datetime.now(UTC), 0.0)
analysis = analyze_page(PageJob(result, (), (), {str(tmp_path)!r}))
assert analysis.ok and analysis.effective_date == "2018-05-24", analysis
print("tracker.compare.semantic" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


def test_etag_304_is_unchanged_and_conditional(page_server, env_factory) -> None:
    body = policy().encode()

    def handler(request: Request):
        if request.headers.get("if-none-match") == '"v1"':
            return 304, {"ETag": '"v1"'}, b""
        return 200, {"Content-Type": "text/html; charset=utf-8", "ETag": '"v1"'}, body

    page_server.routes["/e"] = handler
    env = env_factory(["/e"])
    assert env.check() == {"e": "first_version"}
    assert env.check() == {"e": "not_modified"}
    assert page_server.requests[-1].headers.get("if-none-match") == '"v1"'


def _etag_route(page_server: PageServer, path: str, body: str) -> None:
    """Serve ``body`` with a fixed ETag, answering 304 to a request that sends it back."""
    data = body.encode()

    def handler(request: Request):
        if request.headers.get("if-none-match") == '"v1"':
            return 304, {"ETag": '"v1"'}, b""
        return 200, {"Content-Type": "text/html; charset=utf-8", "ETag": '"v1"'}, data

    page_server.routes[path] = handler


def _checked_with(tmp_path, page_server, **target) -> list:
    """Sync a config of one target ``/e`` with ``target``'s settings, then check it."""
    config = parse_config({"fetch": {"per_host_delay": 0, "timeout": 5, "retries": 0},
                           "targets": [{"name": "e", "url": page_server.url("/e"), **target}]},
                          tmp_path / "config.toml")
    store, specs = synced_store(config)
    try:
        return run_checks(config, store, specs)
    finally:
        store.close()


def test_edited_selectors_apply_at_once_and_their_change_is_not_alerted(tmp_path,
                                                                        page_server) -> None:
    # The server would answer 304 to the stored ETag; the edited selectors must still be
    # applied, and the text they remove is the user's doing, not the policy's.
    _etag_route(page_server, "/e",
                policy().replace("<h2>Sharing</h2><p>", "<h2>Sharing</h2><p class='sharing'>"))
    assert [o.result for o in _checked_with(tmp_path, page_server)] == ["first_version"]
    assert [o.result for o in _checked_with(tmp_path, page_server)] == ["not_modified"]
    (outcome,) = _checked_with(tmp_path, page_server, remove=[".sharing"])
    assert page_server.requests[-1].headers.get("if-none-match") is None
    assert outcome.result == "new_version"
    assert outcome.summary.startswith("after a change of the target's URL or selectors")
    store = Store.open(parse_config({}, tmp_path / "config.toml"))
    with store.session() as session:
        (change,) = session.exec(select(Change)).all()
        state = session.exec(select(FetchState)).one()
    assert change.alert_state == "suppressed"
    assert state.etag == '"v1"' and len(state.last_fingerprint or "") == 64
    assert [o.result for o in _checked_with(tmp_path, page_server, remove=[".sharing"])] == \
        ["not_modified"]


def test_an_edit_while_failing_is_not_alerted_either(tmp_path, page_server) -> None:
    # A target in a failure streak is recorded one at a time (the ORM path), not in bulk.
    body = policy().replace("<h2>Sharing</h2><p>", "<h2>Sharing</h2><p class='sharing'>")
    _etag_route(page_server, "/e", body)
    assert [o.result for o in _checked_with(tmp_path, page_server)] == ["first_version"]
    page_server.html("/e", "oops", status=500)
    assert [o.result for o in _checked_with(tmp_path, page_server)] == ["quarantined"]
    _etag_route(page_server, "/e", body)
    (outcome,) = _checked_with(tmp_path, page_server, remove=[".sharing"])
    assert outcome.result == "new_version"
    assert outcome.summary.startswith("after a change of the target's URL or selectors")
    store = Store.open(parse_config({}, tmp_path / "config.toml"))
    with store.session() as session:
        assert session.exec(select(Change.alert_state)).all() == ["suppressed"]


def test_narrowing_selectors_is_not_a_length_collapse(tmp_path, page_server) -> None:
    # Picking one section of a long page is what selectors are for: the first check after the
    # edit compares lengths with a version read the old way, so it must not quarantine.
    _etag_route(page_server, "/e", f"<html><body><main><section id='a'><h1>Privacy</h1>"
                f"<p>{FILLER}</p></section><section id='b'><p>{FILLER * 4}</p></section>"
                "</main></body></html>")
    assert [o.result for o in _checked_with(tmp_path, page_server)] == ["first_version"]
    (outcome,) = _checked_with(tmp_path, page_server, select=["#a"])
    assert outcome.result == "new_version", outcome.detail
    assert outcome.summary.startswith("after a change of the target's URL or selectors")


def test_edits_that_do_not_change_what_is_read_keep_the_validators(tmp_path,
                                                                   page_server) -> None:
    _etag_route(page_server, "/e", policy())
    assert [o.result for o in _checked_with(tmp_path, page_server)] == ["first_version"]
    outcomes = _checked_with(tmp_path, page_server, tags=["gdpr"], schedule="1d")
    assert [o.result for o in outcomes] == ["not_modified"]
    assert page_server.requests[-1].headers.get("if-none-match") == '"v1"'


def test_redirect_is_followed_and_recorded(page_server, env_factory) -> None:
    page_server.routes["/old"] = lambda r: (301, {"Location": "/new"}, b"")
    page_server.html("/new", policy())
    env = env_factory(["/old"])
    assert env.check() == {"old": "first_version"}
    snapshot = env.rows(Snapshot)[0]
    assert snapshot.final_url.endswith("/new") and snapshot.url.endswith("/old")


@pytest.mark.parametrize("status", [404, 500])
def test_error_status_is_quarantined_not_a_version(page_server, env_factory, status) -> None:
    page_server.html("/p", policy())
    env = env_factory(["/p"])
    env.check()
    page_server.html("/p", "<html><body><h1>Not here</h1></body></html>", status=status)
    assert env.check() == {"p": "quarantined"}
    assert len(env.rows(Version)) == 1 and not env.rows(Change)
    state = env.rows(FetchState)[0]
    assert state.consecutive_failures == 1 and f"HTTP {status}" in (state.last_error or "")
    suspect = [s for s in env.rows(Snapshot) if s.quality == "suspect"]
    assert len(suspect) == 1 and suspect[0].status == status
    assert suspect[0].size == len(b"<html><body><h1>Not here</h1></body></html>")
    page_server.html("/p", policy(token="again"))
    assert env.check() == {"p": "unchanged"}
    assert env.rows(FetchState)[0].consecutive_failures == 0


def test_429_with_retry_after_is_retried(page_server, env_factory) -> None:
    calls = {"n": 0}
    body = policy().encode()

    def handler(request: Request):
        calls["n"] += 1
        if calls["n"] == 1:
            return 429, {"Retry-After": "1"}, b"slow down"
        return 200, {"Content-Type": "text/html"}, body

    page_server.routes["/r"] = handler
    env = env_factory(["/r"])
    started = time.monotonic()
    assert env.check() == {"r": "first_version"}
    assert calls["n"] == 2 and time.monotonic() - started >= 0.9


def test_timeout_is_a_recorded_failure(page_server, env_factory) -> None:
    def slow(request: Request):
        time.sleep(3)
        return 200, {"Content-Type": "text/html"}, policy().encode()

    page_server.routes["/slow"] = slow
    env = env_factory(["/slow"])
    assert env.check() == {"slow": "failed"}
    assert not env.rows(Version)
    log = env.rows(CheckLog)
    assert log and log[0].result == "failed" and log[0].detail


def test_bot_wall_is_quarantined(page_server, env_factory) -> None:
    page_server.html("/p", policy())
    env = env_factory(["/p"])
    env.check()
    page_server.html("/p", "<html><head><title>Just a moment...</title></head><body>"
                     "<div id='cf-challenge-running'>Checking your browser before accessing "
                     "example.com.</div><script src='/cdn-cgi/challenge-platform/x.js'>"
                     "</script></body></html>", status=403)
    assert env.check() == {"p": "quarantined"}
    page_server.html("/p", "<html><head><title>Just a moment...</title></head><body>"
                     "<div id='cf-challenge-running'>Checking your browser.</div>"
                     "<script src='/cdn-cgi/challenge-platform/x.js'></script></body></html>")
    assert env.check() == {"p": "quarantined"}
    assert len(env.rows(Version)) == 1
    assert "bot wall" in (env.rows(FetchState)[0].last_error or "").lower() or \
        "challenge" in (env.rows(FetchState)[0].last_error or "").lower()


def test_wrong_and_missing_charset(page_server, env_factory) -> None:
    text = policy(retention="12 months — données")
    page_server.routes["/latin"] = lambda r: (200, {"Content-Type": "text/html; charset=utf-8"},
                                              text.encode("latin-1", errors="replace"))
    page_server.routes["/none"] = lambda r: (200, {"Content-Type": "text/html"},
                                             text.encode("utf-8"))
    env = env_factory(["/latin", "/none"])
    assert env.check() == {"latin": "first_version", "none": "first_version"}
    texts = {}
    with env.store.session() as session:
        for version in session.exec(select(Version)):
            texts[version.target_id] = env.store.blobs.get_text(version.text_sha256)
    assert all("données" in t for t in texts.values())


def test_non_html_body_is_quarantined(page_server, env_factory) -> None:
    page_server.routes["/pdf"] = lambda r: (200, {"Content-Type": "application/pdf"},
                                            b"%PDF-1.7\n" + bytes(range(256)) * 40)
    env = env_factory(["/pdf"])
    assert env.check() == {"pdf": "quarantined"}
    assert not env.rows(Version)
    assert "pdf" in (env.rows(FetchState)[0].last_error or "").lower()


def test_unreachable_host_is_a_failure_not_a_crash(tmp_path) -> None:
    config = parse_config({"fetch": {"timeout": 1, "retries": 0},
                           "targets": [{"name": "gone", "url": "http://127.0.0.1:9/x"}]},
                          tmp_path / "config.toml")
    store, specs = synced_store(config)
    outcomes = run_checks(config, store, specs)
    assert [o.result for o in outcomes] == ["failed"]
    assert outcomes[0].detail


def test_large_cycle_runs_in_shards_and_records_everything_once(tmp_path, page_server) -> None:
    # 90 targets with [fetch] workers = 2: this process checks one shard, a forked one the
    # other, both writing to the same database.
    paths = [f"/p{i}" for i in range(90)]
    for i, path in enumerate(paths):
        page_server.html(path, policy(token=f"a{i}"))
    config = local_config(tmp_path, page_server, paths, backoff=0.01, workers=2, concurrency=8,
                          per_host_concurrency=8)
    store = Store.open(config)
    with store.session() as session:
        sync_config_targets(session, config)

    def cycle() -> dict[str, str]:
        with store.session() as session:
            specs = enabled_targets(session)
        seen: list[str] = []
        outcomes = run_checks(config, store, specs, lambda o: seen.append(o.target))
        assert sorted(seen) == sorted(o.target for o in outcomes)  # every outcome streamed
        return {o.target: o.result for o in outcomes}

    from tracker.shards import shard_count

    assert shard_count(config, len(paths)) == 2
    assert set(cycle().values()) == {"first_version"}
    for i, path in enumerate(paths):
        page_server.html(path, policy(token=f"b{i}", banner=f"id-{i}"))
    assert set(cycle().values()) == {"unchanged"}
    for i, path in enumerate(paths[:30]):
        page_server.html(path, policy(retention="24 months", token=f"c{i}"))
    page_server.html(paths[-1], "<html><body>gone</body></html>", status=500)
    results = cycle()
    assert len(results) == 90
    assert [results[p.strip("/")] for p in paths[:30]] == ["new_version"] * 30
    assert results["p89"] == "quarantined"
    with store.session() as session:
        versions = list(session.exec(select(Version)))
        changes = list(session.exec(select(Change)))
    assert len(versions) == 120 and len(changes) == 30
    assert len({(v.target_id, v.text_sha256) for v in versions}) == 120  # no duplicates
    with store.session() as session:
        sizes = {s.size for s in session.exec(select(Snapshot)) if s.quality == "ok"}
    assert sizes == {len(policy(token=f"a{i}").encode()) for i in range(90)} | {
        len(policy(retention="24 months", token=f"c{i}").encode()) for i in range(30)}


def test_a_cycle_holds_a_fixed_crew_of_tasks_not_one_per_target(tmp_path, page_server) -> None:
    """Memory must not grow with the number of targets: work is pulled by a fixed crew."""
    import asyncio

    from tracker.check import Checker

    paths = [f"/crew{i}" for i in range(120)]
    for i, path in enumerate(paths):
        page_server.html(path, policy(token=f"k{i}"))
    config = local_config(tmp_path, page_server, paths, workers=1, concurrency=2,
                          per_host_concurrency=2)
    store, specs = synced_store(config)
    peak = 0

    def on_done(_outcome) -> None:
        nonlocal peak
        peak = max(peak, len(asyncio.all_tasks()))

    outcomes = asyncio.run(Checker(config, store).check_many(specs, on_done))
    assert sorted(o.target for o in outcomes) == sorted(p.strip("/") for p in paths)
    assert {o.result for o in outcomes} == {"first_version"}
    assert 0 < peak <= 8  # the crew of 4 (2 x concurrency), the writer and the caller


def test_previous_state_is_read_a_chunk_at_a_time(tmp_path, page_server, monkeypatch) -> None:
    """Validators and latest versions are read per chunk as the crew reaches it, and every
    target still gets its own."""
    import asyncio

    from tracker import check

    paths = [f"/chunk{i}" for i in range(23)]

    def page(i: int):
        def handler(request: Request):
            if request.headers.get("if-none-match") == f'"e{i}"':
                return 304, {"ETag": f'"e{i}"'}, b""
            return 200, {"Content-Type": "text/html; charset=utf-8", "ETag": f'"e{i}"'}, \
                policy(token=f"c{i}").encode()
        return handler

    for i, path in enumerate(paths):
        page_server.routes[path] = page(i)
    config = local_config(tmp_path, page_server, paths, workers=1, concurrency=4,
                          per_host_concurrency=4)
    store, specs = synced_store(config)
    monkeypatch.setattr(check, "_PREVIOUS_CHUNK", 5)
    reads: list[int] = []
    load = check.Checker._load_previous

    def counting_load(self, target_ids):
        reads.append(len(target_ids))
        return load(self, target_ids)

    monkeypatch.setattr(check.Checker, "_load_previous", counting_load)
    first = asyncio.run(check.Checker(config, store).check_many(specs))
    assert {o.result for o in first} == {"first_version"}
    assert reads == [5, 5, 5, 5, 3]
    second = asyncio.run(check.Checker(config, store).check_many(specs))
    # Each page answers 304 only to its own ETag: every target was paired with its own state.
    assert sorted(o.target for o in second) == sorted(p.strip("/") for p in paths)
    assert {o.result for o in second} == {"not_modified"}


def test_hosts_take_turns_so_one_sites_delays_do_not_hold_the_others(tmp_path) -> None:
    """Five pages of site A listed before site B: B's first request must not wait for A's
    politeness delays (with A's pages first in line, every worker would be queued on A)."""
    import asyncio

    from tracker.check import Checker

    site_a, site_b = PageServer().start(), PageServer().start()
    arrivals: list[str] = []
    try:
        for name, server, count in (("a", site_a, 5), ("b", site_b, 2)):
            for i in range(count):
                body = policy(token=f"{name}{i}").encode()

                def handler(_request, name=name, i=i, body=body):
                    arrivals.append(f"{name}{i}")
                    return 200, {"Content-Type": "text/html; charset=utf-8"}, body

                server.routes[f"/{name}{i}"] = handler
        targets = [{"name": f"a{i}", "url": site_a.url(f"/a{i}")} for i in range(5)] + \
                  [{"name": f"b{i}", "url": site_b.url(f"/b{i}")} for i in range(2)]
        config = parse_config({
            "fetch": {"per_host_delay": 0.4, "timeout": 5, "retries": 0, "workers": 1,
                      "concurrency": 2, "per_host_concurrency": 1},
            "targets": targets,
        }, tmp_path / "config.toml")
        store, specs = synced_store(config)
        assert [s.name for s in specs][:5] == [f"a{i}" for i in range(5)]
        outcomes = asyncio.run(Checker(config, store).check_many(specs))
    finally:
        site_a.stop()
        site_b.stop()
    assert {o.result for o in outcomes} == {"first_version"} and len(outcomes) == 7
    assert arrivals.index("b0") < arrivals.index("a1")


def test_pages_whose_blobs_cannot_be_stored_fail_loudly_and_are_recorded_later(
        page_server, env_factory) -> None:
    """A full disk or an unwritable blobs.sqlite3: no version may name blobs that are not
    stored, the cycle goes on, the check log says why, and the next good check records it."""
    page_server.html("/a", policy(sell="do not sell (a)"))
    env = env_factory(["/a"])
    blocker = env.store.blobs.root / "blobs.sqlite3"
    blocker.mkdir()  # SQLite cannot open a folder: every commit of blobs fails
    assert env.check() == {"a": "failed"}
    (log,) = env.rows(CheckLog)
    assert "the page could not be stored: cannot store blobs in" in log.detail
    assert env.rows(Version) == [] and env.rows(Snapshot) == []
    blocker.rmdir()
    assert env.check() == {"a": "first_version"}
    (version,) = env.rows(Version)
    assert env.store.blobs.verify(version.text_sha256) is None


def test_a_failed_blob_commit_costs_its_batch_only_never_a_later_pages_blobs(
        page_server, env_factory, monkeypatch) -> None:
    """Pages analyzed while a batch's blobs fail to commit are recorded in the next batch:
    their blobs must still be stored then (a version must never name a missing blob)."""
    from tracker.blob_pack import BlobPack
    from tracker.verify import verify_store

    paths = [f"/p{i}" for i in range(12)]
    for path in paths:
        page_server.html(path, policy(sell=f"do not sell ({path})"))
    env = env_factory(paths)
    commit, calls = BlobPack.commit, []

    def first_commit_fails(self) -> None:
        calls.append(1)
        if len(calls) == 1:
            time.sleep(0.3)  # other pages are analyzed, their blobs buffered, meanwhile
            raise sqlite3.OperationalError("disk I/O error")
        commit(self)

    monkeypatch.setattr(BlobPack, "commit", first_commit_fails)
    outcomes = env.check()
    failed = {name for name, result in outcomes.items() if result == "failed"}
    assert failed and len(calls) > 1, outcomes
    assert set(outcomes.values()) <= {"failed", "first_version"}
    assert len(env.rows(Version)) == len(paths) - len(failed)
    assert [i for i in verify_store(env.store).issues if i.severity == "error"] == []
    monkeypatch.setattr(BlobPack, "commit", commit)
    assert set(env.check().values()) <= {"first_version", "unchanged"}
    assert len(env.rows(Version)) == len(paths)
