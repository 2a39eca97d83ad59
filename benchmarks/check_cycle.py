"""Benchmark a full check cycle of `tracker check --all` against urlwatch on the same pages.

Usage::

    .venv/bin/python benchmarks/check_cycle.py [--pages N] [--skip-urlwatch]
        [--concurrency C] [--workers W] [--server auto|nginx|python] [--rounds R]
        [--profile] [--keep]

N synthetic policy pages (~40 KB each: nav, mega menu, cookie banner, promo, footer, inline
scripts, session ids in links and scripts; per-page company, sections, lists, retention table)
are served from 127.0.0.1 by nginx when installed (``apt-get install -y nginx-light``), else by
a pre-forked Python server; the same server for both tools. Three cycles, each run by both
tools on the same pages before the next (which tool goes first alternates between rounds):

1. first      -- every page is new
2. unchanged  -- same policy text, new session tokens (files rewritten, so ETags change too)
3. changed    -- one clause changed in every page ("12 months" -> "18 months")

``--rounds R`` repeats the three cycles on fresh stores and reports median times (each round's
times are printed too): on a shared machine whose speed drifts by tens of percent within
minutes, one round can flatter or wrong either tool.

Each measured command runs as a direct child and is reaped with ``os.wait4``, so its peak RSS
is its own (ru_maxrss; includes any worker processes it reaped), not the server's. urlwatch
(``css: main`` + ``html2text``) is installed on first use into benchmarks/.bench/venv-urlwatch
(git-ignored) from PyPI. Afterwards the script checks version counts via
``tracker status --format json``, prints the store size and the ``tracker compare`` median from
benchmarks/semantic_eval.py. ``--profile`` then re-runs the three tracker cycles
on a fresh database under py-spy (or cProfile when py-spy is missing) and prints hotspots.
Everything temporary lives under /tmp/check-cycle-* and is removed at the end.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import median

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from _pages import CHANGED_FROM, CHANGED_TO, PageSet, page_name  # noqa: E402
from _server import StaticServer  # noqa: E402

VENV_BIN = REPO / ".venv" / "bin"
TRACKER = VENV_BIN / "tracker"
URLWATCH_VENV = HERE / ".bench" / "venv-urlwatch"
URLWATCH_SPEC = "urlwatch>=2.29,<3"
CYCLES = (("first", 1), ("unchanged", 1), ("changed", 2))
TARGETS = {"unchanged": 5.0, "first": 2.0, "changed": 2.0}  # urlwatch/tracker time ratio
RSS_LIMIT_MB = 120


@dataclass
class Run:
    wall: float
    cpu: float  # user + system seconds of the process and the children it reaped
    rss_mb: float  # peak RSS of the measured process (ru_maxrss: max over it and its children)
    tree_mb: float  # peak of the summed PSS of the process and its children (polled /proc)
    rc: int
    out: str
    err: str


# The measured command runs under a tiny wrapper. ru_maxrss of a process started straight from
# this (large) benchmark process would start at the benchmark's own RSS: Linux carries the
# pre-exec high-water mark of a forked/vforked child across exec.
_PY_WRAPPER = (
    "import os,sys,time\n"
    "t=time.perf_counter();pid=os.fork()\n"
    "if pid==0:\n os.execvp(sys.argv[2],sys.argv[2:])\n"
    "_,st,ru=os.wait4(pid,0)\n"
    "open(sys.argv[1],'w').write('%.3f %.3f %.3f %d'%(time.perf_counter()-t,ru.ru_utime,"
    "ru.ru_stime,ru.ru_maxrss))\n"
    "sys.exit(os.waitstatus_to_exitcode(st))\n"
)


def _tree_rss_kb(root: int) -> int:
    """Summed PSS of ``root``'s descendants (not ``root``, the wrapper, itself).

    PSS, not RSS: forked pool workers share copy-on-write pages with their parent, and a sum
    of RSS would count those pages once per process.
    """
    total, todo, first = 0, [root], True
    while todo:
        pid = todo.pop()
        try:
            if not first:
                with open(f"/proc/{pid}/smaps_rollup") as fh:
                    for line in fh:
                        if line.startswith("Pss:"):
                            total += int(line.split()[1])
                            break
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
        except (OSError, ValueError):
            pass
        first = False
    return total


def measure(cmd: list[str], cwd: Path, env: dict[str, str] | None = None,
            timeout: float = 900.0) -> Run:
    """Run ``cmd``; its wall and CPU time and peak RSS as reported by a wrapper's wait4."""
    out_path, err_path, usage_path = cwd / ".run.out", cwd / ".run.err", cwd / ".run.usage"
    usage_path.unlink(missing_ok=True)
    gnu_time = Path("/usr/bin/time")
    if gnu_time.exists():
        wrapped = [str(gnu_time), "-f", "%e %U %S %M", "-o", str(usage_path), "--", *cmd]
    else:
        wrapped = [sys.executable, "-c", _PY_WRAPPER, str(usage_path), *cmd]
    tree_peak = 0
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(wrapped, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err)
        deadline = start + timeout
        while proc.poll() is None:
            tree_peak = max(tree_peak, _tree_rss_kb(proc.pid))
            if time.perf_counter() > deadline:
                proc.kill()
                proc.wait()
                break
            time.sleep(0.05)
        wall = time.perf_counter() - start
    try:
        e, user, system, maxrss = usage_path.read_text().split()[-4:]
        wall, cpu, rss = float(e), float(user) + float(system), int(maxrss) / 1024
    except (OSError, ValueError):
        cpu, rss = float("nan"), float("nan")
    return Run(wall, cpu, rss, tree_peak / 1024, proc.returncode,
               out_path.read_text(errors="replace"), err_path.read_text(errors="replace"))


