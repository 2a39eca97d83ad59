"""Several processes on one store: readers never see "database is locked", writers never
record the same version twice.

SQLite runs in WAL mode with ``BEGIN IMMEDIATE`` and a 30 s busy timeout (tracker/store.py), and
a check re-reads the latest version inside its write transaction (tracker/check.py). These
tests run the commands as separate processes, as people and cron jobs do. Most of them are
forked from a process that imported the tracker once (see tests/test_crash_loop.py): that keeps
many runs inside a few seconds; the brand-new-database race uses the console script itself.
"""

from __future__ import annotations

import random
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

from tests.pageserver import PageServer
from tests.test_crash_loop import TRACKER, ChangingSite, Forker, recorded_versions, write_config

READ_SECONDS = 8.0
OK_RESULTS = ("first_version", "new_version", "unchanged", "not_modified")


def counts(db: Path) -> Counter[str]:
    return Counter(name for name, _ in recorded_versions(db))


def assert_no_duplicate_consecutive(db: Path) -> None:
    versions = recorded_versions(db)
    for (name, sha), (next_name, next_sha) in zip(versions, versions[1:], strict=False):
        assert name != next_name or sha != next_sha, f"{name}: same text recorded twice"


def test_readers_never_see_database_is_locked_while_checks_write(
        tmp_path: Path, page_server: PageServer) -> None:
    site = ChangingSite(page_server, random.Random(7))
    config = write_config(tmp_path, page_server)
    check = ["--config", str(config), "check", "--all", "--quiet"]
    forker = Forker(tmp_path)
    writer_forker = Forker(tmp_path)
    stop = threading.Event()
    writer_runs: list[tuple[int, str]] = []

    def keep_writing() -> None:
        while not stop.is_set():
            site.evolve()
            writer_runs.append(writer_forker.run(check, tmp_path / "writer.log"))

    try:
        for _ in range(2):  # every target gets a change, so `diff` has something to show
            assert forker.run(check, tmp_path / "setup.log")[0] == 0
            site.evolve()
        writer = threading.Thread(target=keep_writing, daemon=True)
        writer.start()
        reads: Counter[str] = Counter()
        deadline = time.monotonic() + READ_SECONDS
        commands = [["history", "p03", "--format", "json"], ["diff", "p05"],
                    ["status", "--format", "json"], ["history", "p11"], ["status"]]
        # The installed console script too, once, while the writer runs.
        real = subprocess.run([TRACKER, "--config", str(config), "status", "--format", "json"],
                              capture_output=True, text=True, timeout=90)
        assert real.returncode == 0 and "locked" not in real.stderr, real.stderr
        while time.monotonic() < deadline or len(writer_runs) < 2:
            args = commands[sum(reads.values()) % len(commands)]
            code, output = forker.run(["--config", str(config), *args], tmp_path / "reader.log")
            assert "database is locked" not in output
            assert code == 0, f"{args}: exit {code}: {output[-2000:]}"
            reads[args[0]] += 1
            assert time.monotonic() < deadline + 60, "the writer never finished two cycles"
        stop.set()
        writer.join(timeout=60)
    finally:
        stop.set()
        forker.close()
        writer_forker.close()
    assert all(code == 0 for code, _ in writer_runs), writer_runs
    assert not any("locked" in output for _, output in writer_runs)
    print(f"\nconcurrency: {sum(reads.values())} reads {dict(reads)} during "
          f"{len(writer_runs)} check cycles")
    assert set(reads) == {"history", "diff", "status"}
    assert_no_duplicate_consecutive(tmp_path / "tracker.db")


def test_two_checks_at_once_record_each_new_version_once(
        tmp_path: Path, page_server: PageServer) -> None:
    site = ChangingSite(page_server, random.Random(11))
    config = write_config(tmp_path, page_server)
    db = tmp_path / "tracker.db"
    check = ["--config", str(config), "check", "--all"]
    forker = Forker(tmp_path)
    try:
        assert forker.run(check, tmp_path / "setup.log")[0] == 0
        for round_ in range(3):
            before = counts(db)
            for name in site.months:  # every page changes
                site.months[name] += 1
            first = forker.start(check, tmp_path / f"a{round_}.log")
            second = forker.start(check, tmp_path / f"b{round_}.log")
            for pid, log in ((first, f"a{round_}.log"), (second, f"b{round_}.log")):
                code = forker.wait(pid)
                output = (tmp_path / log).read_text() + (tmp_path / (log + ".err")).read_text()
                assert code == 0 and "locked" not in output, output
            after = counts(db)
            assert {name: after[name] - before[name] for name in site.months} == \
                {name: 1 for name in site.months}, f"round {round_}"
    finally:
        forker.close()
    assert_no_duplicate_consecutive(db)


def test_two_console_scripts_at_once_on_a_brand_new_database(
        tmp_path: Path, page_server: PageServer) -> None:
    """Both create the tables and sync the targets at the same time: neither may fail."""
    ChangingSite(page_server, random.Random(3))
    config = write_config(tmp_path, page_server)
    command = [TRACKER, "--config", str(config), "check", "--all"]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        assert "Traceback" not in err and "locked" not in err
        assert "checked 20:" in out
    versions = counts(tmp_path / "tracker.db")
    assert len(versions) == 20 and set(versions.values()) == {1}
