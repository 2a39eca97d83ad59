"""`tracker verify` (store integrity): registered on the main CLI app by importing this module.

Kept apart from cli.py so the command is a thin renderer of :mod:`tracker.verify`. Exit status
0 means healthy (orphan blobs and temp files are only warnings), 1 means errors remain (after
--repair: errors it could not repair), 2 is the usual user error (bad config, no database).
"""

from __future__ import annotations

import sys
from collections import defaultdict
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from .cli import Context, _print_json, app

if TYPE_CHECKING:  # imported by the command itself: other commands never load it
    from .verify import Issue, Repair, Report

#: Text output shows at most this many issues of one kind (JSON always lists all).
SHOWN_PER_KIND = 10


class VerifyFormat(StrEnum):
    text = "text"
    json = "json"


@app.command()
def verify(ctx: typer.Context,
           repair: Annotated[bool, typer.Option(
               "--repair", help="Rebuild what the blobs still determine; delete leftovers.")]
           = False,
           format: Annotated[VerifyFormat, typer.Option("--format", "-f")]
           = VerifyFormat.text) -> None:
    """Check that the database and the blob store agree (exit 1 when problems were found)."""
    from .verify import repair_store, verify_store

    c: Context = ctx.obj
    store = c.store
    found = verify_store(store)
    final, repairs = found, []
    if repair and any(i.repairable for i in found.issues):
        repairs = repair_store(store, found)
        final = verify_store(store)
    if format == VerifyFormat.json:
        data = found.to_dict()
        if repair:
            data["repairs"] = [r.to_dict() for r in repairs]
            data["after_repair"] = final.to_dict()
        _print_json(data)
    else:
        _print_text(found, repairs, final, repair)
    if not final.healthy:
        raise typer.Exit(1)


def _print_text(found: Report, repairs: list[Repair], final: Report, repaired: bool) -> None:
    counts = found.counts
    lines = [f"checked {counts['targets']} targets, {counts['snapshots']} snapshots, "
             f"{counts['versions']} versions, {counts['changes']} changes, "
             f"{counts['blobs']} blobs"]
    lines += _issue_lines(found.issues)
    if counts.get("orphan_blobs"):
        lines.append(f"orphan blobs: {counts['orphan_blobs']} (harmless leftovers of "
                     "interrupted checks)")
    if repaired:
        lines += [f"repaired: {r.detail}" if r.done else f"NOT repaired: {r.detail}"
                  for r in repairs]
        if final is not found:
            lines.append("after repair:")
            lines += _issue_lines(final.issues)
    lines.append(_verdict(final))
    sys.stdout.write("\n".join(lines) + "\n")


def _issue_lines(issues: list[Issue]) -> list[str]:
    by_kind: dict[str, list[Issue]] = defaultdict(list)
    for issue in issues:
        by_kind[issue.kind].append(issue)
    lines = []
    for kind, group in by_kind.items():
        for issue in group[:SHOWN_PER_KIND]:
            lines.append(f"{issue.severity:<7} {kind}: {issue.detail}")
        if len(group) > SHOWN_PER_KIND:
            lines.append(f"{group[0].severity:<7} {kind}: ... and "
                         f"{len(group) - SHOWN_PER_KIND} more (--format json lists all)")
    return lines


def _verdict(report: Report) -> str:
    errors, warnings = len(report.errors), len(report.warnings)
    if not errors and not warnings:
        return "ok: no problems found"
    state = "ok" if not errors else "PROBLEMS"
    return f"{state}: {errors} error(s), {warnings} warning(s)"
