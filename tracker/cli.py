"""Command-line interface: parses arguments, calls the stages, renders. Nothing else.

User errors (bad config, unknown target, unreadable file) print one line on stderr and exit
with status 2; they never show a traceback.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from .blobs import BlobError
from .config_base import DEFAULT_CONFIG_NAME, ConfigError, config_path, read_config_file
from .normalize import NormalizeError
from .plaintext import plain_rows
from .store import Store, StoreError, sqlite_path
from .target_spec import TargetError
from .wayback_errors import WaybackError as WaybackErrors

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from .config import Config
    from .direct import Direct

app = typer.Typer(
    name="tracker",
    help="Track privacy policies and terms pages: history, semantic diffs, alerts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class _LazyConsole:
    """A rich Console made on first use: rich takes ~25 ms to import, and `check --quiet`, the
    daemon and every JSON output never print through it."""

    def __init__(self, **options: object) -> None:
        self._options = options
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)  # type: ignore[arg-type]
        return self._console

    def __getattr__(self, name: str) -> object:
        return getattr(self.console, name)


out = _LazyConsole(highlight=False, soft_wrap=True)
err = _LazyConsole(stderr=True, highlight=False, soft_wrap=True)  # an error: one line, unwrapped


def escape(text: str) -> str:
    """Escape rich markup in untrusted text (page content, URLs, user input)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


USER_ERRORS = (ConfigError, StoreError, TargetError, NormalizeError, BlobError)


def _table(*columns: str) -> _Rows:
    """Rows to print as a table (rich is imported on first use: `check --quiet` never needs it)."""
    return _Rows(columns)


_ISO_TIME = re.compile(r"\b(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}):\d{2}Z\b")
_DATE_START = re.compile(r"\d{4}-\d{2}-\d{2}\b")  # such a column keeps a whole date a line


class _Rows:
    """A rich table on a terminal; in a pipe or a log, plain aligned lines without markup.

    A boxed table is for reading on screen: piped to ``grep`` or a file it wraps long cells
    over many lines and cuts timestamps at the terminal's width.
    """

    def __init__(self, columns: tuple[str, ...]) -> None:
        self.columns = columns
        self.rows: list[tuple[str, ...]] = []  # cells in rich markup (page text escaped)

    def add_row(self, *cells: str) -> None:
        self.rows.append(cells)

    def print(self) -> None:
        if sys.stdout.isatty():
            from rich.table import Column, Table

            # Folded, not cut with "…": a narrow terminal gets taller rows, never a missing
            # date or result; times lose their seconds to fit ("2026-12-02 16:30").
            rows = [[_ISO_TIME.sub(r"\1 \2", cell) for cell in row] for row in self.rows]
            dated = {i for row in rows for i, cell in enumerate(row) if _DATE_START.match(cell)}
            table = Table(*(Column(name, overflow="fold", min_width=10 if i in dated else None)
                            for i, name in enumerate(self.columns)))
            for row in rows:
                table.add_row(*row)
            out.print(table)
            return
        from rich.text import Text

        plain = [[Text.from_markup(cell).plain for cell in row] for row in self.rows]
        sys.stdout.write("".join(f"{line}\n" for line in plain_rows(self.columns, plain)))