def source_digest() -> str:
    """Short digest of tracker/**/*.py, to tell which code a run measured."""
    import hashlib

    h = hashlib.sha256()
    for path in sorted((REPO / "tracker").rglob("*.py")):
        h.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


def compile_tracker() -> str:
    """Compile the tracker's bytecode, as pip does for a regular install.

    urlwatch, installed from a wheel, runs from the bytecode pip compiled. The tracker is
    installed editable here, and where PYTHONDONTWRITEBYTECODE is set (this workplace; many
    container images) Python would compile its modules from source on every run, ~0.1 s of
    each cycle that no regular install pays.
    """
    subprocess.run([str(VENV_BIN / "python"), "-m", "compileall", "-q", str(REPO / "tracker")],
                   check=True)
    why = " (PYTHONDONTWRITEBYTECODE is set here)" if os.environ.get(
        "PYTHONDONTWRITEBYTECODE") else ""
    return f"tracker bytecode compiled into tracker/__pycache__, as pip does on install{why}"


def du_mb(*paths: Path, allocated: bool = False) -> float:
    """Bytes in the files under ``paths``, or (``allocated``) the disk blocks they take, as
    `du` counts them: a small file still takes a whole block."""
    def size(stat: os.stat_result) -> int:
        return stat.st_blocks * 512 if allocated else stat.st_size

    total = 0
    for path in paths:
        if path.is_file():
            total += size(path.stat())
        elif path.is_dir():
            total += sum(size(p.stat()) for p in path.rglob("*") if p.is_file())
    return total / 1e6


# --- tracker ------------------------------------------------------------------------------

def write_tracker_config(work: Path, server: StaticServer, n: int, concurrency: int,
                         workers: int | None) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    lines = [
        "[storage]", f'database = "sqlite:///{work / "t.db"}"',
        f'snapshots = "{work / "snapshots"}"', "",
        "[fetch]", "per_host_delay = 0", f"concurrency = {concurrency}",
        f"per_host_concurrency = {min(concurrency, 100)}",
        *([f"workers = {workers}"] if workers is not None else []), "",
    ]
    for i in range(n):
        lines += ["[[targets]]", f'name = "p{i:05d}"', f'url = "{server.url(page_name(i))}"', ""]
    path = work / "config.toml"
    path.write_text("\n".join(lines))
    return path


