"""`tracker demo`: the whole loop offline, on pages this project wrote.

Serves two sample policy pages from 127.0.0.1, checks them, re-checks after every session
token, banner and copyright year rotated (no new version), then publishes a new privacy policy
(longer retention, data now sold, AI training, a new age threshold, a new date) and shows the
detected change, its history and its diff.
"""

from __future__ import annotations

import json
import tempfile
from importlib.resources import files
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

from .check import run_checks
from .config import parse_config
from .queries import history, latest_change
from .render import build_report, render_rich, render_text
from .store import Store
from .targets import enabled_targets, get_target, sync_config_targets


def _page(name: str) -> str:
    return files("tracker").joinpath("demo_pages", name).read_text(encoding="utf-8")


class DemoPortError(Exception):
    """The demo's page server cannot listen on the port asked for."""


def run_demo(console: Console, port: int = 0, keep: Path | None = None) -> None:
    """Run the demo in ``keep`` (left for exploring), else in a folder removed afterwards."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        _demo(console, port, keep, kept=True)
        return
    with tempfile.TemporaryDirectory(prefix="tracker-demo-") as folder:
        _demo(console, port, Path(folder), kept=False)


def _demo(console: Console, port: int, workdir: Path, kept: bool) -> None:
    pages = {"/privacy": _page("privacy_v1.html"), "/terms": _page("terms.html")}
    try:
        server = _Server(pages, port)
    except OSError as exc:
        raise DemoPortError(f"--port {port}: {exc.strerror or exc}") from None
    with server:
        settings = {
            "storage": {"database": "sqlite:///demo.db", "snapshots": "snapshots"},
            "fetch": {"per_host_delay": 0, "timeout": 10, "retries": 0},
            "targets": [{"name": "acme-privacy", "url": server.url("/privacy")},
                        {"name": "acme-terms", "url": server.url("/terms")}],
        }
        (workdir / "config.toml").write_text(_toml(settings), encoding="utf-8")
        config = parse_config(settings, workdir / "config.toml")
        store = Store.open(config)
        with store.session() as session:
            sync_config_targets(session, config)
            targets = enabled_targets(session)

        def cycle(title: str) -> None:
            console.print(Rule(title))
            for outcome in sorted(run_checks(config, store, targets), key=lambda o: o.target):
                detail = outcome.summary or outcome.detail or ""
                console.print(f"  {outcome.target:<14} {outcome.result:<14} {detail}",
                              markup=False)

        console.print(f"Serving two sample policy pages at {server.url('/')} "
                      f"(data in {workdir})", markup=False)
        cycle("1. first check: every page becomes its first version")
        cycle("2. re-check: session tokens, cookie banner ids and promo links rotated")
        server.pages["/privacy"] = _page("privacy_v2.html")
        cycle("3. the privacy policy is updated")
        with store.session() as session:
            rows = history(session, "acme-privacy")
            change = latest_change(session, get_target(session, "acme-privacy"))
        console.print(Rule("tracker history acme-privacy"))
        for row in rows:
            summary = row["change"]["summary"] if row["change"] else "first version"
            console.print(f"  v{row['id']}  {row['captured_at']}  {row['source']}  {summary}",
                          markup=False)
        console.print(Rule("tracker diff acme-privacy"))
        assert change is not None
        from .history import load_document
        from .models import Version

        with store.session() as session:
            old = session.get(Version, change.from_version_id)
            new = session.get(Version, change.to_version_id)
        assert old is not None and new is not None
        report = build_report(load_document(store.blobs, old), load_document(store.blobs, new),
                              json.loads(change.comparison_json), title="acme-privacy",
                              old_label=f"v{old.id}", new_label=f"v{new.id}")
        if console.is_terminal:
            console.print(render_rich(report))
        else:  # piped: word-level markers instead of colors
            console.print(render_text(report), markup=False, end="")
        console.print(Rule())
        console.print(f"Try it yourself: tracker --config {workdir / 'config.toml'} "
                      "history acme-privacy" if kept else
                      "Run with --keep DIR to keep the demo database and explore it.")
        store.close()


def _toml(settings: dict) -> str:
    """The demo's settings as config.toml, so `--keep DIR` leaves a browsable setup."""
    lines = []
    for section in ("storage", "fetch"):
        lines.append(f"[{section}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in settings[section].items()]
        lines.append("")
    for target in settings["targets"]:
        lines += ["[[targets]]", f'name = "{target["name"]}"', f'url = "{target["url"]}"', ""]
    return "\n".join(lines)


def _Server(pages: dict[str, str], port: int):  # noqa: N802 (reads like a class)
    from .devserver import DemoServer

    return DemoServer(pages, port)
