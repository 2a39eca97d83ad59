"""Check targets: fetch, analyze, record. The unit of work of the CLI and the daemon alike.

A check is idempotent and keeps all its state in the database: fetch (conditional when the
last response had validators), analyze (quality gate, normalize, compare; possibly in worker
processes), then one short write transaction that re-reads the latest version, so two
processes checking the same target at once never record the same version twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from . import direct, eventloop
from .analysis import (
    PageAnalysis,
    PageJob,
    analyze_in_worker,
    analyze_page,
    quick_unchanged,
    unstored,
)
from .blobs import BlobError
from .direct import NO_PREVIOUS, Previous
from .fetch import Fetcher, FetchResult, FetchSettings
from .fingerprint import SETTINGS_CHANGED
from .normalize import NormalizeError
from .store import Store
from .target_spec import TargetSpec, interleave_hosts

if TYPE_CHECKING:
    from .config import Config

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


#: Targets whose previous state is read per claim (and held at once during a cycle).
_PREVIOUS_CHUNK = direct.CHUNK
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
    previous: Previous = NO_PREVIOUS

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
        self._connections: dict[str, direct.Direct] = {}  # "read" and "write", kept open

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
            self._close_connections()  # a cycle's end: SQLite may fold its WAL back in
            if own_fetcher:
                await fetcher.__aexit__(None, None, None)
                await self.aclose()
        return outcomes

    async def check_one(self, spec: TargetSpec, fetcher: Fetcher) -> CheckOutcome:
        """Check one target and record the outcome at once (the daemon's unit of work)."""
        if spec.source == "wayback":
            return await self._check_archive(spec)
        previous = self._load_previous([spec.id]).get(spec.id, NO_PREVIOUS)
        pending = await self._fetch_and_analyze(spec, fetcher, previous)
        return self._record_batch([pending])[0]

    async def _fetch_and_analyze(self, spec: TargetSpec, fetcher: Fetcher,
                                 previous: Previous) -> _Pending:
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
            analysis = await loop.run_in_executor(self.executor, analyze_in_worker, job)
        return analysis

    def _record_batch(self, batch: list[_Pending]) -> list[CheckOutcome]:
        """Record outcomes in two transactions at most; a failed one is retried per target.

        The common cases take multi-row statements in plain SQL, in one transaction:
        unchanged pages two bulk UPDATEs, new texts :mod:`tracker.record_bulk`. Everything
        else (failures, recoveries, races) goes to :mod:`tracker.check_orm`, whose SQLAlchemy
        is imported only when a cycle has such an outcome to record. Only the pages of a
        transaction that failed are retried: those of the other one are recorded already.
        """
        if any(p.analysis is not None and p.analysis.raw_sha for p in batch):
            try:
                self.store.blobs.sync()  # blob bytes reach the disk before rows point at them
            except BlobError as exc:  # a full disk, say: these pages fail, loudly, for now
                log.error("%s", exc)
                batch = [_unstored(p, exc) for p in batch]
        try:
            with self._connection("write") as db, db.transaction(write=True):
                outcomes = dict(self._record_unchanged(
                    db, [p for p in batch if p.plain_unchanged]))
                outcomes.update(self._record_new_texts(
                    db, [p for p in batch if p.plain_new_text]))
        except Exception:
            if len(batch) == 1:
                raise
            return self._one_by_one(batch)
        rest = [p for p in batch if id(p) not in outcomes]
        if rest:
            from .check_orm import record_one_by_one

            try:
                recorded = record_one_by_one(self.config, self.store, rest)
            except Exception:
                if len(rest) == 1:
                    raise
                recorded = self._one_by_one(rest)
            outcomes.update((id(p), outcome) for p, outcome in zip(rest, recorded, strict=True))
        return [outcomes[id(p)] for p in batch]

    def _one_by_one(self, batch: list[_Pending]) -> list[CheckOutcome]:
        """After a batch's transaction failed: one target's outcome at a time, so one bad
        outcome costs only its own record."""
        log.warning("batched write failed; recording %d outcomes one by one", len(batch))
        return [self._record_batch([pending])[0] for pending in batch]

    @staticmethod
    def _record_unchanged(db: direct.Direct,
                          batch: list[_Pending]) -> list[tuple[int, CheckOutcome]]:
        pages = [direct.Unchanged(
            p.spec.id, p.previous.version_id, NOT_MODIFIED if p.analysis is None else UNCHANGED,
            p.analysis.fingerprint if p.analysis else None, p.result.etag,
            p.result.last_modified, p.result.not_modified) for p in batch]
        direct.record_unchanged(db, pages, datetime.now(UTC))
        return [(id(p), CheckOutcome(p.spec.name, p.spec.id, page.kind))
                for p, page in zip(batch, pages, strict=True)]

    def _record_new_texts(self, db: direct.Direct,
                          batch: list[_Pending]) -> list[tuple[int, CheckOutcome]]:
        """Bulk inserts; a page they leave (a race with another process) goes one by one."""
        if not batch:
            return []
        from .record_bulk import NewText, record_new_texts

        pages = [NewText(p.spec, p.result, p.analysis,
                         alerts=p.previous.fingerprint != SETTINGS_CHANGED)
                 for p in batch if p.analysis]
        recorded = record_new_texts(db, self.config, pages, datetime.now(UTC))
        return [(id(p), CheckOutcome(p.spec.name, p.spec.id, r.kind, version_id=r.version_id,
                                     change_id=r.change_id, material=r.material,
                                     summary=r.summary))
                for p, r in zip(batch, recorded, strict=True) if r is not None]

    async def _check_archive(self, spec: TargetSpec) -> CheckOutcome:
        """A target tracked through the Wayback Machine: record its newest capture if new."""
        from .backfill import newest_capture, wayback_client
        from .check_orm import record_archive_outcome
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
        return record_archive_outcome(self.config, self.store, spec, kind, detail, now)

    async def aclose(self) -> None:
        self._close_connections()
        if self._wayback is not None:
            await self._wayback.aclose()
            self._wayback = None

    def _with_previous(self, chunks: Iterable[list[TargetSpec]]
                       ) -> Iterator[tuple[TargetSpec, Previous]]:
        """Targets with their previous state, read a chunk at a time as the crew gets there.

        The crew's coroutines share this generator; each ``next()`` runs to completion without
        awaiting, so a chunk is read once. Memory for previous state stays at one chunk.
        """
        for chunk in chunks:
            previous = self._load_previous([spec.id for spec in chunk])
            for spec in chunk:
                yield spec, previous.get(spec.id, NO_PREVIOUS)

    def _load_previous(self, target_ids: list[int]) -> dict[int, Previous]:
        with self._connection("read") as db:
            return direct.load_previous(db, target_ids)

    @contextmanager
    def _connection(self, role: str) -> Iterator[direct.Direct]:
        """This checker's SQLite connection for reads, or for writes: opened once, not per batch.

        Opening a SQLite connection and closing it again costs more than a batch's statements
        (closing the last one checkpoints the WAL). Reads and writes keep separate
        connections: the writer runs in a thread while the event loop reads the next claim.
        A connection that failed is dropped, so the next use starts afresh. A database server's
        connection goes back to its pool after each use instead: the pool checks it is alive
        before lending it again, and a server restart or an idle timeout between two checks of
        the daemon must not fail the next one.
        """
        db = self._connections.get(role)
        if db is None:
            db = direct.Direct(self.store.connect())
            if db.sqlite:
                self._connections[role] = db
        try:
            yield db
        except BaseException:
            self._connections.pop(role, None)
            db.close()
            raise
        if not db.sqlite:
            db.close()

    def _close_connections(self) -> None:
        while self._connections:
            self._connections.popitem()[1].close()


def _unstored(pending: _Pending, error: BlobError) -> _Pending:
    """A page whose blobs could not be stored: recorded as a failed check, not a version."""
    analysis = pending.analysis
    if analysis is None or not analysis.raw_sha:
        return pending
    return replace(pending, analysis=unstored(error))


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
    return eventloop.run(Checker(config, store).check_many(targets, on_done))