def _progress(label: str, extra: str | None = None) -> Progress:
    """A progress bar on stderr, for commands that run long in a terminal."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [TextColumn(label), BarColumn(), MofNCompleteColumn()]
    if extra is not None:
        columns.append(TextColumn(extra))
    return Progress(*columns, TimeElapsedColumn(), console=err.console,
                    disable=not err.is_terminal)


class Format(StrEnum):
    table = "table"
    json = "json"


class DiffFormat(StrEnum):
    text = "text"
    json = "json"
    html = "html"


class CompareFormat(StrEnum):
    text = "text"
    json = "json"


class Context:
    """Lazily loaded configuration and store for one command.

    ``quick`` (for `tracker check`): take config.toml's settings from the snapshot of its
    last validation when the file is unchanged (:mod:`tracker.config_snapshot`), and save
    one when it was read in full.
    """

    def __init__(self, config_option: str | None, quick: bool = False) -> None:
        self.path = config_path(config_option)
        self.quick = quick
        self._config: Config | None = None
        self._raw: bytes | None = None  # the config file's bytes, as read (None: no file)
        self._store: Store | None = None
        #: The snapshot's digest of the database's target list; None: the file was read.
        self._snapshot_targets: str | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            # The default ./config.toml may be absent (then built-in defaults apply);
            # an explicitly named file must exist. Read once: a check's snapshot is keyed by
            # the very bytes that were validated.
            self._raw = read_config_file(self.path,
                                         missing_ok=self.path == Path(DEFAULT_CONFIG_NAME))
            if self.quick and self._raw is not None:
                from . import config_snapshot

                snapshot = config_snapshot.load(self.path, self._raw)
                if snapshot is not None:
                    self._config, self._snapshot_targets = snapshot  # type: ignore[assignment]
                    return self._config
            self._config = self._validated()
        return self._config

    def _validated(self) -> Config:
        from .config import config_from_bytes

        return config_from_bytes(self._raw, self.path)

    @property
    def store(self) -> Store:
        if self._store is None:
            from . import direct

            new_database = self._new_default_database()
            store = Store.open(self.config)
            if new_database is not None:  # a command run in the wrong folder would else
                # leave an empty database there without a word
                err.print(f"note: no {self.path} here: started a new database "
                          f"{new_database} with the built-in defaults", markup=False)
            with direct.connection(store) as db:
                self._sync_targets(db)
            self._store = store
        return self._store

    def _sync_targets(self, db: Direct) -> None:
        """Make the database's target list agree with config.toml's (usually it does)."""
        from . import target_sync

        if self._snapshot_targets is not None:
            from .config_snapshot import targets_digest

            if targets_digest(db) == self._snapshot_targets:
                return  # the file and the list are as they were when they last agreed
            # The list changed since (`tracker add`, another config): validate the file.
            self._config, self._snapshot_targets = self._validated(), None
        if not target_sync.config_targets_in_sync(db, self.config):
            with db.transaction(write=True):
                target_sync.sync_config_targets(db, self.config)
        if self.quick and self._raw is not None:
            from . import config_snapshot

            config_snapshot.save(self.config, self._raw, db)

    def _new_default_database(self) -> Path | None:
        """The SQLite file about to be created for a missing default config.toml, if any."""
        path = sqlite_path(self.config.database_url)
        if self.path.exists() or path is None:
            return None
        database = Path(path)
        return None if database.exists() else database

    def config_without_targets(self) -> Config:
        """The config with its target list released, once the store has synced that list.

        From then on the database is the targets' source of truth, and a long list costs ~1 KB
        per target that a check cycle (and every process it forks) would otherwise carry.
        """
        if self._store is None:
            raise RuntimeError("open the store (which syncs the config's targets) first")
        self._config = self.config.model_copy(update={"targets": []})
        return self._config

    def close(self) -> None:
        """Close the database when the command ends (SQLite folds its WAL back in then)."""
        if self._store is not None:
            self._store.close()
            self._store = None


def _ctx(ctx: typer.Context) -> Context:
    return ctx.obj


def _print_version(value: bool) -> None:
    if value:
        from . import __version__

        sys.stdout.write(f"tracker {__version__}\n")
        raise typer.Exit()


@app.callback()
def _main(ctx: typer.Context,
          config: Annotated[str | None, typer.Option(
              "--config", "-c", help="Config file (default ./config.toml, or $TRACKER_CONFIG).",
              show_default=False)] = None,
          version: Annotated[bool, typer.Option(
              "--version", help="Print the version and exit.", is_eager=True,
              callback=_print_version)] = False) -> None:
    ctx.obj = Context(config, quick=ctx.invoked_subcommand == "check")
    ctx.call_on_close(ctx.obj.close)


def _print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


# --- targets ------------------------------------------------------------------------------

@app.command()
def add(ctx: typer.Context, name: str, url: str,
        select: Annotated[list[str] | None, typer.Option(
            "--select", help="CSS selector of the content (repeatable).")] = None,
        remove: Annotated[list[str] | None, typer.Option(
            "--remove", help="CSS selector of parts to drop (repeatable).")] = None,
        schedule: Annotated[str | None, typer.Option(help="e.g. 6h, 1d or a cron line.")] = None,
        tag: Annotated[list[str] | None, typer.Option("--tag", help="Tag (repeatable).")] = None,
        source: Annotated[str, typer.Option(help="live or wayback")] = "live") -> None:
    """Watch a new page."""
    from pydantic import ValidationError

    from .targets import add_target

    try:
        from .config import TargetConfig

        spec = TargetConfig(name=name, url=url, select=select or [], remove=remove or [],
                            schedule=schedule, tags=tag or [], source=source)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(x) for x in error["loc"])
        raise TargetError(f"{field}: {error['msg'].removeprefix('Value error, ')}") from None
    c = _ctx(ctx)
    with c.store.session() as session:
        add_target(session, spec)
    out.print(f"added {escape(name)} -> {escape(url)}")


@app.command(name="remove")
def remove_cmd(ctx: typer.Context, name: str) -> None:
    """Stop watching a page added with `tracker add` (its history is kept)."""
    from .targets import remove_target

    with _ctx(ctx).store.session() as session:
        remove_target(session, name)
    out.print(f"removed {escape(name)}")


@app.command(name="list")
def list_cmd(ctx: typer.Context,
             format: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
             all_: Annotated[bool, typer.Option(
                 "--all", help="Also the retired pages (removed or disabled; their history "
                               "stays).")] = False) -> None:
    """List the watched pages."""
    from .targets import TargetSpec, enabled_targets

    with _ctx(ctx).store.session() as session:
        if all_:
            from sqlmodel import select

            from .models import Target

            targets = [TargetSpec.of(t) for t in
                       session.exec(select(Target).order_by(Target.name))]
        else:
            targets = enabled_targets(session)
    rows = [{"name": t.name, "url": t.url, "source": t.source, "schedule": t.schedule,
             "select": list(t.select), "remove": list(t.remove), "tags": list(t.tags),
             "enabled": t.enabled}
            for t in targets]
    if format == Format.json:
        _print_json(rows)
        return
    if not rows:
        out.print("no targets yet: tracker add NAME URL, or list them in config.toml")
        return
    table = _table("name", "url", "source", "schedule", "tags")
    for row in rows:
        schedule = (row["schedule"] or "default") if row["enabled"] else "retired"
        table.add_row(escape(row["name"]), escape(row["url"]), row["source"],
                      escape(schedule), escape(", ".join(row["tags"])))
    table.print()


# --- checking -----------------------------------------------------------------------------

@app.command()
def check(ctx: typer.Context,
          names: Annotated[list[str] | None, typer.Argument(help="Targets to check.")] = None,
          all_: Annotated[bool, typer.Option("--all", help="Check every target.")] = False,
          quiet: Annotated[bool, typer.Option(
              "--quiet", "-q", help="Print nothing (for cron; results stay in `tracker status` "
                                    "and the alerts).")] = False) -> None:
    """Fetch pages now and record new versions. Exit 0 even when some pages failed."""
    from . import direct
    from .check import CheckOutcome, run_checks

    c = _ctx(ctx)
    store = c.store
    config = c.config_without_targets()  # synced: the database has them; a long list is freed
    if names:
        from .targets import TargetSpec, get_target

        with store.session() as session:
            specs = [TargetSpec.of(get_target(session, n)) for n in names]
    elif all_:
        with direct.connection(store) as db:
            specs = direct.enabled_targets(db)
    else:
        raise TargetError("name the targets to check, or use --all")
    if not specs:  # plain, not through rich: cron's empty runs should not pay its import
        sys.stdout.write("no targets to check: tracker add NAME URL, or list them in "
                         "config.toml\n")
        return
    # isatty, not rich's is_terminal: a check piped to a log never imports rich (~25 ms).
    if quiet or len(specs) == 1 or not sys.stderr.isatty():
        outcomes = run_checks(config, store, specs)
    else:
        progress = _progress("checking")
        with progress:
            task = progress.add_task("check", total=len(specs))

            def done(_: CheckOutcome) -> None:
                progress.advance(task)

            outcomes = run_checks(config, store, specs, done)
    if quiet:
        return
    _print_outcomes(outcomes)


def _print_outcomes(outcomes: list) -> None:
    from collections import Counter

    interesting = [o for o in outcomes if o.result not in ("unchanged", "not_modified")]
    counts = Counter(o.result for o in outcomes)
    summary = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(counts.items()))
    rows = []
    for o in sorted(interesting, key=lambda o: o.target):
        detail = o.summary or o.detail or ""
        if o.result == "new_version" and o.material:
            detail = "MATERIAL " + detail.removeprefix("material: ")
        rows.append((o.target, o.result, detail))
    if not sys.stdout.isatty():
        # A pipe or a log gets plain aligned lines: rich takes a quarter of a second to lay
        # out a thousand-row table, longer than a whole cycle of unchanged pages.
        lines = plain_rows(("target", "result", "detail"), rows) if rows else []
        lines.append(f"checked {len(outcomes)}: {summary}")
        sys.stdout.write("".join(f"{line}\n" for line in lines))
        return
    if rows:
        table = _table("target", "result", "detail")
        styles = {"new_version": "bold yellow", "first_version": "green", "failed": "red",
                  "quarantined": "magenta"}
        for target, result, detail in rows:
            table.add_row(escape(target), f"[{styles.get(result, '')}]{result}[/]", escape(detail))
        table.print()
    out.print(f"checked {len(outcomes)}: {summary}")


# --- reading history ----------------------------------------------------------------------

@app.command(name="history")
def history_cmd(ctx: typer.Context, name: str,
                format: Annotated[Format, typer.Option("--format", "-f")] = Format.table) -> None:
    """One row per version: when, from where, and what changed."""
    from .queries import history

    with _ctx(ctx).store.session() as session:
        rows = history(session, name)
    if format == Format.json:
        _print_json(rows)
        return
    if not rows:
        out.print(f"{escape(name)}: no versions yet (tracker check {escape(name)})")
        return
    table = _table("id", "captured", "source", "sha256", "size", "change")
    for row in rows:
        change = row["change"]
        if change is None:
            text = "first version"
        else:
            summary = change["summary"] or ""
            if change["material"]:  # said once, in capitals
                text = "[bold red]MATERIAL[/] " + escape(summary.removeprefix("material: "))
            else:
                text = escape(summary)
        table.add_row(str(row["id"]), row["captured_at"], row["source"], row["sha256"][:12],
                      f"{row['size']:,}", text)
    table.print()


@app.command()
def show(ctx: typer.Context, name: str,
         version: Annotated[str | None, typer.Argument(
             help="A version id from `tracker history`, latest / previous / first, or a date "
                  "(YYYY-MM-DD: the version in force that day). Default: latest.")] = None,
         raw: Annotated[bool, typer.Option("--raw", help="The raw snapshot bytes.")] = False,
         capture: Annotated[int | None, typer.Option(
             "--capture", metavar="ID",
             help="A capture instead of a version, quarantined ones included (ids from "
                  "`tracker accept --preview` or `tracker export`): its text as read now, "
                  "or its bytes with --raw.")] = None,
         ) -> None:
    """Print a version's normalized text (or its raw snapshot)."""
    from .models import Snapshot
    from .queries import version_by_ref
    from .targets import TargetSpec, get_target

    c = _ctx(ctx)
    with c.store.session() as session:
        target = get_target(session, name)
        if capture is not None:
            snapshot = session.get(Snapshot, capture)
            if snapshot is None or snapshot.target_id != target.id:
                raise TargetError(f"{name} has no capture #{capture}")
            spec, text_sha = TargetSpec.of(target), None
        else:
            row = version_by_ref(session, target, version)
            snapshot, text_sha = session.get(Snapshot, row.snapshot_id), row.text_sha256
    assert snapshot is not None
    if raw:
        sys.stdout.buffer.write(c.store.blobs.get(snapshot.sha256))
        sys.stdout.flush()
    elif text_sha is not None:
        sys.stdout.write(c.store.blobs.get_text(text_sha))
    else:
        from .analysis import read_capture

        document = read_capture(c.store.blobs, snapshot, spec.select, spec.remove)
        sys.stdout.write(document.to_text())


