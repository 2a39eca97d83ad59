"""One diff renderer for the terminal, plain text, HTML (email, reports) and JSON.

:func:`build_report` turns two documents and their comparison into a :class:`Report`: the
material findings first (each quoting the old and the new clause), the effective date, then
the changed blocks with word-level spans. Every output format is a view of that one model, so
what the email says and what `tracker diff` shows cannot drift apart. All page text is escaped
in HTML: policy pages are untrusted input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from html import escape
from typing import TYPE_CHECKING

from .compare.align import ADDED, CHANGED, EQUAL, MOVED, REMOVED, align
from .compare.findings import readable, text_edits
from .compare.worddiff import DELETE, INSERT, Span, word_diff
from .compare.worddiff import EQUAL as EQUAL_SPAN
from .document import Document

if TYPE_CHECKING:
    from rich.console import Group

SECTION_SEPARATOR = " › "


@dataclass(frozen=True)
class BlockDiff:
    op: str  # changed | added | removed | moved
    section: str
    old: str | None
    new: str | None
    spans: tuple[Span, ...] = ()


@dataclass
class Report:
    """What changed between two versions, ready to render in any format."""

    title: str
    old_label: str
    new_label: str
    comparison: dict | None
    blocks: list[BlockDiff] = field(default_factory=list)

    @property
    def findings(self) -> list[dict]:
        return list((self.comparison or {}).get("findings", []))

    @property
    def material_findings(self) -> list[dict]:
        if not self.comparison or not self.comparison.get("material"):
            return []
        return [f for f in self.findings if f.get("category") != "effective_date"
                and f.get("severity") in ("high", "medium", "low")]

    @property
    def headline(self) -> str:
        c = self.comparison
        if c is None:
            return "changed" if self.blocks else "no change"
        if c.get("suspect"):
            return "suspect capture: " + (c.get("suspect_reason") or "looks broken")
        if c.get("material"):
            return "material change: " + ", ".join(
                x for x in c.get("categories", []) if x != "effective_date")
        if c.get("noise_only") and not text_edits(c):
            return "no change in meaning (formatting or page furniture only)"
        if c.get("categories") == ["effective_date"]:
            return "effective date changed; no other change in meaning"
        return "text changed; no material change found"


def build_report(old: Document, new: Document, comparison: dict | None, *, title: str = "",
                 old_label: str = "old", new_label: str = "new") -> Report:
    report = Report(title, old_label, new_label, comparison)
    for pair in align(old, new):
        if pair.op == EQUAL:
            continue
        section = SECTION_SEPARATOR.join(pair.section)
        if pair.op == CHANGED:
            assert pair.old is not None and pair.new is not None
            if pair.old.key == pair.new.key:
                continue  # typography only
            spans = tuple(word_diff(pair.old.text, pair.new.text))
            report.blocks.append(BlockDiff(CHANGED, section, pair.old.text, pair.new.text, spans))
        elif pair.op == ADDED:
            assert pair.new is not None
            report.blocks.append(BlockDiff(ADDED, section, None, pair.new.text))
        elif pair.op == REMOVED:
            assert pair.old is not None
            report.blocks.append(BlockDiff(REMOVED, section, pair.old.text, None))
        elif pair.op == MOVED:
            assert pair.new is not None
            report.blocks.append(BlockDiff(MOVED, section, pair.new.text, pair.new.text))
    return report


# --- condensed (mail) ------------------------------------------------------------------

#: In mail, each edit keeps this many unchanged words on either side of it ...
CONTEXT_WORDS = 12
#: ... and a quoted clause, or a whole added or removed block, is cut after this many words.
QUOTE_WORDS = 60


def condensed(report: Report, context: int = CONTEXT_WORDS, quote: int = QUOTE_WORDS) -> Report:
    """The report with long unchanged stretches and long quotes cut, for a mail.

    A one-word edit in a 200-word paragraph otherwise mails the whole paragraph, and a
    rewritten section quotes every sentence in each finding: the reader has to hunt for the
    change. The full text stays one `tracker diff` away (the mail says so).
    """
    comparison = report.comparison
    if comparison and comparison.get("findings"):
        comparison = {**comparison, "findings": [
            {**f, "old_text": _edited_quote(f.get("old_text"), f.get("new_text"), quote),
             "new_text": _edited_quote(f.get("new_text"), f.get("old_text"), quote)}
            for f in comparison["findings"]]}
    blocks = [replace(b, spans=_elided(b.spans, context)) if b.op == CHANGED else
              replace(b, old=_clipped(b.old, quote), new=_clipped(b.new, quote))
              for b in report.blocks]
    return Report(report.title, report.old_label, report.new_label, comparison, blocks)


def _clipped(text: str | None, limit: int) -> str | None:
    """``text`` cut after ``limit`` words (with a count of the rest), unless barely longer."""
    if text is None:
        return None
    words = text.split()
    if len(words) <= limit + limit // 4:
        return text
    return " ".join(words[:limit]) + f" … ({len(words) - limit} more words)"


_SENTENCE_BREAK = re.compile(r"(?<=[.!?;])\s+")


def _edited_quote(text: str | None, other: str | None, limit: int) -> str | None:
    """A long quote cut to the sentences around the one that was edited.

    A finding quotes its whole passage, which may be forty sentences with the edited one in
    the middle; its first sixty words would leave that one out. The edited sentence is the
    one not on the other side that shares the most words with what is only on the other side
    ("... for 36 months." against "... for 60 months."); sentences around it fill the quote.
    """
    if text is None or len(text.split()) <= limit + limit // 4:
        return text
    mine = _SENTENCE_BREAK.split(text)
    theirs = _SENTENCE_BREAK.split(other or "")
    shared = set(mine) & set(theirs)
    their_words = {w.lower() for s in theirs if s not in shared for w in s.split()}
    edited = [i for i, s in enumerate(mine) if s not in shared] or [0]
    best = max(edited, key=lambda i: len({w.lower() for w in mine[i].split()} & their_words))
    sizes = [len(s.split()) for s in mine]
    if sizes[best] > limit:  # one long sentence: from a little before its first new word
        words = mine[best].split()
        new = next((i for i, w in enumerate(words) if w.lower() not in their_words), 0)
        begin = max(0, min(new - limit // 3, len(words) - limit)) if their_words else 0
        return _framed(" ".join(words[begin:begin + limit]), best > 0 or begin > 0,
                       best + 1 < len(mine) or begin + limit < len(words), sum(sizes) - limit)
    start = end = best
    count = sizes[best]
    after = True  # whole sentences around it, taking turns after and before, while they fit
    while True:
        fits_after = end + 1 < len(mine) and count + sizes[end + 1] <= limit
        fits_before = start > 0 and count + sizes[start - 1] <= limit
        if fits_after and (after or not fits_before):
            end += 1
            count += sizes[end]
        elif fits_before:
            start -= 1
            count += sizes[start]
        else:
            break
        after = not after
    return _framed(" ".join(mine[start:end + 1]), start > 0, end + 1 < len(mine),
                   sum(sizes) - count)


def _framed(quote: str, cut_before: bool, cut_after: bool, left_out: int) -> str:
    """``quote`` with an ellipsis where text was cut, and how many words were."""
    return ("… " if cut_before else "") + quote + (" …" if cut_after else "") + \
        (f" ({left_out} more words)" if left_out else "")


def _elided(spans: tuple[Span, ...], context: int) -> tuple[Span, ...]:
    """Unchanged spans cut to ``context`` words next to each edit they touch."""
    last = len(spans) - 1
    return tuple(
        Span(EQUAL_SPAN, _around(span.text, after_edit=i > 0, before_edit=i < last,
                                 context=context))
        if span.op == EQUAL_SPAN else span
        for i, span in enumerate(spans))


def _around(text: str, after_edit: bool, before_edit: bool, context: int) -> str:
    """The first words of ``text`` (that follow an edit) and its last (that precede one)."""
    words = text.split(" ")  # keeps a leading or trailing space as an empty word
    kept = context * (after_edit + before_edit)
    if len(words) <= kept + 4:
        return text
    head = words[:context] if after_edit else []
    tail = words[-context:] if before_edit else []
    return " ".join([*head, "…", *tail])


# --- plain text ------------------------------------------------------------------------

def _value(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, list | tuple):
        return ", ".join(readable(v) for v in value) or "—"
    return readable(value)


def render_findings_text(report: Report) -> list[str]:
    lines: list[str] = []
    for finding in report.material_findings:
        head = f"* [{finding.get('severity', '')}] {finding.get('category')}: " \
               f"{finding.get('change')}"
        if finding.get("old") is not None or finding.get("new") is not None:
            head += f" ({_value(finding.get('old'))} -> {_value(finding.get('new'))})"
        lines.append(head)
        if finding.get("section"):
            lines.append(f"    section: {finding['section']}")
        if finding.get("old_text"):
            lines.append(f"    old: \"{finding['old_text']}\"")
        if finding.get("new_text"):
            lines.append(f"    new: \"{finding['new_text']}\"")
    return lines


def render_text(report: Report, *, max_blocks: int | None = None) -> str:
    """Plain text: headline, findings, effective date, then a unified word diff."""
    lines = [f"{report.title}: {report.old_label} -> {report.new_label}" if report.title
             else f"{report.old_label} -> {report.new_label}", report.headline]
    findings = render_findings_text(report)
    if findings:
        lines += ["", "Material findings:", *findings]
    date = (report.comparison or {}).get("effective_date")
    if date:
        lines += ["", f"Effective date: {date.get('old') or '—'} -> {date.get('new') or '—'}"]
    if report.blocks:
        lines += ["", "Changes:"]
    shown = report.blocks if max_blocks is None else report.blocks[:max_blocks]
    for block in shown:
        lines.append(f"@@ {block.section or '(top)'} @@ {block.op}")
        if block.op == CHANGED:
            lines.append("  " + "".join(_marked(s) for s in block.spans))
        elif block.op == ADDED:
            lines.append(f"+ {block.new}")
        elif block.op == REMOVED:
            lines.append(f"- {block.old}")
        else:
            lines.append(f"~ {block.new}")
    if max_blocks is not None and len(report.blocks) > max_blocks:
        lines.append(f"... and {len(report.blocks) - max_blocks} more changed blocks")
    return "\n".join(lines) + "\n"


def _marked(span: Span) -> str:
    if span.op == DELETE:
        return f"[-{span.text}-]"
    if span.op == INSERT:
        return f"{{+{span.text}+}}"
    return span.text


# --- terminal (rich) --------------------------------------------------------------------

def render_rich(report: Report) -> Group:
    # rich is imported here, not at the top: a check cycle imports this module (through the
    # alert rules) for every new version but never draws on a terminal, and rich costs
    # ~25 ms and a few MB per process.
    from rich.console import Group
    from rich.text import Text

    parts: list[Text] = []
    title = Text(report.title + "  " if report.title else "", style="bold")
    title.append(f"{report.old_label} → {report.new_label}", style="dim")
    parts.append(title)
    c = report.comparison or {}
    parts.append(Text(report.headline, style="bold red" if c.get("material") else "bold"))
    if report.material_findings:
        parts.append(Text("\nMaterial findings", style="bold underline"))
        for line in render_findings_text(report):
            style = "red" if line.lstrip().startswith("old:") else \
                "green" if line.lstrip().startswith("new:") else ""
            parts.append(Text(line, style=style))
    date = c.get("effective_date")
    if date:
        parts.append(Text(f"\nEffective date: {date.get('old') or '—'} → "
                          f"{date.get('new') or '—'}", style="cyan"))
    if report.blocks:
        parts.append(Text("\nChanges", style="bold underline"))
    for block in report.blocks:
        parts.append(Text(f"{block.section or '(top)'} · {block.op}", style="bold blue"))
        if block.op == CHANGED:
            line = Text("  ")
            for span in block.spans:
                style = "red strike" if span.op == DELETE else \
                    "green bold" if span.op == INSERT else ""
                line.append(span.text, style=style)
            parts.append(line)
        elif block.op == ADDED:
            parts.append(Text(f"+ {block.new}", style="green"))
        elif block.op == REMOVED:
            parts.append(Text(f"- {block.old}", style="red"))
        else:
            parts.append(Text(f"~ {block.new}", style="yellow"))
    return Group(*parts)


# --- HTML (inline styles: it goes into email) ----------------------------------------------

_DEL = "background:#fde2e1;color:#9b1c1c;text-decoration:line-through;"
_INS = "background:#dcfce7;color:#14532d;text-decoration:none;"
_OLD_QUOTE = "background:#fde2e1;color:#9b1c1c;"  # a whole old clause: coloured, not struck
_BOX = "border-left:3px solid {color};margin:8px 0;padding:4px 10px;"


def render_html_fragment(report: Report, *, max_blocks: int | None = None) -> str:
    """The report as an HTML fragment with inline styles; all page text escaped."""
    c = report.comparison or {}
    out = [f'<p style="font-weight:bold;font-size:15px;color:'
           f'{"#9b1c1c" if c.get("material") else "#111"}">{escape(report.headline)}</p>']
    if report.material_findings:
        out.append('<h3 style="margin:12px 0 4px">Material findings</h3>')
        for f in report.material_findings:
            value = ""
            if f.get("old") is not None or f.get("new") is not None:
                value = f" ({escape(_value(f.get('old')))} → {escape(_value(f.get('new')))})"
            out.append(f'<div style="{_BOX.format(color="#b91c1c")}"><div><b>'
                       f'{escape(str(f.get("category")))}</b>: {escape(str(f.get("change")))}'
                       f'{value} <span style="color:#666">[{escape(str(f.get("severity")))}]'
                       f'</span></div>')
            if f.get("section"):
                out.append(f'<div style="color:#666;font-size:12px">'
                           f'{escape(str(f["section"]))}</div>')
            if f.get("old_text"):
                out.append(f'<div dir="auto" style="{_OLD_QUOTE}margin-top:4px">Old: '
                           f'“{escape(str(f["old_text"]))}”</div>')
            if f.get("new_text"):
                out.append(f'<div dir="auto" style="{_INS}margin-top:4px">New: '
                           f'“{escape(str(f["new_text"]))}”</div>')
            out.append("</div>")
    date = c.get("effective_date")
    if date:
        out.append(f'<p>Effective date: {escape(str(date.get("old") or "—"))} → '
                   f'{escape(str(date.get("new") or "—"))}</p>')
    shown = report.blocks if max_blocks is None else report.blocks[:max_blocks]
    if shown:
        out.append('<h3 style="margin:12px 0 4px">Changes</h3>')
    for block in shown:
        color = {"changed": "#2563eb", "added": "#16a34a", "removed": "#dc2626"}.get(
            block.op, "#ca8a04")
        out.append(f'<div style="{_BOX.format(color=color)}"><div style="color:#666;'
                   f'font-size:12px">{escape(block.section or "(top)")} · {block.op}</div>'
                   '<div dir="auto">')
        if block.op == CHANGED:
            for span in block.spans:
                text = escape(span.text)
                if span.op == DELETE:
                    out.append(f'<del style="{_DEL}">{text}</del>')
                elif span.op == INSERT:
                    out.append(f'<ins style="{_INS}">{text}</ins>')
                else:
                    out.append(text)
        elif block.op == ADDED:
            out.append(f'<ins style="{_INS}">{escape(block.new or "")}</ins>')
        elif block.op == REMOVED:
            out.append(f'<del style="{_DEL}">{escape(block.old or "")}</del>')
        else:
            out.append(f"<i>moved:</i> {escape(block.new or '')}")
        out.append("</div></div>")
    if max_blocks is not None and len(report.blocks) > max_blocks:
        out.append(f"<p>… and {len(report.blocks) - max_blocks} more changed blocks</p>")
    return "".join(out)


def render_html(report: Report) -> str:
    """A standalone HTML page (for `tracker diff --format html`)."""
    title = escape(f"{report.title} {report.old_label} → {report.new_label}".strip())
    return ("<!doctype html><html><head><meta charset=\"utf-8\"><title>" + title +
            "</title></head><body style=\"font-family:system-ui,sans-serif;max-width:860px;"
            "margin:20px auto;line-height:1.45\"><h2>" + title + "</h2>" +
            render_html_fragment(report) + "</body></html>\n")


def report_json(report: Report) -> dict:
    return {
        "title": report.title, "old": report.old_label, "new": report.new_label,
        "headline": report.headline, "comparison": report.comparison,
        "blocks": [{"op": b.op, "section": b.section, "old": b.old, "new": b.new,
                    "diff": [{"op": s.op, "text": s.text} for s in b.spans] or None}
                   for b in report.blocks],
    }
