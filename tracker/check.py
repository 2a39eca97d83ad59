"""Check targets: fetch, analyze, record. The unit of work of the CLI and the daemon alike.

A check is idempotent and keeps all its state in the database: fetch (conditional when the
last response had validators), analyze (quality gate, normalize, compare; possibly in worker
processes), then one short write transaction that re-reads the latest version, so two
processes checking the same target at once never record the same version twice.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, Select, String, bindparam, case, func, update
from sqlmodel import Session, col, select

from .analysis import PageAnalysis, PageJob, analyze_page, quick_unchanged
from .config import Config
from .fetch import Fetcher, FetchResult, FetchSettings
from .fingerprint import SETTINGS_CHANGED
from .history import (
    after_settings_change,
    latest_version,
    latest_versions_query,
    record_version,
)
from .models import Change, CheckLog, FetchState, Snapshot, Version
from .normalize import NORMALIZER_VERSION, NormalizeError
from .store import Store
from .targets import TargetSpec, fetch_state, interleave_hosts

log = logging.getLogger("tracker.check")

NEW_VERSION = "new_version"
FIRST_VERSION = "first_version"
UNCHANGED = "unchanged"
NOT_MODIFIED = "not_modified"
QUARANTINED = "quarantined"
FAILED = "failed"


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """What one check did, for the progress display, the daemon's log and the alerts."""

    target: str
    target_id: int
    result: str
    detail: str | None = None
    version_id: int | None = None
    change_id: int | None = None
    material: bool = False
    summary: str | None = None
    consecutive_failures: int = 0

    @property
    def failed(self) -> bool:
        return self.result in (FAILED, QUARANTINED)


def fetch_settings(config: Config) -> FetchSettings:
    f = config.fetch
    return FetchSettings(timeout=f.timeout, concurrency=f.concurrency,
                         per_host_concurrency=f.per_host_concurrency,
                         per_host_delay=f.per_host_delay, max_bytes=f.max_bytes,
                         user_agent=f.user_agent, retries=f.retries, backoff=f.backoff,
                         max_retry_after=f.max_retry_after)


@dataclass(frozen=True, slots=True)
class _Previous:
    etag: str | None
    last_modified: str | None
    fingerprint: str | None
    text_sha: str | None
    words: int | None
    version_id: int | None = None
    failures: int = 0
    raw_sha: str | None = None  # the latest version's raw snapshot


_NO_PREVIOUS = _Previous(None, None, None, None, None)
#: Targets whose previous state is read per query (and held at once during a cycle).
_PREVIOUS_CHUNK = 500
#: Outcomes recorded per write transaction, and how long the writer waits to fill one.
_WRITE_BATCH = 100
_WRITE_LINGER = 0.25


class SharedTargets:
    """One target list that forked shards check together, each claiming some at a time.

    A static split finishes when its slowest half does; on a shared machine one core is often
    slower (the web server, another job), and a shard that drew slow pages waits for nobody.
    Claims come from a counter in shared memory, so whichever shard is free takes the next
    ones. Claims shrink as the list drains (a quarter of each shard's share of what is left,
    down to :data:`MIN_CLAIM`), so the shards finish within a few pages of each other while the
    first claims stay big: each claim costs one previous-state query.
    """

    def __init__(self, targets: list[TargetSpec], counter: Any, shards: int) -> None:
        self.targets = targets  # in the order they are to be taken (hosts interleaved)
        self._counter = counter  # a multiprocessing.Value("q", 0) created before the fork
        self._shards = max(1, shards)

    def __len__(self) -> int:
        return len(self.targets)

    def claims(self) -> Iterator[list[TargetSpec]]:
        total = len(self.targets)
        while True:
            with self._counter.get_lock():
                start = self._counter.value
                size = claim_size(total - start, self._shards)
                self._counter.value = start + size
            if start >= total:
                return
            yield self.targets[start:start + size]


#: Bounds of a claim from :class:`SharedTargets`.
MIN_CLAIM, MAX_CLAIM = 4, _PREVIOUS_CHUNK