def tracker_versions(config: Path, cwd: Path, problems: list[str]) -> dict[str, int]:
    """Versions per target from `tracker status --format json` (the database if that fails)."""
    proc = subprocess.run([str(TRACKER), "--config", str(config), "status", "--format", "json"],
                          cwd=cwd, capture_output=True, text=True, check=False)
    try:
        if proc.returncode != 0:
            raise ValueError(proc.stderr.strip()[-1500:])
        return {row["name"]: row["versions"] for row in json.loads(proc.stdout)["targets"]}
    except (ValueError, KeyError, TypeError) as exc:
        problems.append(f"tracker status --format json failed (rc {proc.returncode}): {exc}; "
                        "counted versions in the database instead")
    import sqlite3

    with sqlite3.connect(cwd / "t.db") as db:
        rows = db.execute("SELECT t.name, COUNT(v.id) FROM targets t LEFT JOIN versions v "
                          "ON v.target_id = t.id GROUP BY t.id").fetchall()
    return dict(rows)


def summary_line(out: str) -> str:
    lines = [line for line in out.splitlines() if line.startswith("checked ")]
    return lines[-1] if lines else "(no summary line)"


# --- urlwatch -----------------------------------------------------------------------------

def urlwatch_bin() -> Path:
    exe = URLWATCH_VENV / "bin" / "urlwatch"
    if exe.exists():
        return exe
    print(f"installing {URLWATCH_SPEC} into {URLWATCH_VENV} ...", flush=True)
    URLWATCH_VENV.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv",
                    str(URLWATCH_VENV)], check=True)
    subprocess.run([str(URLWATCH_VENV / "bin" / "pip"), "install", "-q", URLWATCH_SPEC,
                    "cssselect", "lxml"], check=True)
    return exe


def write_urlwatch_files(work: Path, server: StaticServer, n: int) -> tuple[Path, Path]:
    work.mkdir(parents=True, exist_ok=True)
    jobs = work / "jobs.yaml"
    jobs.write_text("---\n".join(
        f"name: p{i:05d}\nurl: {server.url(page_name(i))}\nfilter:\n  - css: main\n"
        "  - html2text\n" for i in range(n)))
    cfg = work / "cfg.yaml"
    cfg.write_text(
        "display:\n  new: true\n  error: true\n  unchanged: false\n  empty-diff: false\n"
        "report:\n  text:\n    details: true\n    footer: false\n    line_length: 75\n"
        "    minimal: false\n    separate: false\n"
        "  stdout:\n    enabled: true\n    color: false\n"
        "  email:\n    enabled: false\n  html:\n    diff: unified\n    separate: false\n")
    return jobs, cfg


def urlwatch_counts(out: str) -> collections.Counter:
    return collections.Counter(m.group(1) for m in re.finditer(r"^(NEW|CHANGED|ERROR|UNCHANGED):",
                                                               out, re.MULTILINE))


# --- profiling ----------------------------------------------------------------------------

def _short(frame: str) -> str:
    # py-spy raw frames: "function (path/to/module.py:123)" -> "function (pkg/module.py:123)"
    m = re.match(r"(.*) \((.*?):(\d+)\)$", frame)
    if not m:
        return frame
    func, path, line = m.groups()
    parts = Path(path).parts
    if "site-packages" in parts:
        path = "/".join(parts[parts.index("site-packages") + 1:])
    elif "tracker" in parts:
        path = "/".join(parts[len(parts) - 1 - parts[::-1].index("tracker"):])
    elif len(parts) > 1 and not parts[-2].startswith("python3"):
        path = "/".join(parts[-2:])  # stdlib package: asyncio/..., multiprocessing/...
    else:
        path = parts[-1] if parts else path
    return f"{func} ({path}:{line})"


