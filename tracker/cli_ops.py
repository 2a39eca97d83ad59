"""Operational commands (daemon, alerts): registered on the main CLI app.

Kept out of cli.py so the long-running side (scheduler, SMTP) has its own small module;
cli.py imports this module at its bottom, which is what registers the commands.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from .cli import Context, Format, _print_json, _table, app, err, escape, out
from .target_spec import TargetError


def _ctx(ctx: typer.Context) -> Context:
    return ctx.obj


@app.command()
def daemon(ctx: typer.Context,
           verbose: Annotated[bool, typer.Option("--verbose", "-v",
                                                 help="Debug logging.")] = False) -> None:
    """Run the scheduler in the foreground: checks, alerts, digest. Stop with SIGTERM/Ctrl-C.

    Logs go to stderr, one key=value line per event. SIGHUP reloads config.toml.
    """
    from .daemon import run_daemon
    from .daemon_lock import LockError
    from .daemon_log import setup_logging

    c = _ctx(ctx)
    if c.config.email.enabled:
        c.config.email.password()  # a missing password variable stops us before anything is written
    store = c.store
    setup_logging(verbose)
    try:
        # The database has the targets now: the daemon carries no second list of them.
        run_daemon(c.config_without_targets(), store)
    except LockError as exc:
        typer.echo(f"error: {exc}", err=True)  # one unwrapped line: logs and journald grep it
        raise typer.Exit(2) from None


@app.command()
def alerts(ctx: typer.Context,
           pending: Annotated[bool, typer.Option(
               "--pending", help="Only alerts not sent yet.")] = False,
           format: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
           limit: Annotated[int, typer.Option(help="At most this many (newest first).",
                                              min=1)] = 50,
           preview: Annotated[str | None, typer.Option(
               "--preview", metavar="NAME",
               help="Render the alert for NAME's latest change (nothing is sent).")] = None,
           html: Annotated[bool, typer.Option(
               "--html", help="With --preview: print the HTML part.")] = False,
           send: Annotated[bool, typer.Option(
               "--send", help="Send every unsent alert now, ignoring retry delays.")] = False,
           digest: Annotated[bool, typer.Option(
               "--digest", help="Put the changes waiting for the digest into digest mails "
                                "now, not at the daemon's next digest time (with --send: "
                                "and send them).")] = False,
           ) -> None:
    """The email outbox: list alerts, preview one, queue the digest, or flush the outbox."""
    if html and preview is None:
        raise typer.BadParameter("only with --preview NAME", param_hint="'--html'")
    if (send or digest) and preview is not None:
        raise typer.BadParameter("--preview sends and queues nothing; use one or the other",
                                 param_hint="'--send' / '--digest'")
    c = _ctx(ctx)
    if preview is not None:
        _preview(c, preview, html)
        return
    if digest:
        _queue_digest(c)
    if send:
        _send(c)
    if send or digest:
        return
    from .alerts.digest import waiting_for_digest
    from .alerts.outbox import list_alerts

    with c.store.session() as session:
        rows = list_alerts(session, pending_only=pending, limit=limit)
        waiting = waiting_for_digest(session)
    if format == Format.json:
        _print_json(rows)
        return
    if not rows:
        out.print("no pending alerts" if pending else "no alerts yet")
        _digest_note(waiting)
        return
    table = _table("id", "created", "kind", "target", "status", "tries", "subject", "when / error")
    styles = {"sent": "green", "pending": "yellow", "sending": "cyan", "failed": "red",
              "cancelled": "dim"}
    for row in rows:
        status = row["status"]
        when = row["sent_at"] if status == "sent" else row["next_attempt_at"] or ""
        if row["last_error"]:
            when = f"{when} {row['last_error']}".strip()
        table.add_row(str(row["id"]), row["created_at"] or "", row["kind"],
                      escape(row["target"] or "—"),
                      f"[{styles.get(status, '')}]{status}[/]", str(row["attempts"]),
                      escape(row["subject"]), escape(when))
    table.print()
    _digest_note(waiting)
    if not c.config.email.enabled:
        out.print(escape("email is not configured ([email] host): alerts stay in the outbox"))


def _preview(c: Context, name: str, html: bool) -> None:
    from .alerts.compose import TargetInfo, compose_change
    from .alerts.rules import change_item
    from .queries import latest_change
    from .targets import get_target

    with c.store.session() as session:
        target = get_target(session, name)
        change = latest_change(session, target)
        if change is None:
            raise TargetError(f"target {name!r} has no change yet (nothing to preview)")
        assert target.id is not None
        item = change_item(session, TargetInfo(target.id, target.name, target.url), change)
    if item is None:
        raise TargetError(f"target {name!r}: the latest change's versions are missing")
    composed = compose_change(item, c.store.blobs)
    if html:
        sys.stdout.write(composed.html)
    else:
        sys.stdout.write(f"Subject: {composed.subject}\n\n{composed.text}")
    # The mail shown is what the change would say; whether it is sent on its own is the rules'.
    note = _DELIVERY.get(change.alert_state)
    if note:
        err.print(f"note: {note}", markup=False)


#: How a change reaches people, by its alert state (printed after a preview, on stderr).
_DELIVERY = {
    "digest": "this change is not mailed on its own: it goes into the next digest",
    "none": "this change is never mailed (noise, or the digest is off)",
    "suppressed": "this change is never mailed (imported history, or an edit of the target)",
}


def _digest_note(waiting: int) -> None:
    if waiting:
        out.print(escape(f"{waiting} change{'s' if waiting != 1 else ''} waiting for the next "
                         "digest (`tracker alerts --digest` queues it now)"))


def _queue_digest(c: Context) -> None:
    """What the daemon's digest job does, now (the daemon may run meanwhile: each change goes
    into exactly one digest, whichever queues it first)."""
    from .alerts.digest import queue_digest

    with c.store.session() as session:
        queued = [(alert.id, alert.subject, alert.recipients_json) for alert in
                  queue_digest(session, c.config)]
    if not queued:
        out.print("no changes waiting for the digest")
        return
    for alert_id, subject, recipients in queued:
        to = ", ".join(json.loads(recipients)) or "nobody yet (no recipients configured)"
        out.print(escape(f"queued digest alert {alert_id}: {subject} -> {to}"))


def _send(c: Context) -> None:
    from .alerts.outbox import send_due

    config = c.config
    if not config.email.enabled:
        raise TargetError("email is not configured: set [email] host (and sender, "
                          "recipients) in config.toml")
    summary = send_due(c.store, config, force=True)
    for alert_id, error in summary.retrying:
        err.print(f"alert {alert_id}: not sent, will retry: {escape(error)}")
    for alert_id, error in summary.failed:
        err.print(f"alert {alert_id}: refused for good: {escape(error)}")
    out.print(f"sent {len(summary.sent)}, retrying {len(summary.retrying)}, "
              f"failed {len(summary.failed)}")
    if summary.retrying or summary.failed:
        raise typer.Exit(1)
