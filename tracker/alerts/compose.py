"""Subjects and bodies of alert emails, built from the one diff renderer (:mod:`tracker.render`).

The plain-text part is :func:`render_text` and the HTML part :func:`render_html_fragment` of
the same :class:`~tracker.render.Report`, so the mail cannot say something different from
`tracker diff`. Page text is untrusted: everything that comes from a page or a config value is
escaped in the HTML part (the renderer escapes the report; this module escapes what it adds).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from hashlib import sha256
from html import escape

from ..blobs import BlobError, BlobStore
from ..change_rows import change_subject, material_categories  # noqa: F401  (re-exported)
from ..history import load_document
from ..models import Change, Version
from ..render import Report, build_report, condensed, render_html_fragment, render_text
from .timeutil import as_utc, human, now_utc

#: Changed blocks shown in a change alert; the rest is one `tracker diff` away.
MAX_BLOCKS = 8
#: Changed blocks shown per change in a digest (a digest is an overview).
DIGEST_BLOCKS = 3

_PAGE = ('<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>'
         '<body style="font-family:system-ui,-apple-system,Segoe UI,sans-serif;color:#111;'
         'max-width:760px;margin:0 auto;padding:12px;line-height:1.45;font-size:14px">'
         '{body}</body></html>\n')
_MUTED = "color:#666;font-size:12px;"
_CODE = "font-family:ui-monospace,Menlo,Consolas,monospace;background:#f3f4f6;padding:1px 4px;"


@dataclass(frozen=True)
class Composed:
    """A subject with its plain-text and HTML bodies."""

    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class TargetInfo:
    """What an alert says about a target (plain data: works for rows and specs alike)."""

    id: int
    name: str
    url: str


@dataclass(frozen=True)
class ChangeItem:
    """One change with its two versions, ready to render."""

    target: TargetInfo
    change: Change
    old: Version
    new: Version


def _label(version: Version) -> str:
    captured = as_utc(version.captured_at)
    return f"v{version.id} ({captured:%Y-%m-%d %H:%M} UTC, {version.source})" if captured \
        else f"v{version.id}"


def build_change_report(item: ChangeItem, blobs: BlobStore) -> Report:
    """The report of one change, condensed for a mail; without the word diff if a text blob
    is unreadable."""
    comparison = json.loads(item.change.comparison_json or "{}")
    title = item.target.name
    old_label, new_label = _label(item.old), _label(item.new)
    try:
        old_doc = load_document(blobs, item.old)
        new_doc = load_document(blobs, item.new)
    except (BlobError, OSError, UnicodeDecodeError):
        # The findings (with their quoted clauses) are in the database; only the diff is lost.
        return condensed(Report(title, old_label, new_label, comparison))
    return condensed(build_report(old_doc, new_doc, comparison, title=title,
                                  old_label=old_label, new_label=new_label))


def _see_more_text(item: ChangeItem) -> list[str]:
    return ["See more:",
            f"  tracker diff {item.target.name} {item.old.id} {item.new.id}",
            f"  {item.target.url}"]


def _see_more_html(item: ChangeItem) -> str:
    url = escape(item.target.url, quote=True)
    command = escape(f"tracker diff {item.target.name} {item.old.id} {item.new.id}")
    return (f'<p style="{_MUTED}">See more: <code style="{_CODE}">{command}</code>'
            f' · <a href="{url}">{escape(item.target.url)}</a></p>')


def compose_change(item: ChangeItem, blobs: BlobStore, *,
                   max_blocks: int = MAX_BLOCKS) -> Composed:
    """One change: findings with old and new clauses, effective date, word diff, pointers."""
    report = build_change_report(item, blobs)
    comparison = report.comparison or {}
    subject = change_subject(item.target.name, comparison)
    text = render_text(report, max_blocks=max_blocks).rstrip("\n")
    text_lines = [text, "", *_see_more_text(item), ""]
    html = _PAGE.format(
        title=escape(subject),
        body=(f'<h2 style="margin:0 0 4px;font-size:18px">{escape(item.target.name)}</h2>'
              f'<p style="{_MUTED}">{escape(report.old_label)} → {escape(report.new_label)}</p>'
              + render_html_fragment(report, max_blocks=max_blocks) + _see_more_html(item)))
    return Composed(subject, "\n".join(text_lines), html)


def compose_change_brief(item: ChangeItem) -> Composed:
    """A change alert from the stored findings only (no word diff): the fallback body."""
    report = condensed(Report(item.target.name, _label(item.old), _label(item.new),
                              json.loads(item.change.comparison_json or "{}")))
    subject = change_subject(item.target.name, report.comparison or {})
    text = "\n".join([render_text(report).rstrip("\n"), "", *_see_more_text(item), ""])
    html = _PAGE.format(title=escape(subject),
                        body=render_html_fragment(report) + _see_more_html(item))
    return Composed(subject, text, html)


def compose_digest(items: Sequence[ChangeItem], blobs: BlobStore, period: str) -> Composed:
    """Non-material changes (rewordings, date-only bumps) of several targets in one mail."""
    names = sorted({i.target.name for i in items})
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    noun = "change" if len(items) == 1 else "changes"
    subject = f"[policy digest] {len(items)} {noun}: {shown}"
    text: list[str] = [f"Policy digest ({period}): {len(items)} non-material {noun} "
                       f"on {len(names)} page{'s' if len(names) != 1 else ''}.", ""]
    html: list[str] = [f'<h2 style="margin:0 0 4px;font-size:18px">Policy digest</h2>'
                       f'<p style="{_MUTED}">{escape(period)} · {len(items)} non-material '
                       f'{noun}</p>']
    ordered = sorted(items, key=lambda i: (i.target.name, as_utc(i.new.captured_at) or now_utc()))
    for item in ordered:
        report = build_change_report(item, blobs)
        text += ["=" * 72, render_text(report, max_blocks=DIGEST_BLOCKS).rstrip("\n"), "",
                 *_see_more_text(item), ""]
        html.append('<hr style="border:none;border-top:1px solid #ddd;margin:16px 0">'
                    f'<h3 style="margin:0 0 4px">{escape(item.target.name)}</h3>'
                    f'<p style="{_MUTED}">{escape(report.old_label)} → '
                    f'{escape(report.new_label)}</p>'
                    + render_html_fragment(report, max_blocks=DIGEST_BLOCKS)
                    + _see_more_html(item))
    return Composed(subject, "\n".join(text), _PAGE.format(title=escape(subject),
                                                           body="".join(html)))


@dataclass(frozen=True)
class Failure:
    """One failed or quarantined check, as listed in a "tracking broken" alert."""

    at: datetime
    result: str  # failed | quarantined
    detail: str | None


def compose_broken(target: TargetInfo, reason: str, since: datetime | None, failures: int,
                   recent: Sequence[Failure]) -> Composed:
    """Tracking is broken: why, since when; explicitly *not* a policy change."""
    quarantined = any(f.result == "quarantined" for f in recent)
    subject = f"[tracking broken] {target.name}: {_one_line(reason)}"
    headline = f"tracking broken: {reason} since {human(since)}"
    explain = ("This is not a policy change. The captures did not pass the quality gate "
               "(they are kept as quarantined evidence and were not compared). If they are "
               "in fact the real page (a policy that really got much shorter, say), look with "
               f"`tracker accept {target.name} --preview` and record it with "
               f"`tracker accept {target.name}`."
               if quarantined else
               "This is not a policy change: the page could not be fetched, so nothing was "
               "recorded.")
    text = [headline, "", f"Target: {target.name}", f"URL: {target.url}",
            f"Consecutive failed checks: {failures}", "", explain]
    if recent:
        text += ["", "Recent failed checks:"]
        text += [f"  {human(f.at)}  {f.result}: {f.detail or '—'}" for f in recent]
    text += ["", "You will get one more mail when tracking recovers; nothing in between.",
             "Current state: tracker status", ""]
    rows = "".join(f'<li><span style="{_MUTED}">{escape(human(f.at))}</span> '
                   f'{escape(f.result)}: {escape(f.detail or "—")}</li>' for f in recent)
    html = (f'<p style="font-weight:bold;font-size:15px;color:#9b1c1c">{escape(headline)}</p>'
            f'<p>Target: <b>{escape(target.name)}</b><br>URL: '
            f'<a href="{escape(target.url, quote=True)}">{escape(target.url)}</a><br>'
            f'Consecutive failed checks: {failures}</p><p>{escape(explain)}</p>'
            + (f'<p>Recent failed checks:</p><ul>{rows}</ul>' if rows else "")
            + f'<p style="{_MUTED}">You will get one more mail when tracking recovers. '
            f'Current state: <code style="{_CODE}">tracker status</code></p>')
    return Composed(subject, "\n".join(text), _PAGE.format(title=escape(subject), body=html))


def compose_recovered(target: TargetInfo, since: datetime | None, failures: int,
                      recovered_at: datetime) -> Composed:
    subject = f"[tracking recovered] {target.name}"
    headline = f"tracking recovered at {human(recovered_at)}"
    detail = f"It had been failing since {human(since)} ({failures} consecutive failed checks)."
    text = [headline, "", f"Target: {target.name}", f"URL: {target.url}", detail,
            "Checks continue as scheduled; any change made meanwhile is alerted as usual.", ""]
    html = (f'<p style="font-weight:bold;font-size:15px;color:#14532d">{escape(headline)}</p>'
            f'<p>Target: <b>{escape(target.name)}</b><br>URL: '
            f'<a href="{escape(target.url, quote=True)}">{escape(target.url)}</a></p>'
            f'<p>{escape(detail)}</p>')
    return Composed(subject, "\n".join(text), _PAGE.format(title=escape(subject), body=html))


def _one_line(value: str, limit: int = 120) -> str:
    value = " ".join(value.split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


def build_message(*, subject: str, text: str, html: str, sender: str,
                  recipients: Sequence[str], dedup_key: str,
                  created_at: datetime) -> EmailMessage:
    """multipart/alternative (text first, HTML last: clients show the last part they can).

    The Message-ID is derived from the alert (its dedup key and the moment it was queued), so
    if a crash between "the server accepted it" and "marked sent" makes us send again,
    receiving systems can recognize the duplicate. The dedup key alone ("change:1") repeats
    across databases: a second install, or a fresh database, would reuse IDs already in
    recipients' mailboxes, and a server that drops duplicates would drop real alerts.
    """
    message = EmailMessage()
    message["Subject"] = _one_line(subject, 250)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(now_utc())
    address = parseaddr(sender)[1]
    domain = address.rpartition("@")[2] if "@" in address else "policy-tracker.local"
    token = sha256(f"{dedup_key}|{as_utc(created_at)}".encode()).hexdigest()[:24]
    message["Message-ID"] = f"<alert-{token}@{domain}>"
    message["X-Tracker-Alert"] = dedup_key
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message