@app.command()
def diff(ctx: typer.Context, name: str,
         a: Annotated[str | None, typer.Argument(
             help="A version (an id from `tracker history`, latest / previous / first, or a "
                  "date YYYY-MM-DD). Alone: the change into it. Default: the latest change.")]
         = None,
         b: Annotated[str | None, typer.Argument(
             help="With A: the version to compare A with (A is the older one).")] = None,
         format: Annotated[DiffFormat, typer.Option("--format", "-f")] = DiffFormat.text) -> None:
    """Show what changed between two versions (default: the latest change).

    Version ids are the ones `tracker history NAME` lists (numbered across all targets).
    """
    from .history import load_document
    from .models import Change
    from .queries import latest_change, version_by_ref
    from .render import build_report
    from .targets import get_target

    c = _ctx(ctx)
    with c.store.session() as session:
        target = get_target(session, name)
        if a is None:
            change = latest_change(session, target)
            if change is None:
                raise TargetError(f"target {name!r} has no change yet")
            from .models import Version

            old, new = session.get(Version, change.from_version_id), \
                session.get(Version, change.to_version_id)
        elif b is None:
            new = version_by_ref(session, target, a)
            from .queries import previous_of

            old = previous_of(session, new)
            if old is None:
                raise TargetError(f"version {new.id} is {name}'s first version: nothing "
                                  "came before it (give two versions to compare)")
        else:
            old, new = version_by_ref(session, target, a), version_by_ref(session, target, b)
        assert old is not None and new is not None
        from sqlmodel import select

        stored = session.exec(select(Change).where(Change.from_version_id == old.id,
                                                   Change.to_version_id == new.id)).first()
    comparison = json.loads(stored.comparison_json) if stored else None
    old_doc, new_doc = load_document(c.store.blobs, old), load_document(c.store.blobs, new)
    if comparison is None:
        from .compare.semantic import compare_documents

        comparison = compare_documents(old_doc, new_doc).to_json_dict()
    report = build_report(
        old_doc, new_doc, comparison, title=f"{name} ({target.url})",
        old_label=f"v{old.id} ({old.captured_at:%Y-%m-%d %H:%M} UTC, {old.source})",
        new_label=f"v{new.id} ({new.captured_at:%Y-%m-%d %H:%M} UTC, {new.source})")
    _render_report(report, format.value, {
        "target": {"name": name, "url": target.url},
        "old_version": _version_ref(old), "new_version": _version_ref(new)})