# Phases of a check, by the innermost frame of a sample's stack that contains a key.
_PHASES = (
    ("imports / startup", ("_find_and_load", "_call_with_frames_removed")),
    ("analyze: fingerprint", ("content_fingerprint (",)),
    ("analyze: normalize HTML", ("document_from_body (", "normalize_html (", "prune_html (",
                                 "document_from_pruned (")),
    ("analyze: quality gate", ("assess (",)),
    ("analyze: blob store (zstd, blobs.sqlite3)", ("BlobStore.", "BlobPack.")),
    ("analyze: semantic compare", ("compare_texts (",)),
    ("analyze: other", ("analyze_page (",)),
    ("fetch (httptools on uvloop; httpx for proxies)", ("Fetcher.", "(tracker/http11.py")),
    ("database (plain SQL; the ORM for rare outcomes)", (
        "Checker._load_previous", "Checker._record", "Checker._connection", "(tracker/direct.py",
        "(tracker/record_bulk.py", "(tracker/target_sync.py", "(tracker/check_orm.py",
        "sync_config_targets", "enabled_targets", "Store.open (", "Store.connect (",
        "Session.", "Engine.")),
    ("process pool: IPC, pickling, threads", ("(multiprocessing/", "(futures/",
                                              "(threading.py", "_write_to_self")),
    ("event loop: select", ("(selectors.py",)),
)
_WRAPPERS = ("<module>", "main (tracker/cli.py)", "check (tracker/cli.py)", "run_checks",
             "check_many", "run (tracker/check.py)", "click/", "(typer/", "runners.py",
             "base_events.py", "asyncio/events.py", "Checker.check_one", "(multiprocessing/",
             "(futures/", "(threading.py")


def report_pyspy(raw: Path, top: int = 15) -> None:
    self_t: collections.Counter = collections.Counter()
    incl: collections.Counter = collections.Counter()
    phases: collections.Counter = collections.Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        # strip line numbers so one function is one entry
        frames = [re.sub(r":\d+\)$", ")", _short(f)) for f in stack.split(";")]
        frames = [f for f in frames if not f.startswith("process ")] or ["(no Python frame)"]
        self_t[frames[-1]] += n
        for frame in set(frames):
            incl[frame] += n
        phase = "other (event loop, CLI, GC)"
        for frame in reversed(frames):
            hit = next((name for name, keys in _PHASES if any(k in frame for k in keys)), None)
            if hit:
                phase = hit
                break
        phases[phase] += n
    if not total:
        print("    (no samples)")
        return
    print(f"    {total} CPU samples. By phase (innermost match):")
    for phase, n in phases.most_common():
        print(f"    {100 * n / total:5.1f}%  {phase}")
    print(f"    self time, top {top} functions:")
    for frame, n in self_t.most_common(top):
        print(f"    {100 * n / total:5.1f}%  {frame}")
    print(f"    inclusive time, top {top} (CLI/asyncio/click wrappers left out):")
    shown = 0
    for frame, n in incl.most_common():
        if any(w in frame for w in _WRAPPERS):
            continue
        print(f"    {100 * n / total:5.1f}%  {frame}")
        shown += 1
        if shown == top:
            break


def report_cprofile(prof: Path, top: int = 15) -> None:
    import io
    import pstats

    for key in ("tottime", "cumulative"):
        buf = io.StringIO()
        stats = pstats.Stats(str(prof), stream=buf)
        stats.sort_stats(key).print_stats(top)
        total = stats.total_tt
        print(f"    by {key} (total {total:.2f} s):")
        for line in buf.getvalue().splitlines():
            m = re.match(r"\s*(\S+)\s+([\d.]+)\s+[\d.]+\s+([\d.]+)\s+[\d.]+\s+(.*)$", line)
            if m:
                value = float(m.group(2) if key == "tottime" else m.group(3))
                print(f"    {100 * value / total:5.1f}%  {m.group(4)}")


