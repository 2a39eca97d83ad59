"""`tracker export`: every version of a page with its text and provenance (JSON or Markdown).

Registered on the main CLI app by importing this module. The Markdown form nests each
version's text under the export's own headings and keeps page text inert.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from html import escape
from typing import Annotated

import typer

from .cli import _ctx, _print_json, app


class ExportFormat(StrEnum):
    json = "json"
    markdown = "markdown"


@app.command()
def export(ctx: typer.Context, name: str,
           format: Annotated[ExportFormat, typer.Option("--format", "-f")]
           = ExportFormat.json) -> None:
    """Every version of a page with its text and provenance."""
    from .queries import export as export_data

    c = _ctx(ctx)
    with c.store.session() as session:
        data = export_data(session, c.store.blobs, name)
    if format == ExportFormat.json:
        _print_json(data)
        return
    target = data["target"]
    lines = [f"# {target['name']}", "", f"URL: {target['url']}", ""]
    for v in data["versions"]:
        p = v["provenance"]
        lines += [f"## Version {v['id']} — captured {v['captured_at']} ({p['source']})", "",
                  f"- fetched from: {p['final_url']} (HTTP {p['status']})",
                  f"- raw sha256: {p['raw_sha256']}"]
        if p["memento_url"]:
            lines.append(f"- memento: {p['memento_url']}")
        if v["change"]:
            lines.append(f"- change: {_markdown_escaped(v['change']['summary'])}")
        lines += ["", _nested_markdown(v["text"].rstrip()), ""]
    sys.stdout.write("\n".join(lines) + "\n")


def _nested_markdown(text: str) -> str:
    """A version's text under the export's own headings, and inert.

    The page's headings move two levels down (its "# Privacy Policy" would otherwise sit
    beside the export's "# name"), and markup characters are escaped: page text that reads
    "<script>" must not become live HTML where the export is rendered.
    """
    lines = []
    for line in _markdown_escaped(text).split("\n"):
        level = len(line) - len(line.lstrip("#"))
        if level and line[level:level + 1] == " ":
            line = "#" * min(level + 2, 6) + line[level:]
        lines.append(line)
    return "\n".join(lines)


def _markdown_escaped(text: str) -> str:
    return escape(text, quote=False)  # &, < and >: no raw HTML where Markdown is rendered