def _version_ref(version) -> dict:  # type: ignore[no-untyped-def]
    """What a script needs to find a diff's version again."""
    from .queries import iso

    return {"id": version.id, "captured_at": iso(version.captured_at), "source": version.source,
            "text_sha256": version.text_sha256}


def _render_report(report, fmt: str,  # type: ignore[no-untyped-def]
                   provenance: dict | None = None) -> None:
    from .render import render_html, render_rich, render_text, report_json

    if fmt == "json":
        _print_json({**report_json(report), **(provenance or {})})
    elif fmt == "html":
        sys.stdout.write(render_html(report))
    elif out.is_terminal:
        out.print(render_rich(report))
    else:
        sys.stdout.write(render_text(report))


@app.command()
def compare(old_file: Path, new_file: Path,
            format: Annotated[CompareFormat, typer.Option("--format", "-f")]
            = CompareFormat.text,
            fail_on_material: Annotated[bool, typer.Option(
                "--fail-on-material",
                help="Exit 1 when the change is material (for scripts; default: exit 0 "
                     "whatever was found).")] = False) -> None:
    """Compare two local files (.html/.htm, .md/.markdown, .txt); no database needed."""
    from .compare.semantic import compare_documents
    from .normalize import normalize_file
    from .render import build_report

    old_doc, new_doc = normalize_file(old_file), normalize_file(new_file)
    comparison = compare_documents(old_doc, new_doc).to_json_dict()
    if format == CompareFormat.json:
        _print_json(comparison)
    else:
        report = build_report(old_doc, new_doc, comparison, old_label=str(old_file),
                              new_label=str(new_file))
        _render_report(report, "text")
    if fail_on_material and comparison.get("material"):
        raise typer.Exit(1)


