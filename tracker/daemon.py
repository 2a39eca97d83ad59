"""`tracker daemon`: the scheduler in the foreground, for systemd and containers alike.

One asyncio event loop runs APScheduler 3 (AsyncIOScheduler) with:

* one job per enabled target (``check:<id>``) on its own schedule, with jitter,
  ``max_instances=1`` and coalescing; first runs come from the last check, so a restart neither
  re-checks everything nor skips what is overdue (:mod:`tracker.daemon_plan`);
* the outbox sender (every few seconds, and right after a check queued something);
* the digest per ``[daemon] digest``; a heartbeat; a periodic re-read of the target table
  (targets added with `tracker add` are picked up without a signal).

All checks share ONE :class:`~tracker.fetch.Fetcher`, so per-host politeness holds across
jobs. SIGHUP reloads config.toml and reconciles jobs; SIGTERM/SIGINT stop taking work, give
in-flight checks ``shutdown_grace`` seconds, cancel the rest (a check's database write is one
synchronous transaction, so cancelling can only drop a fetch, never half a record) and exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlmodel import Session, col, select

from . import eventloop
from .check import Checker, CheckOutcome, fetch_settings, make_executor
from .config import Config, ConfigError, load_config
from .daemon_lock import DaemonLock
from .daemon_log import event
from .daemon_plan import check_trigger, digest_trigger, plan_first_runs, previous_boundary
from .fetch import Fetcher
from .history import ALERT_DIGEST
from .models import Alert, Change, DaemonHeartbeat, FetchState, Target
from .schedule import parse_schedule
from .store import Store
from .targets import TargetSpec, enabled_targets, fetch_state, sync_config_targets

log = logging.getLogger("tracker.daemon")

HEARTBEAT_SECONDS = 5.0
OUTBOX_SECONDS = 10.0
RECONCILE_SECONDS = 30.0
_JOB_DEFAULTS = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


@dataclass
class _Job:
    spec: TargetSpec
    schedule_text: str


class Daemon:
    """The long-running process; :meth:`run` returns when asked to stop."""

    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self.started_at = _now()
        self.pid = os.getpid()
        self.host = socket.gethostname()
        self._jobs: dict[int, _Job] = {}
        self._inflight: dict[asyncio.Task, str] = {}
        self._stop = asyncio.Event()
        self._stop_flag = threading.Event()  # the same, for the outbox thread
        self._stopping = False
        self._email_notice_logged = False
        self._config_existed = bool(config.path and config.path.exists())

    # --- lifecycle ---------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, sig.name)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        with Session(self.store.engine) as session:
            targets = len(enabled_targets(session))
        self.executor = make_executor(self.config, targets)  # sized at start; kept on reload
        self.fetcher = Fetcher(fetch_settings(self.config))
        self.checker = Checker(self.config, self.store, self.executor)
        self.scheduler = AsyncIOScheduler(event_loop=loop, timezone=UTC,
                                          job_defaults=_JOB_DEFAULTS)
        self.scheduler.start()
        try:
            self._beat()
            self._reconcile()
            self._add_service_jobs()
            event(log, "started", pid=self.pid, host=self.host, targets=len(self._jobs),
                  database=self.config.database_url, email=self.config.email.enabled,
                  digest=self.config.daemon.digest)
            if self.config.email.enabled and not self._anyone_to_mail():
                event(log, "email_no_recipients", level=logging.WARNING,
                      note="[email] host is set but nobody is to receive alerts: they wait in "
                           "the outbox until email.recipients or a target's recipients is set")
            await self._stop.wait()
        finally:
            await self._shutdown()

    def _anyone_to_mail(self) -> bool:
        email = self.config.email
        if email.recipients or any(email.tags.values()):
            return True
        with Session(self.store.engine) as session:
            return session.exec(select(Target.id).where(
                col(Target.enabled), col(Target.recipients_json) != "[]")).first() is not None

    def request_stop(self, reason: str = "stop") -> None:
        if not self._stopping:
            event(log, "stopping", reason=reason, inflight=len(self._inflight))
        self._stopping = True
        self._stop_flag.set()
        self._stop.set()

    def request_reload(self) -> None:
        if not self._stopping:
            self._track(asyncio.ensure_future(self._reload()), "reload")

    async def _shutdown(self) -> None:
        self._stopping = True
        if hasattr(self, "scheduler") and self.scheduler.running:
            self.scheduler.pause()  # no new runs from here on
        grace = self.config.daemon.shutdown_grace
        pending = set(self._inflight)
        if pending:
            _, pending = await asyncio.wait(pending, timeout=grace)
        for task in pending:
            event(log, "abandoned", level=logging.WARNING, job=self._inflight.get(task, "?"),
                  reason=f"still running after shutdown_grace={grace}s")
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)
        if hasattr(self, "scheduler") and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if hasattr(self, "checker"):
            await self.checker.aclose()
        if hasattr(self, "fetcher"):
            await self.fetcher.aclose()
        if getattr(self, "executor", None) is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)
        self._sign_off()
        event(log, "stopped", pid=self.pid)

    def _sign_off(self) -> None:
        """Tell `tracker status` at once that this daemon stopped (not 30 s later)."""
        try:
            with self.store.session() as session:
                beat = session.get(DaemonHeartbeat, 1)
                if beat is not None and beat.pid == self.pid and beat.host == self.host:
                    beat.pid, beat.beat_at = 0, _now()
        except Exception as exc:  # the database may be what failed: stopping must go on
            log.warning("could not record the stop in the heartbeat: %s", exc)

    def _track(self, task: asyncio.Task, name: str) -> None:
        self._inflight[task] = name
        task.add_done_callback(lambda t: self._inflight.pop(t, None))

    def _register_current(self, name: str) -> asyncio.Task | None:
        task = asyncio.current_task()
        if task is not None:
            self._track(task, name)
        return task

    # --- jobs: targets -----------------------------------------------------------------

    def _reconcile(self) -> None:
        """Make the check jobs match the enabled targets (added, removed, rescheduled)."""
        with self.store.session() as session:
            specs = {spec.id: spec for spec in enabled_targets(session)}
            last = {s.target_id: _aware(s.last_check_at)
                    for s in session.exec(select(FetchState))}
        default = self.config.daemon.schedule
        removed = [tid for tid in self._jobs if tid not in specs]
        for target_id in removed:
            job = self._jobs.pop(target_id)
            if self.scheduler.get_job(f"check:{target_id}"):
                self.scheduler.remove_job(f"check:{target_id}")
            event(log, "unscheduled", target=job.spec.name)
        to_plan: list[tuple[int, str, datetime | None]] = []
        for target_id, spec in specs.items():
            text = spec.schedule or default
            current = self._jobs.get(target_id)
            if current is not None and current.schedule_text == text:
                current.spec = spec  # url, selectors, recipients may have changed
                continue
            self._jobs[target_id] = _Job(spec, text)
            to_plan.append((target_id, text, last.get(target_id)))
        now = _now()
        for plan in plan_first_runs(to_plan, now):
            job = self._jobs[plan.target_id]
            trigger = check_trigger(plan.schedule, self.config.daemon.jitter, plan.first_run)
            self.scheduler.add_job(self._check_job, trigger, args=[plan.target_id],
                                   id=f"check:{plan.target_id}", name=job.spec.name,
                                   next_run_time=plan.first_run, replace_existing=True)
            event(log, "scheduled", target=job.spec.name, schedule=job.schedule_text,
                  next_run=plan.first_run, overdue=plan.overdue)
        self._store_next_runs(list(specs) + removed)

    def _store_next_runs(self, target_ids: list[int]) -> None:
        if not target_ids:
            return
        with self.store.session() as session:
            for target_id in target_ids:
                job = self.scheduler.get_job(f"check:{target_id}")
                next_run = job.next_run_time if job is not None else None
                state = fetch_state(session, target_id)
                stored = _aware(state.next_run_at)
                if stored != next_run:
                    state.next_run_at = next_run

    async def _check_job(self, target_id: int) -> None:
        job = self._jobs.get(target_id)
        if job is None or self._stopping:
            return
        spec = self._current_spec(target_id)
        if spec is None:  # disabled or removed since the last reconcile: that will unschedule it
            return
        job.spec = spec
        self._register_current(f"check:{spec.name}")
        try:
            outcome = await self.checker.check_one(spec, self.fetcher)
        except asyncio.CancelledError:
            # Only shutdown cancels checks; nothing was written (the write is one transaction
            # after the last await), so the next daemon simply checks this target again.
            event(log, "check_abandoned", level=logging.WARNING, target=spec.name)
            return
        except Exception as exc:  # one target's bug must not stop the daemon
            log.exception("check crashed", extra={"fields": {
                "event": "check_error", "target": spec.name, "error": str(exc)}})
            return
        self._log_outcome(outcome)
        self._store_next_runs([target_id])
        if self._has_due_alerts():
            self._wake_outbox()

    def _current_spec(self, target_id: int) -> TargetSpec | None:
        """The target as stored now, not as at the last reconcile.

        Any `tracker` command syncs config.toml into the database: a check with the URL or
        selectors of before would read the page the old way, and overwrite the marker that
        keeps the edit's own change from being alerted (see ``forget_validators``).
        """
        with self.store.session() as session:
            target = session.get(Target, target_id)
            return TargetSpec.of(target) if target is not None and target.enabled else None

    def _log_outcome(self, outcome: CheckOutcome) -> None:
        fields: dict[str, object] = {"target": outcome.target, "result": outcome.result}
        if outcome.result in ("new_version", "first_version"):
            fields["material"] = outcome.material
            fields["version"] = outcome.version_id
            if outcome.change_id is not None:
                fields["change"] = outcome.change_id
            if outcome.summary:
                fields["summary"] = outcome.summary
        if outcome.failed:
            fields["failures"] = outcome.consecutive_failures
            fields["reason"] = outcome.detail
        level = logging.WARNING if outcome.failed else logging.INFO
        event(log, "check", level=level, **fields)

    # --- jobs: service -----------------------------------------------------------------

    def _add_service_jobs(self) -> None:
        now = _now()
        self.scheduler.add_job(self._heartbeat_job, IntervalTrigger(
            seconds=HEARTBEAT_SECONDS, timezone=UTC), id="heartbeat", name="heartbeat")
        self.scheduler.add_job(self._reconcile_job, IntervalTrigger(
            seconds=RECONCILE_SECONDS, timezone=UTC), id="reconcile", name="reconcile")
        self.scheduler.add_job(self._outbox_job, IntervalTrigger(
            seconds=OUTBOX_SECONDS, timezone=UTC), id="outbox", name="outbox",
            next_run_time=now + timedelta(seconds=1))
        self._schedule_digest()

    def _schedule_digest(self) -> None:
        if self.scheduler.get_job("digest"):
            self.scheduler.remove_job("digest")
        text = self.config.daemon.digest
        if text == "off":
            return
        schedule = parse_schedule(text)
        now = _now()
        trigger = digest_trigger(schedule)
        next_run = trigger.get_next_fire_time(None, now)
        if self._digest_overdue(previous_boundary(schedule, now)):
            next_run = now + timedelta(seconds=2)  # the daemon was down when it was due
        self.scheduler.add_job(self._digest_job, trigger, id="digest", name="digest",
                               next_run_time=next_run)
        event(log, "digest_scheduled", schedule=text, next_run=next_run)

    def _digest_overdue(self, boundary: datetime) -> bool:
        with Session(self.store.engine) as session:
            first = session.exec(select(Change.created_at)
                                 .where(Change.alert_state == ALERT_DIGEST)
                                 .order_by(col(Change.created_at)).limit(1)).first()
        return first is not None and (_aware(first) or boundary) < boundary

    async def _heartbeat_job(self) -> None:
        self._beat()

    def _beat(self) -> None:
        with self.store.session() as session:
            beat = session.get(DaemonHeartbeat, 1)
            if beat is None:
                session.add(DaemonHeartbeat(id=1, pid=self.pid, host=self.host,
                                            started_at=self.started_at, beat_at=_now()))
            else:
                beat.pid, beat.host = self.pid, self.host
                beat.started_at, beat.beat_at = self.started_at, _now()

    async def _reconcile_job(self) -> None:
        if not self._stopping:
            self._reconcile()

    async def _reload(self) -> None:
        """SIGHUP: re-read config.toml, sync its targets, reconcile jobs. Bad config: keep old."""
        try:
            self._apply_reload()
        except Exception as exc:  # e.g. the database is unreachable: keep running as before
            log.exception("reload failed", extra={"fields": {
                "event": "reload_failed", "error": str(exc)}})

    def _apply_reload(self) -> None:
        path = self.config.path
        try:
            if path is None:
                raise ConfigError("no config file to reload")
            config = load_config(path, missing_ok=not self._config_existed)
        except ConfigError as exc:
            event(log, "reload_failed", level=logging.ERROR, error=str(exc))
            return
        if config.database_url != self.config.database_url:
            event(log, "reload_warning", level=logging.WARNING,
                  warning="storage changes need a restart; still using the old database")
        if config.fetch != self.config.fetch:
            event(log, "reload_warning", level=logging.WARNING,
                  warning="[fetch] changes need a restart")
        digest_changed = config.daemon.digest != self.config.daemon.digest
        with self.store.session() as session:
            sync_config_targets(session, config)
        # From here the database holds the targets; jobs are made from it (see _reconcile).
        config = config.model_copy(update={"targets": []})
        self.config = config
        self.checker.config = config
        self._email_notice_logged = False
        self._reconcile()
        if digest_changed:
            self._schedule_digest()
        event(log, "reloaded", targets=len(self._jobs), config=str(path))

    # --- jobs: alerts ------------------------------------------------------------------

    def _has_due_alerts(self) -> bool:
        if not self.config.email.enabled:
            return False
        with Session(self.store.engine) as session:
            return session.exec(select(Alert.id).where(
                Alert.status == "pending", col(Alert.next_attempt_at) <= _now())
                .limit(1)).first() is not None

    def _wake_outbox(self) -> None:
        job = self.scheduler.get_job("outbox")
        if job is not None and not self._stopping:
            job.modify(next_run_time=_now())

    async def _outbox_job(self) -> None:
        from .alerts.outbox import count_unsent, send_due

        if self._stopping:
            return
        if not self.config.email.enabled:
            if not self._email_notice_logged:
                with Session(self.store.engine) as session:
                    waiting = count_unsent(session)
                event(log, "email_disabled", unsent=waiting,
                      note="alerts are kept in the outbox (tracker alerts); set [email] host "
                           "to send them")
                self._email_notice_logged = True
            return
        self._register_current("outbox")
        summary = await asyncio.to_thread(send_due, self.store, self.config,
                                          stop=self._stop_flag.is_set)
        for alert_id in summary.sent:
            event(log, "alert_sent", alert=alert_id)
        for alert_id, error in summary.retrying:
            event(log, "alert_retry", level=logging.WARNING, alert=alert_id, error=error)
        for alert_id, error in summary.failed:
            event(log, "alert_failed", level=logging.ERROR, alert=alert_id, error=error)

    async def _digest_job(self) -> None:
        from .alerts.digest import queue_digest

        if self._stopping:
            return
        with self.store.session() as session:
            alerts = queue_digest(session, self.config)
            summary = [(a.id, a.subject) for a in alerts]
        for alert_id, subject in summary:
            event(log, "digest_queued", alert=alert_id, subject=subject)
        if summary:
            self._wake_outbox()


def run_daemon(config: Config, store: Store) -> None:
    """Lock the database, run until SIGTERM/SIGINT, release. Raises LockError if taken."""
    if config.email.enabled:
        config.email.password()  # a missing password variable is a startup error, not a retry
    lock = DaemonLock.acquire(config.database_url, store.engine, config.storage.shared)
    try:
        eventloop.run(Daemon(config, store).run())
    finally:
        lock.release()
        store.close()

