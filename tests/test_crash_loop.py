"""Crash safety: `tracker check --all` killed with SIGKILL at random points, over and over.

The promise under test (tracker/check.py): blobs are written before the one short database
transaction that references them, so whenever the process dies the store is consistent, every
committed version survives, and the next cycle just works. `tracker verify` is the judge.

Starting Python and importing the tracker takes seconds on a busy machine, far longer than a
check of twenty small local pages; killed during imports a process proves nothing. So the
processes that get killed are forked from a "forker" process that has imported `tracker.cli`
once: each child runs ``tracker.cli.main()`` (the console script's entry point) with the usual
argv, in its own process, and is killed with SIGKILL like any other. The final cycle, status
and verification use the installed `tracker` console script itself.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.pageserver import PageServer, Request
from tests.test_check_pipeline import policy
from tracker.blobs import BlobStore

TRACKER = str(Path(sys.executable).with_name("tracker"))
TARGETS = 20
KILLS = 50
SEED = 20240611
OK_RESULTS = {"first_version", "new_version", "unchanged", "not_modified"}

_FORKER = r"""
import json, os, sys, traceback
import importlib
from tracker.cli import main  # the expensive imports, done once
for module in ("tracker.check", "tracker.analysis", "tracker.history", "tracker.queries",
               "tracker.render", "tracker.verify", "tracker.compare.semantic",
               "tracker.alerts.rules"):
    try:
        importlib.import_module(module)
    except ImportError:
        pass