@app.command(name="status")
def status_cmd(ctx: typer.Context,
               format: Annotated[Format, typer.Option("--format", "-f")] = Format.table) -> None:
    """Per target: last check, last change, failing since; and whether the daemon is alive."""
    from .queries import status

    with _ctx(ctx).store.session() as session:
        data = status(session)
    if format == Format.json:
        _print_json(data)
        return
    table = _table("target", "versions", "last check", "result", "last change", "failing since",
                  "next run")
    for row in data["targets"]:
        result = row["last_result"] or "never checked"
        if row["consecutive_failures"]:
            result = (f"[red]{result} x{row['consecutive_failures']}[/]: "
                      f"{escape(row['last_error'] or '')}")
        table.add_row(escape(row["name"]), str(row["versions"]), row["last_check"] or "—", result,
                      row["last_change"] or "—", row["failing_since"] or "—",
                      row["next_run"] or "—")
    table.print()
    daemon = data["daemon"]
    if daemon is None:
        out.print("daemon: never ran on this database")
    else:
        host = escape(str(daemon["host"]))
        if daemon["stopped_at"]:
            out.print(f"daemon: [red]not running[/] (stopped on {host} at "
                      f"{daemon['stopped_at']})")
        else:
            state = "[green]running[/]" if daemon["alive"] else "[red]not running[/]"
            out.print(f"daemon: {state} (pid {daemon['pid']} on {host}, "
                      f"last heartbeat {daemon['heartbeat_at']})")