def claim_size(remaining: int, shards: int) -> int:
    return max(MIN_CLAIM, min(MAX_CLAIM, remaining // (shards * 4)))


@dataclass(frozen=True)
class _Pending:
    """A fetched and analyzed page waiting to be recorded."""

    spec: TargetSpec
    result: FetchResult
    analysis: PageAnalysis | None  # None for a 304
    previous: _Previous = _NO_PREVIOUS

    @property
    def plain_unchanged(self) -> bool:
        """Same text as before and nothing to recover from: a bulk update suffices."""
        return (self.previous.version_id is not None and self.previous.failures == 0
                and (self.analysis is None or self.analysis.unchanged))

    @property
    def plain_new_text(self) -> bool:
        """A new text and nothing to recover from: bulk inserts suffice."""
        analysis = self.analysis
        return (analysis is not None and analysis.ok and not analysis.unchanged
                and analysis.text_sha is not None and analysis.raw_sha is not None
                and self.previous.failures == 0)


class Checker:
    """Checks targets against one store with one fetcher (and optionally a process pool)."""

    def __init__(self, config: Config, store: Store, executor: Executor | None = None) -> None:
        self.config = config
        self.store = store
        self.executor = executor
        self._wayback = None  # created on first use by a source = "wayback" target

    async def check_many(self, targets: Iterable[TargetSpec] | SharedTargets,
                         on_done: Callable[[CheckOutcome], None] | None = None,
                         fetcher: Fetcher | None = None) -> list[CheckOutcome]:
        """Check targets concurrently; politeness is the fetcher's job, memory is bounded here.

        Previous state is read a few hundred targets at a time, and outcomes are written by a
        single writer in batched transactions: per-target round trips, not parsing, would
        otherwise dominate a cycle of a thousand unchanged pages. :class:`SharedTargets` are
        taken a claim at a time, in turns with the other shards checking them.
        """
        if isinstance(targets, SharedTargets):
            count, chunks = len(targets), targets.claims()
        else:
            ordered = interleave_hosts(list(targets))
            count = len(ordered)
            chunks = (ordered[start:start + _PREVIOUS_CHUNK]
                      for start in range(0, count, _PREVIOUS_CHUNK))
        own_fetcher = fetcher is None
        if fetcher is None:
            fetcher = Fetcher(fetch_settings(self.config))
            await fetcher.__aenter__()
        outcomes: list[CheckOutcome] = []
        # Bounded, so fetching waits for the writer instead of piling pages up in memory.
        queue: asyncio.Queue[_Pending | None] = asyncio.Queue(maxsize=2 * _WRITE_BATCH)
        # A fixed crew of workers takes targets one by one from a shared iterator: in-flight
        # pages stay bounded, and so does everything else (a task per target would cost
        # ~1.5 KB each, 150 MB for 100k targets, before a single page is fetched).
        remaining = self._with_previous(chunks)

        async def work() -> None:
            for spec, previous in remaining:
                if spec.source == "wayback":
                    _report(await self._check_archive(spec))
                    continue
                pending = await self._fetch_and_analyze(spec, fetcher, previous)
                await queue.put(pending)

        def _report(outcome: CheckOutcome) -> None:
            outcomes.append(outcome)
            if on_done is not None:
                on_done(outcome)

        async def writer() -> None:
            loop = asyncio.get_running_loop()
            while True:
                item = await queue.get()
                if item is None:
                    return
                # Linger a moment for a fuller batch: a transaction and its disk flush cost
                # the same for one page as for a hundred.
                batch = [item]
                deadline = loop.time() + _WRITE_LINGER
                while len(batch) < _WRITE_BATCH:
                    try:
                        extra = await asyncio.wait_for(queue.get(),
                                                       max(0.0, deadline - loop.time()))
                    except TimeoutError:
                        break
                    if extra is None:
                        queue.put_nowait(None)
                        break
                    batch.append(extra)
                # In a thread: the disk flush and the transaction must not stall fetching, and
                # pages that arrive meanwhile make the next batch bigger.
                for outcome in await asyncio.to_thread(self._record_batch, batch):
                    _report(outcome)

        writing = asyncio.create_task(writer())
        try:
            crew = min(count, max(2, self.config.fetch.concurrency * 2))
            await asyncio.gather(*(work() for _ in range(crew)))
        finally:
            await queue.put(None)
            await writing
            if own_fetcher:
                await fetcher.__aexit__(None, None, None)
                await self.aclose()
        return outcomes

    async def check_one(self, spec: TargetSpec, fetcher: Fetcher) -> CheckOutcome:
        """Check one target and record the outcome at once (the daemon's unit of work)."""
        if spec.source == "wayback":
            return await self._check_archive(spec)
        previous = self._load_previous([spec.id]).get(spec.id, _NO_PREVIOUS)
        pending = await self._fetch_and_analyze(spec, fetcher, previous)
        return self._record_batch([pending])[0]

    async def _fetch_and_analyze(self, spec: TargetSpec, fetcher: Fetcher,
                                 previous: _Previous) -> _Pending:
        result = await fetcher.fetch(spec.url, previous.etag, previous.last_modified)
        if result.not_modified:
            return _Pending(spec, result, None, previous)
        job = PageJob(result, spec.select, spec.remove, str(self.store.blobs.root),
                      previous.fingerprint, previous.text_sha, previous.words, previous.raw_sha)
        try:
            analysis = await self._analyze(job)
        except NormalizeError as exc:  # the target's own settings, stored before they were checked
            analysis = PageAnalysis(ok=False, reason=f"target {spec.name}: {exc} "
                                                     "(fix its select/remove selectors)")
        except Exception as exc:  # a bug tripped by one page must not end everyone's cycle
            log.exception("analyzing %s failed", spec.url)
            analysis = PageAnalysis(ok=False, reason="internal error while analyzing the page: "
                                                     f"{type(exc).__name__}: {exc}")
        # The body is stored (or not worth storing) by now: a queued outcome keeps only the
        # response's metadata, so a backlog at the writer costs kilobytes, not whole pages.
        return _Pending(spec, replace(result, body=b""), analysis, previous)

    async def _analyze(self, job: PageJob) -> PageAnalysis:
        if self.executor is None:
            return analyze_page(job)
        # An unchanged page is settled here: shipping its body to a worker costs more.
        analysis = quick_unchanged(job)
        if analysis is None:
            loop = asyncio.get_running_loop()
            analysis = await loop.run_in_executor(self.executor, analyze_page, job)
        return analysis

    def _record_batch(self, batch: list[_Pending]) -> list[CheckOutcome]:
        """Record outcomes in one transaction; on any error, fall back to one per target.

        The common cases take multi-row statements: unchanged pages a bulk UPDATE, new texts
        :mod:`tracker.record_bulk`. Everything else (failures, recoveries, races) goes through
        the ORM one target at a time.
        """
        if any(p.analysis is not None and p.analysis.raw_sha for p in batch):
            self.store.blobs.sync()  # blob bytes reach the disk before rows point at them
        try:
            with self.store.session() as session:
                outcomes: dict[int, CheckOutcome] = {}
                quick = [p for p in batch if p.plain_unchanged]
                for p, outcome in zip(quick, self._record_unchanged(session, quick), strict=True):
                    outcomes[id(p)] = outcome
                fresh = [p for p in batch if p.plain_new_text]
                for p, outcome in zip(fresh, self._record_new_texts(session, fresh), strict=True):
                    if outcome is not None:
                        outcomes[id(p)] = outcome
                return [outcomes.get(id(p)) or self._record(session, p.spec, p.result, p.analysis)
                        for p in batch]
        except Exception:
            if len(batch) == 1:
                raise
            log.warning("batched write failed; recording %d outcomes one by one", len(batch))
            return [self._record_batch([pending])[0] for pending in batch]

    def _record_new_texts(self, session: Session,
                          batch: list[_Pending]) -> list[CheckOutcome | None]:
        if not batch:
            return []
        from .record_bulk import NewText, record_new_texts

        pages = [NewText(p.spec, p.result, p.analysis,
                         alerts=p.previous.fingerprint != SETTINGS_CHANGED)
                 for p in batch if p.analysis]
        recorded = record_new_texts(session.connection(), self.config, pages,
                                    datetime.now(UTC))
        return [None if r is None else CheckOutcome(
                    p.spec.name, p.spec.id, r.kind, version_id=r.version_id,
                    change_id=r.change_id, material=r.material, summary=r.summary)
                for p, r in zip(pages, recorded, strict=True)]

    async def _check_archive(self, spec: TargetSpec) -> CheckOutcome:
        """A target tracked through the Wayback Machine: record its newest capture if new."""
        from .backfill import newest_capture, wayback_client
        from .wayback import WaybackError

        if self._wayback is None:
            self._wayback = wayback_client(self.config)
        now = datetime.now(UTC)
        try:
            kind, _ = await newest_capture(self.config, self.store, spec, self._wayback)
        except WaybackError as exc:
            kind, detail = FAILED, f"Wayback Machine: {exc}"
        else:
            detail = None
        with self.store.session() as session:
            state = fetch_state(session, spec.id)
            state.last_check_at = now
            if kind in (FAILED, QUARANTINED):
                state.last_result, state.last_error = kind, detail or "archived capture unusable"
                state.consecutive_failures += 1
                state.failing_since = state.failing_since or now
                session.add(CheckLog(target_id=spec.id, checked_at=now, result=kind,
                                     detail=state.last_error))
                outcome = CheckOutcome(spec.name, spec.id, kind, detail=state.last_error,
                                       consecutive_failures=state.consecutive_failures)
                _queue_alerts(session, self.config, spec, state, outcome, 0)
                return outcome
            latest = latest_version(session, spec.id)
            change = _change_into(session, latest.id) if latest and kind == NEW_VERSION else None
            recovered_from = state.consecutive_failures
            state.last_result, state.last_error = kind, None
            state.last_success_at, state.consecutive_failures, state.failing_since = now, 0, None
            if change is not None:
                state.last_change_at = now
            outcome = CheckOutcome(spec.name, spec.id, kind,
                                   version_id=latest.id if change and latest else None,
                                   change_id=change.id if change else None,
                                   material=bool(change and change.material),
                                   summary=change.summary if change else None)
            _queue_alerts(session, self.config, spec, state, outcome, recovered_from)
            return outcome

    async def aclose(self) -> None:
        if self._wayback is not None:
            await self._wayback.aclose()
            self._wayback = None

    def _record_unchanged(self, session: Session, batch: list[_Pending]) -> list[CheckOutcome]:
        """Bulk UPDATEs for pages whose text did not change (most pages, most of the time)."""
        if not batch:
            return []
        now = datetime.now(UTC)
        states = []
        for p in batch:
            values = {"tid": p.spec.id, "now": now,
                      "kind": NOT_MODIFIED if p.analysis is None else UNCHANGED,
                      "fingerprint": p.analysis.fingerprint if p.analysis else None,
                      "etag": p.result.etag, "last_modified": p.result.last_modified,
                      "keep_validators": p.result.not_modified}
            states.append(values)
        connection = session.connection()
        connection.execute(_UPDATE_STATE, states)
        connection.execute(_UPDATE_SEEN, [{"vid": p.previous.version_id, "now": now}
                                          for p in batch])
        return [CheckOutcome(p.spec.name, p.spec.id, s["kind"]) for p, s in
                zip(batch, states, strict=True)]

    def _with_previous(self, chunks: Iterable[list[TargetSpec]]
                       ) -> Iterator[tuple[TargetSpec, _Previous]]:
        """Targets with their previous state, read a chunk at a time as the crew gets there.

        The crew's coroutines share this generator; each ``next()`` runs to completion without
        awaiting, so a chunk is read once. Memory for previous state stays at one chunk.
        """
        for chunk in chunks:
            previous = self._load_previous([spec.id for spec in chunk])
            for spec in chunk:
                yield spec, previous.get(spec.id, _NO_PREVIOUS)

    def _load_previous(self, target_ids: list[int]) -> dict[int, _Previous]:
        """Validators, fingerprints and latest versions of many targets, in two queries.

        Plain column tuples, not ORM objects: building two thousand entities would take a
        noticeable part of a thousand-page cycle's start.
        """
        found: dict[int, _Previous] = {}
        states_query, latest_query = _previous_queries()
        with self.store.reading() as session:
            for chunk_start in range(0, len(target_ids), _PREVIOUS_CHUNK):
                chunk = {"ids": target_ids[chunk_start:chunk_start + _PREVIOUS_CHUNK]}
                states = {row[0]: row for row in session.execute(states_query, chunk)}
                latest = {row[0]: row for row in session.execute(latest_query, chunk)}
                for target_id in chunk["ids"]:
                    state, version = states.get(target_id), latest.get(target_id)
                    etag = last_modified = fingerprint = None
                    failures = 0
                    if state is not None:
                        _, etag, last_modified, fingerprint, failures = state
                        if version is None:  # validators of a page never recorded: refetch
                            etag = last_modified = None
                    _, version_id, text_sha, words, raw_sha = \
                        version or (None, None, None, None, None)
                    found[target_id] = _Previous(etag, last_modified, fingerprint, text_sha,
                                                 words, version_id, failures or 0, raw_sha)
        return found

    def _record(self, session: Session, spec: TargetSpec, result: FetchResult,
                analysis: PageAnalysis | None) -> CheckOutcome:
        now = datetime.now(UTC)
        state = fetch_state(session, spec.id)
        state.last_check_at = now
        if analysis is None or analysis.unchanged:
            return self._unchanged(session, spec, state, result, analysis, now)
        if not analysis.ok:
            return self._failure(session, spec, state, result, analysis, now)
        return self._new_text(session, spec, state, result, analysis, now)

    def _unchanged(self, session: Session, spec: TargetSpec, state: FetchState,
                   result: FetchResult, analysis: PageAnalysis | None,
                   now: datetime) -> CheckOutcome:
        latest = latest_version(session, spec.id)
        if latest is not None:
            latest.last_seen_at = now
        if analysis is not None and analysis.fingerprint:
            state.last_fingerprint = analysis.fingerprint
        kind = NOT_MODIFIED if analysis is None else UNCHANGED
        return self._success(session, spec, state, result, kind, now)

    def _success(self, session: Session, spec: TargetSpec, state: FetchState,
                 result: FetchResult, kind: str, now: datetime, **extra) -> CheckOutcome:
        recovered_from = state.consecutive_failures
        state.last_result = kind
        state.last_error = None
        state.last_success_at = now
        state.consecutive_failures = 0
        state.failing_since = None
        if not result.not_modified:
            state.etag, state.last_modified = result.etag, result.last_modified
        outcome = CheckOutcome(spec.name, spec.id, kind, **extra)
        _queue_alerts(session, self.config, spec, state, outcome, recovered_from)
        return outcome

    def _failure(self, session: Session, spec: TargetSpec, state: FetchState,
                 result: FetchResult, analysis: PageAnalysis, now: datetime) -> CheckOutcome:
        reason = analysis.reason or result.error or "check failed"
        kind = FAILED
        snapshot_id = None
        if analysis.raw_sha is not None and result.status is not None:
            kind = QUARANTINED  # stored as evidence, never diffed
            snapshot = _snapshot(spec, result, analysis, quality="suspect",
                                 reason=reason)
            session.add(snapshot)
            session.flush()
            snapshot_id = snapshot.id
        state.last_result = kind
        state.last_error = reason
        state.consecutive_failures += 1
        state.failing_since = state.failing_since or now
        session.add(CheckLog(target_id=spec.id, checked_at=now, result=kind, detail=reason,
                             snapshot_id=snapshot_id))
        outcome = CheckOutcome(spec.name, spec.id, kind, detail=reason,
                               consecutive_failures=state.consecutive_failures)
        _queue_alerts(session, self.config, spec, state, outcome, 0)
        return outcome

    def _new_text(self, session: Session, spec: TargetSpec, state: FetchState,
                  result: FetchResult, analysis: PageAnalysis, now: datetime) -> CheckOutcome:
        assert analysis.text_sha is not None and analysis.raw_sha is not None
        latest = latest_version(session, spec.id)
        if latest is not None and latest.text_sha256 == analysis.text_sha:
            # Another process recorded this very text since we looked: nothing new.
            state.last_fingerprint = analysis.fingerprint
            return self._unchanged(session, spec, state, result, analysis, now)
        comparison = analysis.comparison
        if latest is None or latest.text_sha256 != analysis.compared_to:
            comparison = None  # computed against a version that is no longer the latest
        snapshot = _snapshot(spec, result, analysis)
        session.add(snapshot)
        session.flush()
        alerts = state.last_fingerprint != SETTINGS_CHANGED
        version, change = record_version(
            session, self.store.blobs, snapshot, analysis.text_sha, analysis.words,
            analysis.size, analysis.effective_date, NORMALIZER_VERSION, comparison,
            alerts=alerts, append=True, latest=latest)
        if change is not None and not alerts:
            change.summary = after_settings_change(change.summary)
        state.last_fingerprint = analysis.fingerprint
        if version is None:  # cannot happen for a live capture newer than all versions
            return self._success(session, spec, state, result, UNCHANGED, now)
        state.last_change_at = now
        kind = FIRST_VERSION if latest is None else NEW_VERSION
        session.add(CheckLog(target_id=spec.id, checked_at=now, result=kind,
                             snapshot_id=snapshot.id,
                             detail=change.summary if change else "first version"))
        return self._success(session, spec, state, result, kind, now,
                             version_id=version.id,
                             change_id=change.id if change else None,
                             material=bool(change and change.material),
                             summary=change.summary if change else None)


_STATE = FetchState.__table__  # type: ignore[attr-defined]
_VERSIONS = Version.__table__  # type: ignore[attr-defined]
# Core statements with column-typed bind parameters (datetimes stored exactly as the ORM does).
_UPDATE_STATE = update(_STATE).where(_STATE.c.target_id == bindparam("tid")).values(
    last_check_at=bindparam("now"), last_result=bindparam("kind"), last_error=None,
    last_success_at=bindparam("now"),
    last_fingerprint=func.coalesce(bindparam("fingerprint", type_=String),
                                   _STATE.c.last_fingerprint),
    etag=case((bindparam("keep_validators", type_=Boolean), _STATE.c.etag),
              else_=bindparam("etag", type_=String)),
    last_modified=case((bindparam("keep_validators", type_=Boolean), _STATE.c.last_modified),
                       else_=bindparam("last_modified", type_=String)),
)
_UPDATE_SEEN = update(_VERSIONS).where(_VERSIONS.c.id == bindparam("vid")).values(
    last_seen_at=bindparam("now"))


@functools.cache
def _previous_queries() -> tuple[Select, Select]:
    """The two queries of :meth:`Checker._load_previous`, built once: building them took
    ~5 ms a call (more than running them), and a cycle's shards run one per claim."""
    ids = bindparam("ids", expanding=True)
    states = select(FetchState.target_id, FetchState.etag, FetchState.last_modified,
                    FetchState.last_fingerprint, FetchState.consecutive_failures) \
        .where(col(FetchState.target_id).in_(ids))
    latest = latest_versions_query(ids).with_only_columns(
        Version.target_id, Version.id, Version.text_sha256, Version.words, Snapshot.sha256) \
        .outerjoin(Snapshot, Snapshot.id == Version.snapshot_id)
    return states, latest


def _change_into(session: Session, version_id: int | None) -> Change | None:
    return session.exec(select(Change).where(Change.to_version_id == version_id)).first()


def _snapshot(spec: TargetSpec, result: FetchResult, analysis: PageAnalysis,
              quality: str = "ok", reason: str | None = None) -> Snapshot:
    assert analysis.raw_sha is not None
    return Snapshot(
        target_id=spec.id, source="live", url=result.url, final_url=result.final_url,
        status=result.status, headers_json=json.dumps(result.headers),
        content_type=result.content_type, charset=result.charset, sha256=analysis.raw_sha,
        size=analysis.raw_size, fetched_at=result.fetched_at, captured_at=result.fetched_at,
        quality=quality, quality_reason=reason,
    )


def _queue_alerts(session: Session, config: Config, spec: TargetSpec, state: FetchState,
                  outcome: CheckOutcome, recovered_from: int) -> None:
    """Hand the outcome to the alert rules (failure/recovery state machine, change alerts)."""
    try:
        from .alerts.rules import on_check_outcome
    except ImportError:
        return
    on_check_outcome(session, config, spec, state, outcome, recovered_from)


#: Below this many targets a worker pool costs more to start than it saves.
_POOL_MIN_TARGETS = 40


def make_executor(config: Config, targets: int) -> Executor | None:
    """A process pool for parsing, so fetching and parsing use different cores."""
    workers = config.fetch.workers
    if workers is None:
        spare = (os.cpu_count() or 1) - 1
        workers = spare if targets >= _POOL_MIN_TARGETS else 0
    if workers <= 0:
        return None
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=workers, initializer=_ignore_interrupts)


def _ignore_interrupts() -> None:
    """Ctrl-C is the main process's to handle; workers must not die mid-task with tracebacks."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_checks(config: Config, store: Store, targets: list[TargetSpec],
               on_done: Callable[[CheckOutcome], None] | None = None) -> list[CheckOutcome]:
    """Synchronous entry point for the CLI: one process, or one per core for big runs."""
    from .shards import run_sharded, shard_count

    shards = shard_count(config, len(targets))
    if shards > 1:
        return run_sharded(config, store, targets, shards, on_done)
    return asyncio.run(Checker(config, store).check_many(targets, on_done))