for line in sys.stdin:
    command = json.loads(line)
    if command["op"] == "run":
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            for fd, path in ((1, command["log"]), (2, command["log"] + ".err")):
                os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
            os.chdir(command["cwd"] or ".")
            for name, value in command["env"].items():
                os.environ.pop(name, None) if value is None else os.environ.update({name: value})
            sys.argv = ["tracker", *command["argv"]]
            code = 0
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:
                traceback.print_exc()
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        answer = {"pid": pid}
    else:
        _, status = os.waitpid(command["pid"], 0)
        answer = {"code": os.waitstatus_to_exitcode(status)}
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
"""


class Forker:
    """Runs `tracker` commands as forks of one process that already imported the tracker."""

    def __init__(self, cwd: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", _FORKER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, cwd=cwd)

    def _ask(self, command: dict, timeout: float) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError(f"forker did not answer {command} within {timeout}s")
        return json.loads(self.proc.stdout.readline())

    def start(self, argv: list[str], log: Path, cwd: Path | None = None,
              env: dict[str, str | None] | None = None) -> int:
        """Fork a child running `tracker ARGV` (``env``: variables to set, None to unset)."""
        command = {"op": "run", "argv": argv, "log": str(log),
                   "cwd": str(cwd) if cwd else None, "env": env or {}}
        return self._ask(command, timeout=60)["pid"]

    def wait(self, pid: int, timeout: float = 60) -> int:
        """Exit status (negative: killed by that signal); a hung child is killed first."""
        deadline = time.monotonic() + timeout
        while _alive(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.02)
        return self._ask({"op": "wait", "pid": pid}, timeout=30)["code"]

    def run(self, argv: list[str], log: Path, timeout: float = 60, cwd: Path | None = None,
            env: dict[str, str | None] | None = None) -> tuple[int, str]:
        code, out, err = self.run_split(argv, log, timeout, cwd, env)
        return code, out + err

    def run_split(self, argv: list[str], log: Path, timeout: float = 60,
                  cwd: Path | None = None, env: dict[str, str | None] | None = None
                  ) -> tuple[int, str, str]:
        """Exit status, stdout and stderr (``log`` and ``log.err``) of one run."""
        code = self.wait(self.start(argv, log, cwd, env), timeout)
        err = Path(str(log) + ".err")
        return (code, log.read_text(encoding="utf-8", errors="replace"),
                err.read_text(encoding="utf-8", errors="replace"))

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for the forker to reap it counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


class ChangingSite:
    """Twenty policy pages on one local server; :meth:`evolve` changes some of them."""

    def __init__(self, server: PageServer, rng: random.Random) -> None:
        self.server, self.rng = server, rng
        self.months = {f"p{i:02d}": 12 for i in range(TARGETS)}
        for name in self.months:
            server.routes["/" + name] = self._handler(name)

    def _handler(self, name: str):
        def serve(_: Request) -> tuple[int, dict[str, str], bytes]:
            body = policy(retention=f"{self.months[name]} months", sell=f"do not sell ({name})",
                          token=str(self.rng.random()))  # noise that must not make versions
            return 200, {"Content-Type": "text/html; charset=utf-8"}, body.encode()
        return serve

    def evolve(self) -> None:
        for name in self.months:
            if self.rng.random() < 0.5:
                self.months[name] += 1


def write_config(tmp_path: Path, server: PageServer) -> Path:
    path = tmp_path / "config.toml"
    targets = "".join(f"[[targets]]\nname = 'p{i:02d}'\nurl = '{server.url(f'/p{i:02d}')}'\n"
                      for i in range(TARGETS))
    path.write_text("[fetch]\nper_host_delay = 0\nper_host_concurrency = 8\ntimeout = 3\n"
                    "retries = 0\nworkers = 0\n" + targets, encoding="utf-8")
    return path


def recorded_versions(db: Path) -> list[tuple[str, str]]:
    """(target, text sha) of every version, in capture order per target."""
    with sqlite3.connect(db, timeout=30) as connection:
        rows = connection.execute(
            "SELECT t.name, v.text_sha256 FROM versions v JOIN targets t ON t.id = v.target_id "
            "ORDER BY t.name, v.captured_at, v.id").fetchall()
    connection.close()
    return [(name, sha) for name, sha in rows]


def cli(config: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([TRACKER, "--config", str(config), *args], capture_output=True,
                          text=True, timeout=timeout)


def test_sigkill_at_random_points_never_loses_or_corrupts(tmp_path: Path,
                                                          page_server: PageServer) -> None:
    rng = random.Random(SEED)
    site = ChangingSite(page_server, random.Random(SEED + 1))
    config = write_config(tmp_path, page_server)
    db = tmp_path / "tracker.db"
    argv = ["--config", str(config), "check", "--all", "--quiet"]
    forker = Forker(tmp_path)
    try:
        code, output = forker.run(argv, tmp_path / "first.log")
        assert code == 0, output
        site.evolve()
        started = time.monotonic()
        code, output = forker.run(argv, tmp_path / "second.log")
        cycle = time.monotonic() - started
        assert code == 0, output
        max_delay = min(1.5, max(0.3, cycle))  # kills land anywhere in a cycle
        kills = completed = normal_cycles = attempts = 0
        while kills < KILLS:
            attempts += 1
            assert attempts < 4 * KILLS, f"only {kills} kills hit a running check"
            before = set(recorded_versions(db))
            site.evolve()
            pid = forker.start(argv, tmp_path / "killed.log")
            time.sleep(rng.uniform(0, max_delay))
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
            code = forker.wait(pid)
            if code == -signal.SIGKILL:
                kills += 1
            else:
                completed += 1
                assert code == 0, (tmp_path / "killed.log.err").read_text()
            after = recorded_versions(db)
            lost = before - set(after)
            assert not lost, f"versions lost after kill {kills}: {sorted(lost)[:3]}"
            if rng.random() < 0.1:
                normal_cycles += 1
                code, output = forker.run(argv, tmp_path / "normal.log")
                assert code == 0, output
        before = set(recorded_versions(db))
    finally:
        forker.close()

    # The next cycle, through the real console script, completes normally.
    site.evolve()
    result = cli(config, "check", "--all")
    assert result.returncode == 0, result.stderr
    assert f"checked {TARGETS}:" in result.stdout and "failed" not in result.stdout
    status = json.loads(cli(config, "status", "--format", "json").stdout)
    assert {row["last_result"] for row in status["targets"]} <= OK_RESULTS
    assert all(row["consecutive_failures"] == 0 for row in status["targets"])

    versions = recorded_versions(db)
    assert before <= set(versions)
    for (name, sha), (next_name, next_sha) in zip(versions, versions[1:], strict=False):
        assert name != next_name or sha != next_sha, f"{name}: duplicate consecutive version"
    blobs = BlobStore(tmp_path / "snapshots")
    latest = {name: sha for name, sha in versions}
    assert len(latest) == TARGETS
    for name, sha in latest.items():  # the newest version is what the page says now
        assert f"{site.months[name]} months" in blobs.get_text(sha)

    verify = cli(config, "verify", "--format", "json")
    report = json.loads(verify.stdout)
    print(f"\ncrash loop: {kills} SIGKILLs, {completed} runs finished before their kill, "
          f"{normal_cycles} normal cycles in between, cycle {cycle:.2f}s, max delay "
          f"{max_delay:.2f}s; {len(versions)} versions; verify: {report['errors']} errors, "
          f"{report['counts']['orphan_blobs']} orphan blobs, "
          f"{report['counts']['temp_files']} temp files")
    assert verify.returncode == 0 and report["healthy"] and report["errors"] == 0, verify.stdout
    assert {i["kind"] for i in report["issues"]} <= {"orphan_blob", "temp_file"}