class Every(StrEnum):
    day = "day"
    week = "week"
    month = "month"
    all = "all"


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise TargetError(f"{option}: not a date in YYYY-MM-DD form: {value!r}") from None


@app.command()
def backfill(ctx: typer.Context, name: str,
             from_: Annotated[str | None, typer.Option("--from", help="YYYY-MM-DD")] = None,
             to: Annotated[str | None, typer.Option("--to", help="YYYY-MM-DD")] = None,
             every: Annotated[Every, typer.Option(help="At most one capture per period.")]
             = Every.day) -> None:
    """Import a page's history from the Wayback Machine (resumable; never alerts)."""
    from . import eventloop
    from .backfill import BackfillProgress
    from .backfill import backfill as run_backfill
    from .targets import TargetSpec, get_target

    start, end = _date(from_, "--from"), _date(to, "--to")
    if start and end and start > end:
        raise TargetError("--from is after --to")
    c = _ctx(ctx)
    with c.store.session() as session:
        spec = TargetSpec.of(get_target(session, name))
    progress = _progress("{task.description}", "new versions: {task.fields[versions]}")
    with progress:
        task = progress.add_task("listing captures", total=None, versions=0)

        def show(p: BackfillProgress) -> None:
            progress.update(task, description=f"captures found {p.found}, fetched",
                            total=max(p.found - p.skipped, 0), completed=p.fetched,
                            versions=p.new_versions)

        try:
            result = eventloop.run(run_backfill(c.config, c.store, spec, start, end,
                                                every.value, show))
        except WaybackErrors as exc:
            raise TargetError(f"Wayback Machine: {exc}") from None
    out.print(f"{escape(name)}: {result.found} captures found, {result.skipped} already stored, "
              f"{result.fetched} fetched, {result.new_versions} new versions, "
              f"{result.quarantined} quarantined, {len(result.errors)} errors")
    for message in result.errors[:10]:
        out.print(f"  [red]error[/] {escape(message)}")


