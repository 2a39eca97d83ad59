"""The daemon: scheduling math in-process, then the REAL scheduler in a subprocess.

The subprocess tests run `tracker --config ... daemon` with 1-second schedules against the
local page server and a local SMTP server, and talk to it only as an operator would: signals,
the database, the mail that arrives, and its stderr log.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.pageserver import PageServer, Request
from tests.smtp_server import SmtpSink, parts
from tests.test_alerts import MAY_SELL, policy_page
from tracker.daemon_lock import DaemonLock, LockError
from tracker.daemon_log import LogfmtFormatter, event, quote
from tracker.daemon_plan import plan_first_runs, previous_boundary
from tracker.schedule import parse_schedule
from tracker.store import make_engine

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


# --- scheduling math ------------------------------------------------------------------------

def test_restart_keeps_due_times_and_spreads_overdue_checks() -> None:
    plans = {p.target_id: p for p in plan_first_runs([
        (1, "6h", NOW - timedelta(hours=2)),     # checked 2 h ago: next in 4 h
        (2, "1d", NOW - timedelta(hours=30)),    # overdue by 6 h
        (3, "1d", NOW - timedelta(hours=25)),    # overdue by 1 h
        (4, "15m", None),                        # never checked
        (5, "0 6 * * *", NOW - timedelta(hours=3)),  # cron: checked at 09:00, next 06:00
    ], NOW)}
    assert plans[1].first_run == NOW + timedelta(hours=4) and not plans[1].overdue
    assert plans[5].first_run == datetime(2024, 5, 2, 6, 0, tzinfo=UTC)
    overdue = sorted((plans[i] for i in (2, 3, 4)), key=lambda p: p.first_run)
    # Never checked first, then most overdue first; spread over the window, none in the past.
    assert [p.target_id for p in overdue] == [4, 2, 3]
    assert all(p.overdue for p in overdue)
    assert overdue[0].first_run == NOW
    gaps = [(b.first_run - a.first_run).total_seconds() for a, b in zip(overdue, overdue[1:],
                                                                           strict=False)]
    assert gaps == [20.0, 20.0]  # 60 s window / 3 targets


def test_overdue_window_never_exceeds_the_shortest_period() -> None:
    plans = plan_first_runs([(n, "2s", None) for n in range(4)], NOW)
    assert max(p.first_run for p in plans) - NOW < timedelta(seconds=2)


def test_previous_digest_boundary() -> None:
    assert previous_boundary(parse_schedule("1d"), NOW) == datetime(2024, 5, 1, tzinfo=UTC)
    assert previous_boundary(parse_schedule("6h"), NOW) == NOW
    assert previous_boundary(parse_schedule("0 8 * * *"), NOW) == \
        datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def test_log_lines_are_logfmt() -> None:
    record = logging.LogRecord("tracker.daemon", logging.INFO, __file__, 1, "check", (), None)
    record.fields = {"event": "check", "target": "acme", "result": "new_version",
                     "material": True, "summary": 'retention "P1Y" → P2Y', "none": None}
    line = LogfmtFormatter().format(record)
    assert re.match(r"^ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=info ", line), line
    assert line.endswith('level=info event=check target=acme result=new_version material=true '
                         'summary="retention \\"P1Y\\" → P2Y" none=-'), line
    assert "\n" not in quote("two\nlines")
    logger = logging.getLogger("tests.quiet")
    logger.setLevel(logging.WARNING)
    event(logger, "ignored", target="x")  # below the level: no formatting work, no error


def test_lock_allows_one_daemon_per_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    engine = make_engine(url)
    first = DaemonLock.acquire(url, engine, shared=False)
    with pytest.raises(LockError, match=r"already running .*stop it first"):
        DaemonLock.acquire(url, engine, shared=False)
    DaemonLock.acquire(url, engine, shared=True).release()  # shared databases: no lock
    first.release()
    DaemonLock.acquire(url, engine, shared=False).release()


# --- the real daemon ------------------------------------------------------------------------

def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return str(value)


def write_config(path: Path, targets: list[dict], smtp_port: int | None = None,
                 **daemon: object) -> None:
    settings = {"schedule": "1s", "jitter": 0, "digest": "off", "shutdown_grace": 2, **daemon}
    lines = ['[storage]', 'database = "sqlite:///tracker.db"', 'snapshots = "snapshots"',
             '[fetch]', 'per_host_delay = 0', 'retries = 0', 'timeout = 10', '[daemon]']
    lines += [f"{k} = {_toml_value(v)}" for k, v in settings.items()]
    if smtp_port:
        lines += ['[email]', 'host = "127.0.0.1"', f'port = {smtp_port}', 'security = "none"',
                  'sender = "tracker@example.org"', 'recipients = ["team@example.org"]']
    for target in targets:
        lines.append("[[targets]]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in target.items()]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)


class DaemonProcess:
    """`tracker daemon` in a subprocess, its stderr captured to a file."""

    def __init__(self, config: Path) -> None:
        self.log_path = config.parent / f"daemon-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("wb")
        code = "from tracker.cli import main; main()"
        self.proc = subprocess.Popen([sys.executable, "-c", code, "--config", str(config),
                                      "daemon"], stdout=subprocess.DEVNULL, stderr=self._log,
                                     cwd=config.parent, env={**os.environ, "PYTHONUNBUFFERED": "1"})

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"daemon did not exit within {timeout}s:\n{self.log}") from None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()


@pytest.fixture
def daemons() -> Iterator[Callable[[Path], DaemonProcess]]:
    started: list[DaemonProcess] = []

    def start(config: Path) -> DaemonProcess:
        process = DaemonProcess(config)
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            process.close()


def wait_until(predicate: Callable[[], object], timeout: float, what: str,
               log: Callable[[], str] | None = None) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}"
                         + (f"\n--- daemon log ---\n{log()}" if log else ""))


def query(db: Path, sql: str, *args: object) -> list[tuple]:
    if not db.exists():
        return []
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return connection.execute(sql, args).fetchall()
    except sqlite3.OperationalError:
        return []  # tables not created yet
    finally:
        connection.close()


def last_result(db: Path, name: str) -> str | None:
    rows = query(db, "SELECT f.last_result FROM fetch_state f JOIN targets t "
                     "ON t.id = f.target_id WHERE t.name = ?", name)
    return rows[0][0] if rows else None


def test_daemon_checks_alerts_reloads_refuses_a_second_and_stops_cleanly(
        tmp_path: Path, page_server: PageServer, smtp: SmtpSink,
        daemons: Callable[[Path], DaemonProcess]) -> None:
    page_server.html("/acme", policy_page())
    page_server.html("/beta", policy_page(6))
    config, db = tmp_path / "config.toml", tmp_path / "tracker.db"
    acme = {"name": "acme", "url": page_server.url("/acme")}
    write_config(config, [acme], smtp.port, digest="2s")
    daemon = daemons(config)
    wait_until(lambda: last_result(db, "acme"), 15, "the first check", lambda: daemon.log)
    assert last_result(db, "acme") in ("first_version", "unchanged", "not_modified")

    # Health: heartbeat from this process, next run stored for `tracker status`.
    [(pid, beat)] = query(db, "SELECT pid, beat_at FROM daemon_heartbeat")
    assert pid == daemon.proc.pid and beat
    assert query(db, "SELECT next_run_at FROM fetch_state")[0][0] is not None

    # A second daemon on the same database refuses to start, with one clear line.
    second = daemons(config)
    assert second.wait(15) == 2
    assert "already running" in second.log and "Traceback" not in second.log
    assert len(second.log.strip().splitlines()) == 1

    # The page changes: one mail, naming the target and the material categories.
    page_server.html("/acme", policy_page(24, MAY_SELL))
    [message] = smtp.wait_for(1, timeout=20)
    assert message["Subject"].startswith("[policy change] acme: ")
    assert "retention" in message["Subject"] and "sharing" in message["Subject"]
    text, html = parts(message)
    assert '"We retain server logs for 24 months after collection, then delete them."' in text
    assert "We may sell your personal information." in html

    # SIGHUP with a broken config: one error line, the daemon keeps running as before.
    config.write_text(config.read_text() + "\n[daemon]\nbogus = 1\n")
    daemon.signal(signal.SIGHUP)
    wait_until(lambda: "event=reload_failed" in daemon.log, 10, "the reload error",
               lambda: daemon.log)
    assert daemon.proc.poll() is None

    # SIGHUP: a target added to config.toml is picked up without a restart.
    write_config(config, [acme, {"name": "beta", "url": page_server.url("/beta")}],
                 smtp.port, digest="2s")
    daemon.signal(signal.SIGHUP)
    wait_until(lambda: last_result(db, "beta"), 15, "the new target's check",
               lambda: daemon.log)

    # A date-only bump is not material: it waits for the digest (every 2 s here).
    page_server.html("/beta", policy_page(6, updated="January 3, 2020"))
    messages = smtp.wait_for(2, timeout=20)
    assert messages[1]["Subject"] == "[policy digest] 1 change: beta"
    digest_text, _ = parts(messages[1])
    assert "Effective date: 2018-05-24 -> 2020-01-03" in digest_text

    daemon.signal(signal.SIGTERM)
    assert daemon.wait(15) == 0
    log = daemon.log
    assert "level=info event=started" in log
    assert "event=check target=acme result=new_version material=true" in log
    assert "event=alert_sent" in log and "event=reloaded targets=2" in log
    assert "event=stopped" in log and "Traceback" not in log
    assert len(smtp.messages) == 2  # each once, never twice
    assert query(db, "SELECT kind, status FROM alerts ORDER BY id") == [
        ("change", "sent"), ("digest", "sent")]
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    # `tracker status` knows at once that it stopped (not once the heartbeat goes stale).
    assert query(db, "SELECT pid FROM daemon_heartbeat") == [(0,)]
    from sqlmodel import Session

    from tracker.queries import status
    from tracker.store import make_engine

    with Session(make_engine(f"sqlite:///{db}")) as session:
        health = status(session)["daemon"]
    assert health["alive"] is False and health["stopped_at"] is not None


def test_sigterm_during_a_check_abandons_it_within_grace_and_exits_zero(
        tmp_path: Path, page_server: PageServer,
        daemons: Callable[[Path], DaemonProcess]) -> None:
    release = threading.Event()
    arrived = threading.Event()
    body = policy_page().encode()

    def slow(_: Request) -> tuple[int, dict[str, str], bytes]:
        arrived.set()
        release.wait(timeout=20)  # hangs until the test ends
        return 200, {"Content-Type": "text/html"}, body

    page_server.routes["/slow"] = slow
    page_server.html("/fast", policy_page(6))
    config, db = tmp_path / "config.toml", tmp_path / "tracker.db"
    write_config(config, [{"name": "fast", "url": page_server.url("/fast")},
                          {"name": "slow", "url": page_server.url("/slow")}],
                 shutdown_grace=1)
    daemon = daemons(config)
    try:
        wait_until(arrived.is_set, 15, "the slow check to start", lambda: daemon.log)
        wait_until(lambda: last_result(db, "fast"), 15, "the fast check", lambda: daemon.log)
        started = time.monotonic()
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(10) == 0
        assert time.monotonic() - started < 8  # grace 1 s, not the 20 s the page would take
    finally:
        release.set()
    log = daemon.log
    assert "event=abandoned" in log and "job=check:slow" in log
    assert "event=stopped" in log and "Traceback" not in log
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    assert last_result(db, "slow") is None  # nothing half-recorded
    assert query(db, "SELECT count(*) FROM versions v JOIN targets t ON t.id = v.target_id "
                     "WHERE t.name = 'fast'") == [(1,)]
    engine = make_engine(f"sqlite:///{db}")
    DaemonLock.acquire(f"sqlite:///{db}", engine, shared=False).release()  # lock released


def test_reconcile_plans_from_last_check_and_follows_config_changes(tmp_path: Path) -> None:
    """In-process, scheduler paused: the jobs a (re)started daemon would run, and when."""
    import asyncio

    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from tracker.config import parse_config
    from tracker.daemon import Daemon
    from tracker.models import FetchState
    from tracker.store import Store
    from tracker.targets import enabled_targets, fetch_state, sync_config_targets

    def config_with(targets: list[dict]):  # type: ignore[no-untyped-def]
        return parse_config({"storage": {"database": "sqlite:///tracker.db"},
                             "daemon": {"schedule": "1h", "jitter": 0}, "targets": targets},
                            tmp_path / "config.toml")

    config = config_with([{"name": "a", "url": "http://127.0.0.1:9/a"},
                          {"name": "b", "url": "http://127.0.0.1:9/b", "schedule": "15m"}])
    store = Store.open(config)
    checked = datetime.now(UTC) - timedelta(minutes=10)
    with store.session() as session:
        sync_config_targets(session, config)
        ids = {spec.name: spec.id for spec in enabled_targets(session)}
        fetch_state(session, ids["a"]).last_check_at = checked

    def next_runs() -> dict[str, datetime | None]:
        from sqlmodel import Session

        runs: dict[str, datetime | None] = {}
        with Session(store.engine) as session:
            for name, target_id in ids.items():
                state = session.get(FetchState, target_id)
                stored = state.next_run_at if state else None
                runs[name] = stored.replace(tzinfo=UTC) if stored else None
        return runs

    async def scenario() -> None:
        daemon = Daemon(config, store)
        daemon.scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(),
                                            timezone=UTC)
        daemon.scheduler.start(paused=True)
        try:
            started = datetime.now(UTC)
            daemon._reconcile()
            runs = next_runs()
            # a: checked 10 min ago on 1h -> in 50 min (a restart does not re-check it).
            assert abs((runs["a"] - (checked + timedelta(hours=1))).total_seconds()) < 1
            # b: never checked -> now.
            assert runs["b"] is not None and abs((runs["b"] - started).total_seconds()) < 2
            assert daemon.scheduler.get_job(f"check:{ids['a']}").next_run_time == runs["a"]

            new = config_with([{"name": "b", "url": "http://127.0.0.1:9/b", "schedule": "2h"}])
            daemon.config = new
            with store.session() as session:
                sync_config_targets(session, new)
            daemon._reconcile()
            assert daemon.scheduler.get_job(f"check:{ids['a']}") is None
            assert next_runs()["a"] is None
            job = daemon.scheduler.get_job(f"check:{ids['b']}")
            assert job is not None and job.trigger.interval == timedelta(hours=2)
        finally:
            daemon.scheduler.shutdown(wait=False)

    asyncio.run(scenario())


def test_a_check_uses_the_target_as_stored_now_not_as_at_the_last_reconcile(
        tmp_path: Path, page_server) -> None:
    """Any `tracker` command syncs config.toml: the daemon's next check reads the new URL."""
    import asyncio

    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from tests.test_check_pipeline import policy
    from tracker.check import Checker
    from tracker.config import parse_config
    from tracker.daemon import Daemon
    from tracker.fetch import Fetcher, FetchSettings
    from tracker.store import Store
    from tracker.targets import sync_config_targets

    page_server.html("/old", policy())
    page_server.html("/new", policy(retention="24 months"))

    def config_at(path: str):  # type: ignore[no-untyped-def]
        return parse_config({"fetch": {"per_host_delay": 0, "timeout": 5, "retries": 0},
                             "targets": [{"name": "a", "url": page_server.url(path)}]},
                            tmp_path / "config.toml")

    config = config_at("/old")
    store = Store.open(config)
    with store.session() as session:
        sync_config_targets(session, config)

    async def scenario() -> None:
        daemon = Daemon(config, store)
        daemon.scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(),
                                            timezone=UTC)
        daemon.scheduler.start(paused=True)
        daemon.fetcher = Fetcher(FetchSettings(per_host_delay=0, timeout=5, retries=0))
        daemon.checker = Checker(config, store)
        try:
            daemon._reconcile()
            (target_id,) = daemon._jobs
            await daemon._check_job(target_id)  # first version from /old
            with store.session() as session:  # what `tracker history a` does after an edit
                sync_config_targets(session, config_at("/new"))
            await daemon._check_job(target_id)
        finally:
            await daemon.fetcher.aclose()
            daemon.scheduler.shutdown(wait=False)

    asyncio.run(scenario())
    assert [r.path for r in page_server.requests] == ["/old", "/new"]
    assert query(tmp_path / "tracker.db", "SELECT alert_state, summary FROM changes") == [
        ("suppressed", "after a change of the target's URL or selectors (not alerted): "
                       "material: retention 12 months→24 months")]