def profile_tracker(tmp: Path, server: StaticServer, pages: PageSet, n: int, args) -> None:
    work = tmp / "profile"
    config = write_tracker_config(work, server, n, args.concurrency, args.workers)
    pyspy = VENV_BIN / "py-spy"
    print(f"\nprofile of `tracker check --all` (fresh database, N={n}, "
          f"{'py-spy, 100 Hz, CPU samples only' if pyspy.exists() else 'cProfile'}):")
    for cycle, version in CYCLES:
        pages.write(server.root, version)
        base = [str(TRACKER), "--config", str(config), "check", "--all", "--quiet"]
        if pyspy.exists():
            raw = work / f"{cycle}.raw"
            cmd = [str(pyspy), "record", "--format", "raw", "-r", "100", "-o", str(raw),
                   "--subprocesses", "--", *base]
        else:
            prof = work / f"{cycle}.prof"
            cmd = [str(VENV_BIN / "python"), "-m", "cProfile", "-o", str(prof), "-m",
                   "tracker", *base[1:]]
        run = measure(cmd, work)
        print(f"  {cycle} cycle: {run.wall:.2f} s under the profiler (rc {run.rc})")
        if run.rc != 0:
            print("    " + (run.err.strip() or run.out.strip())[-2000:])
        if pyspy.exists() and raw.exists():
            report_pyspy(raw)
            keep = HERE / ".bench" / f"profile-{cycle}-n{n}.raw"  # git-ignored
            keep.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(raw, keep)
            print(f"    (collapsed stacks kept in {keep.relative_to(REPO)})")
        elif not pyspy.exists() and prof.exists():
            report_cprofile(prof)


# --- rounds -------------------------------------------------------------------------------

@dataclass
class Round:
    runs: dict[str, dict[str, Run]]
    store_mb: float = 0.0
    snap_mb: float = 0.0
    uw_cache_mb: float = 0.0
    store_disk_mb: float = 0.0
    uw_cache_disk_mb: float = 0.0


def median_run(runs: list[Run]) -> Run:
    """Median wall and CPU time over rounds; the worst memory figures."""
    return Run(median([r.wall for r in runs]), median([r.cpu for r in runs]),
               max(r.rss_mb for r in runs), max(r.tree_mb for r in runs),
               max(r.rc for r in runs), runs[-1].out, runs[-1].err)


def start_floor(tmp: Path, runs: int = 3) -> float:
    """Median wall time of `tracker check --all` with nothing to check.

    Imports, config and store: what every cycle pays before its first page, and a bound on
    the ratio any cycle can reach against a given urlwatch time.
    """
    work = tmp / "floor"
    work.mkdir()
    config = work / "config.toml"
    config.write_text(f'[storage]\ndatabase = "sqlite:///{work / "t.db"}"\n'
                      f'snapshots = "{work / "snapshots"}"\n')
    return median(measure([str(TRACKER), "--config", str(config), "check", "--all"], work).wall
                  for _ in range(runs))


def urlwatch_floor(tmp: Path, uw: Path, server: StaticServer, runs: int = 3) -> float:
    """Median wall time of urlwatch with an empty job list: its own start, for comparison."""
    work = tmp / "floor-urlwatch"
    work.mkdir()
    jobs, cfg = write_urlwatch_files(work, server, 0)
    return median(measure([str(uw), "--urls", str(jobs), "--config", str(cfg), "--cache",
                           str(work / "cache.db")], work, dict(os.environ, HOME=str(work))).wall
                  for _ in range(runs))