@app.command()
def accept(ctx: typer.Context, name: str,
           snapshot: Annotated[int | None, typer.Option(
               "--capture", "--snapshot",
               help="The capture's id (default: the newest quarantined one since the latest "
                    "version).")]
           = None,
           preview: Annotated[bool, typer.Option(
               "--preview", help="Show the capture's text and the change it would record; "
                                 "change nothing.")] = False
           ) -> None:
    """Record a quarantined capture as a version, once you have checked it is the real page."""
    from .accept import accept_capture

    c = _ctx(ctx)
    done = accept_capture(c.config, c.store, name, snapshot, preview)
    words = f"{done.words} words" + (f" (the version before it: {done.previous_words})"
                                     if done.previous_words is not None else "")
    out.print(f"{escape(name)}: capture #{done.snapshot_id} of {done.captured_at}, "
              f"quarantined for: {escape(done.reason or 'no reason recorded')}; {words}")
    if preview:
        out.print(f"would record it; change: {escape(done.summary or 'first version')}")
        out.print(f"its text as it would be recorded:\n{'-' * 40}", markup=False)
        sys.stdout.write(done.text if done.text.endswith("\n") else done.text + "\n")
        out.print(f"{'-' * 40}\nrecord it: tracker accept {name} --capture {done.snapshot_id}",
                  markup=False)
    elif done.version_id is None:
        out.print("its text is already the version before it: nothing new recorded")
    else:
        out.print(f"recorded as version {done.version_id}; change: "
                  f"{escape(done.summary or 'first version')}")


@app.command()
def renormalize(ctx: typer.Context,
                names: Annotated[list[str] | None, typer.Argument(
                    help="Targets to re-derive (default: all of them).")] = None) -> None:
    """Re-derive versions from stored snapshots with the current normalizer (never alerts)."""
    from .renormalize import renormalize_targets

    c = _ctx(ctx)
    report = renormalize_targets(c.store, names or None)
    for line in report:
        out.print(escape(line))


@app.command()
def demo(port: Annotated[int, typer.Option(help="Local port for the demo pages (0 = any).",
                                            min=0, max=65535)] = 0,
         keep: Annotated[Path | None, typer.Option(
             help="Keep the demo's database and snapshots in this folder.")] = None) -> None:
    """Offline demo: serve sample policy pages locally, change one, show what is detected."""
    from .demo import DemoPortError, run_demo

    try:
        run_demo(out, port, keep)
    except DemoPortError as exc:
        raise typer.BadParameter(str(exc).removeprefix(f"--port {port}: "),
                                 param_hint="'--port'") from None


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit status 2."""
    try:
        _run()
    except SystemExit as exc:
        _exit(exc.code)


def _exit(code: object) -> NoReturn:
    """Leave as soon as the work is done, flushed and closed.

    The interpreter's own teardown frees every object one at a time: ~0.1 s after a check of
    a thousand targets, a tenth of a cycle in which nothing changed. It is skipped only when
    nothing can be lost by that: no other thread is running, and output, logs and the
    database (closed with the command's context) are flushed here first.
    """
    if threading.active_count() > 1 or not isinstance(code, int | None):
        raise SystemExit(code)
    logging.shutdown()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # a closed pipe: let the interpreter report it the usual way
        raise SystemExit(code) from None
    os._exit(code or 0)


def _run() -> None:
    """Run the command; Click runs in non-standalone mode so its usage errors (bad option
    value, unknown command) are reported the same way as ours instead of in a box."""
    try:
        code = app(standalone_mode=False)
    except USER_ERRORS as exc:
        _fail(str(exc))
    except _USAGE_ERROR as exc:
        if not exc.format_message():  # no arguments at all: the help was just shown
            sys.exit(2)
        context = getattr(exc, "ctx", None)
        where = context.command_path if context else "tracker"
        _fail(f"{exc.format_message()} (see {where} --help)")
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        err.print("interrupted")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


# Click's UsageError, whether typer vendors click or depends on it: BadParameter's base.
_USAGE_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


def _fail(message: str) -> None:
    err.print("[bold red]error:[/] " + escape(message), highlight=False)
    sys.exit(2)


# Commands defined in their own modules register themselves on `app` when imported.
from . import cli_export, cli_ops, cli_verify  # noqa: E402,F401