def test_jitter_does_not_add_up_from_run_to_run() -> None:
    """Each run stays in its own slot: start + n x interval, plus up to the jitter."""
    from tracker.daemon_plan import check_trigger
    from tracker.schedule import parse_schedule

    start = datetime(2026, 1, 1, tzinfo=UTC)
    trigger = check_trigger(parse_schedule("5s"), 0.1, start)
    fire = trigger.get_next_fire_time(None, start)
    for n in range(200):
        assert fire is not None
        offset = (fire - start).total_seconds() - 5 * n
        assert 0 <= offset <= 0.5, (n, offset)
        fire = trigger.get_next_fire_time(fire, fire)


def test_the_daemon_knows_when_nobody_would_receive_alerts(tmp_path: Path) -> None:
    from tracker.config import parse_config
    from tracker.daemon import Daemon
    from tracker.store import Store
    from tracker.targets import sync_config_targets

    def daemon_with(email: dict, target: dict) -> Daemon:
        config = parse_config({"email": {"host": "127.0.0.1", **email},
                               "targets": [{"name": "a", "url": "http://127.0.0.1:9/a",
                                            **target}]}, tmp_path / "config.toml")
        store = Store.open(config)
        with store.session() as session:
            sync_config_targets(session, config)
        return Daemon(config, store)

    assert not daemon_with({}, {})._anyone_to_mail()
    assert daemon_with({"recipients": ["team@example.org"]}, {})._anyone_to_mail()
    assert daemon_with({"tags": {"gdpr": ["dpo@example.org"]}}, {})._anyone_to_mail()
    assert daemon_with({}, {"recipients": ["owner@example.org"]})._anyone_to_mail()