def run_round(index: int, tmp: Path, server: StaticServer, pages: PageSet, www: Path, n: int,
              args, uw: Path | None, problems: list[str]) -> Round:
    """The three cycles on fresh stores, both tools on the same pages within each cycle.

    The tools alternate which goes first from round to round, and run cycle by cycle rather
    than one tool's three cycles after the other's: on a machine whose speed drifts, both see
    the same conditions.
    """
    twork = tmp / f"tracker-{index}"
    config = write_tracker_config(twork, server, n, args.concurrency, args.workers)
    if uw is not None:
        uwork = tmp / f"urlwatch-{index}"
        jobs, cfg = write_urlwatch_files(uwork, server, n)
        env = dict(os.environ, HOME=str(uwork), XDG_CONFIG_HOME=str(uwork / "xdg"),
                   XDG_CACHE_HOME=str(uwork / "xdg-cache"))
    expected = {1: 1, 2: 1, 3: 2}
    want = {"first": ("NEW", n), "unchanged": ("CHANGED", 0), "changed": ("CHANGED", n)}
    done = Round({"tracker": {}, "urlwatch": {}})

    def tracker_cycle(k: int, cycle: str) -> None:
        run = measure([str(TRACKER), "--config", str(config), "check", "--all"], twork)
        done.runs["tracker"][cycle] = run
        if run.rc != 0:
            problems.append(f"tracker cycle {cycle}: exit {run.rc}: {run.err.strip()[-1500:]}")
        counts = tracker_versions(config, twork, problems)
        wrong = {name: v for name, v in counts.items() if v != expected[k]}
        verdict = "OK" if not wrong and len(counts) == n else "WRONG"
        if verdict == "WRONG":
            sample = dict(list(wrong.items())[:5])
            problems.append(f"round {index + 1}, after cycle {k} ({cycle}): {len(wrong)} of "
                            f"{len(counts)} targets do not have {expected[k]} version(s), e.g. "
                            f"{sample}")
        run.out = f"{summary_line(run.out)}; versions per target == {expected[k]}: " \
                  f"{verdict} ({sum(counts.values())} versions in all)"

    def urlwatch_cycle(cycle: str) -> None:
        run = measure([str(uw), "--urls", str(jobs), "--config", str(cfg),
                       "--cache", str(uwork / "cache.db")], uwork, env)
        done.runs["urlwatch"][cycle] = run
        counts = urlwatch_counts(run.out)
        key, value = want[cycle]
        if run.rc != 0 or counts.get(key, 0) != value or counts.get("ERROR"):
            problems.append(f"urlwatch cycle {cycle}: rc {run.rc}, reported {dict(counts)} "
                            f"(expected {key}={value}) {run.err.strip()[-500:]}")
        run.out = f"reported {dict(counts) or 'nothing'}"

    for k, (cycle, version) in enumerate(CYCLES, 1):
        pages.write(www, version)
        tools = ["tracker", "urlwatch"] if uw is not None else ["tracker"]
        for tool in tools if index % 2 == 0 else reversed(tools):
            if tool == "tracker":
                tracker_cycle(k, cycle)
            else:
                urlwatch_cycle(cycle)
    done.store_mb = du_mb(twork / "t.db", twork / "t.db-wal", twork / "snapshots")
    done.snap_mb = du_mb(twork / "snapshots")
    done.store_disk_mb = du_mb(twork / "t.db", twork / "t.db-wal", twork / "snapshots",
                               allocated=True)
    if uw is not None:
        done.uw_cache_mb = du_mb(uwork / "cache.db")
        done.uw_cache_disk_mb = du_mb(uwork / "cache.db", allocated=True)
    return done


# --- main ---------------------------------------------------------------------------------

def compare_median() -> list[str]:
    script = HERE / "semantic_eval.py"
    if not script.exists():
        return ["(benchmarks/semantic_eval.py not found)"]
    proc = subprocess.run([str(VENV_BIN / "python"), str(script)], cwd=REPO,
                          capture_output=True, text=True, check=False, timeout=600)
    lines = [line.strip() for line in proc.stdout.splitlines()
             if line.strip().startswith(("median time", "p95 time"))]
    return lines or [f"(semantic_eval.py printed no median; rc {proc.returncode}: "
                     f"{proc.stderr.strip()[-300:]})"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--skip-urlwatch", action="store_true")
    parser.add_argument("--concurrency", type=int, default=32,
                        help="tracker [fetch] concurrency and per_host_concurrency")
    parser.add_argument("--workers", type=int, default=None,
                        help="tracker [fetch] workers (parse in worker processes; 0 = inline; "
                             "default: the tracker's own default)")
    parser.add_argument("--server", choices=("auto", "nginx", "python"), default="auto")
    parser.add_argument("--server-workers", type=int, default=1,
                        help="nginx worker processes / Python server processes")
    parser.add_argument("--skip-compare", action="store_true",
                        help="do not run benchmarks/semantic_eval.py")
    parser.add_argument("--profile", action="store_true",
                        help="also profile the three tracker cycles")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat the three cycles on fresh stores and report medians "
                             "(for machines whose speed drifts)")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args(argv)
    n = args.pages
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if not TRACKER.exists():
        print(f"error: {TRACKER} missing: .venv/bin/pip install -e .", file=sys.stderr)
        return 2

    started = time.perf_counter()
    load_start = os.getloadavg()[0]
    digest_start = source_digest()
    tmp = Path(tempfile.mkdtemp(prefix="check-cycle-", dir="/tmp"))
    problems: list[str] = []
    try:
        uw = None if args.skip_urlwatch else urlwatch_bin()
        t0 = time.perf_counter()
        pages = PageSet(n)
        www = tmp / "www"
        www.mkdir()
        size = pages.write(www, 1)
        print(f"pages: {n} x {size / n / 1000:.1f} KB (generated in "
              f"{time.perf_counter() - t0:.1f} s); change in cycle 3: {CHANGED_FROM!r} -> "
              f"{CHANGED_TO!r}; half of the pages show a per-request consent id in the banner")
        with StaticServer(www, tmp / "server", args.server, args.server_workers) as server:
            print(f"server: {server.kind} on 127.0.0.1:{server.port} "
                  f"({args.server_workers} worker process(es)); tracker concurrency "
                  f"{args.concurrency}, workers "
                  f"{'default' if args.workers is None else args.workers}; tracker source "
                  f"digest {source_digest()}")
            results: dict[str, dict[str, Run]] = {"tracker": {}, "urlwatch": {}}

            print(compile_tracker())
            # Warm-up (not measured): one page through each tool, so the first measured cycle
            # does not pay for a cold disk cache of either tool's modules.
            wconfig = write_tracker_config(tmp / "warm-tracker", server, 1, 1, 0)
            measure([str(TRACKER), "--config", str(wconfig), "check", "--all"],
                    tmp / "warm-tracker")
            if uw is not None:
                wjobs, wcfg = write_urlwatch_files(tmp / "warm-urlwatch", server, 1)
                measure([str(uw), "--urls", str(wjobs), "--config", str(wcfg), "--cache",
                         str(tmp / "warm-urlwatch" / "cache.db")], tmp / "warm-urlwatch",
                        dict(os.environ, HOME=str(tmp / "warm-urlwatch")))

            floor = start_floor(tmp)
            uw_floor = urlwatch_floor(tmp, uw, server) if uw is not None else None
            rounds = [run_round(r, tmp, server, pages, www, n, args, uw, problems)
                      for r in range(args.rounds)]
            results = {tool: {cycle: median_run([rd.runs[tool][cycle] for rd in rounds])
                              for cycle, _ in CYCLES if cycle in rounds[0].runs[tool]}
                       for tool in ("tracker", "urlwatch")}
            last = rounds[-1]
            store_mb, snap_mb, uw_cache_mb = last.store_mb, last.snap_mb, last.uw_cache_mb

            print(f"\nN={n}; wall = seconds, cpu = user+sys seconds of the tool's process(es); "
                  f"load average now {os.getloadavg()[0]:.1f} (at start {load_start:.1f}) on "
                  f"{os.cpu_count()} CPUs")
            if args.rounds > 1:
                print(f"{args.rounds} rounds on fresh stores, the tools alternating within each "
                      "cycle; times are medians, RSS the maximum; every round's wall times:")
                for tool in ("tracker", "urlwatch"):
                    for cycle, _ in CYCLES:
                        walls = [rd.runs[tool][cycle].wall for rd in rounds
                                 if cycle in rd.runs[tool]]
                        if walls:
                            print(f"  {tool:<8} {cycle:<10} "
                                  + " ".join(f"{w:6.2f}" for w in walls))
            print("RSS = peak RSS of the largest single process (ru_maxrss); sum = peak of the "
                  "summed PSS of the process tree (worker pool included), polled every 50 ms")
            print(f"{'':<10} {'-------------- tracker --------------':>45}   "
                  f"{'----- urlwatch -----':>26}   {'-- urlwatch/tracker --':>24}")
            print(f"{'cycle':<10} {'wall s':>7} {'cpu s':>7} {'RSS MB':>7} {'sum MB':>7} "
                  f"{'pages/s':>8}   {'wall s':>7} {'cpu s':>7} {'RSS MB':>7}   {'wall':>7} "
                  f"{'cpu':>7} {'target':>8}")
            for cycle, _ in CYCLES:
                t = results["tracker"][cycle]
                u = results["urlwatch"].get(cycle)
                line = (f"{cycle:<10} {t.wall:7.2f} {t.cpu:7.2f} {t.rss_mb:7.1f} "
                        f"{t.tree_mb:7.1f} {n / t.wall:8.1f}   ")
                if u:
                    ratio, cpu_ratio = u.wall / t.wall, u.cpu / t.cpu
                    ok = "ok" if ratio >= TARGETS[cycle] else "MISSED"
                    line += (f"{u.wall:7.2f} {u.cpu:7.2f} {u.rss_mb:7.1f}   {ratio:6.2f}x "
                             f"{cpu_ratio:6.2f}x {'>=' + format(TARGETS[cycle], '.0f') + 'x':>5} "
                             f"{ok}")
                print(line)
            print(f"tracker start floor (`check --all` with no targets: imports, config, store): "
                  f"{floor:.2f} s")
            if uw_floor is not None:
                print(f"urlwatch start floor (an empty job list): {uw_floor:.2f} s; the cycles "
                      "after each tool's start floor (wall minus floor):")
                for cycle, _ in CYCLES:
                    t, u = results["tracker"][cycle], results["urlwatch"].get(cycle)
                    if u:
                        print(f"  {cycle:<10} tracker {t.wall - floor:5.2f} s, urlwatch "
                              f"{u.wall - uw_floor:5.2f} s: "
                              f"{(u.wall - uw_floor) / max(t.wall - floor, 0.01):.2f}x")
            unchanged = results["urlwatch"].get("unchanged")
            if unchanged:
                goal = unchanged.wall / TARGETS["unchanged"]
                left = (f"leaves {goal - floor:.2f} s after that floor for {n} pages"
                        if goal > floor else "is below that floor")
                print(f"  urlwatch's unchanged cycle took {unchanged.wall:.2f} s: "
                      f"{TARGETS['unchanged']:.0f}x means {goal:.2f} s, which {left}")
            print()
            for cycle, _ in CYCLES:
                print(f"tracker  {cycle:<10} {rounds[-1].runs['tracker'][cycle].out}")
            for cycle, run in rounds[-1].runs["urlwatch"].items():
                print(f"urlwatch {cycle:<10} {run.out}")
            peak = max(r.rss_mb for r in results["tracker"].values())
            tree = max(r.tree_mb for r in results["tracker"].values())
            verdict = "within" if max(peak, tree) <= RSS_LIMIT_MB else "OVER"
            print(f"\ntracker peak RSS at N={n}: {peak:.1f} MB largest process, {tree:.1f} MB "
                  f"summed over its processes ({verdict} the {RSS_LIMIT_MB} MB target)")
            print(f"tracker store after 3 cycles: {store_mb:.1f} MB "
                  f"(snapshots {snap_mb:.1f} MB, database {store_mb - snap_mb:.1f} MB) = "
                  f"{store_mb * 1000 / n:.1f} MB per 1000 targets; on disk "
                  f"{last.store_disk_mb * 1000 / n:.1f} MB (whole blocks)")
            if uw is not None:
                print(f"urlwatch cache after 3 cycles: {uw_cache_mb:.1f} MB = "
                      f"{uw_cache_mb * 1000 / n:.1f} MB per 1000 targets; on disk "
                      f"{last.uw_cache_disk_mb * 1000 / n:.1f} MB")

            if args.profile:
                profile_tracker(tmp, server, pages, n, args)

        if not args.skip_compare:
            print("\ntracker compare on the devset (benchmarks/semantic_eval.py, in-process):")
            for line in compare_median():
                print(f"  {line}")
        if source_digest() != digest_start:
            problems.append(f"tracker/ source changed during the run ({digest_start} -> "
                            f"{source_digest()}): figures mix two versions")
        if problems:
            print("\nPROBLEMS:")
            for problem in problems:
                print(f"  - {problem}")
        else:
            print("\ncorrectness: all version counts as expected")
        print(f"\nbenchmark total: {time.perf_counter() - started:.0f} s")
        return 1 if problems else 0
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
