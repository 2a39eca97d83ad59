"""Run a large check cycle in one process per core, each fetching, parsing and writing.

Shipping every page to a parse worker and back costs as much as parsing it, so a big
`tracker check --all` is instead split into shards that each do the whole job for their
targets (SQLite serializes their batched writes). Politeness still holds across shards: all
targets of a host stay in one shard, except when the configuration lets hosts run at full
speed (``per_host_delay = 0``): then the shards take targets from one shared list as they
get free. Each shard gets its share of the concurrency limits.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import queue
import signal
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import eventloop
from .check import Checker, CheckOutcome, SharedTargets
from .store import Store
from .target_spec import TargetSpec, interleave_hosts

if TYPE_CHECKING:
    from .config import Config

#: Below this many targets one process is faster than starting several.
MIN_TARGETS_PER_SHARD = 40


def shard_count(config: Config, targets: int) -> int:
    """``[fetch] workers`` processes, or one per core for runs large enough to gain from it."""
    wanted = config.fetch.workers
    if wanted is None:
        wanted = os.cpu_count() or 1
    return max(1, min(wanted, targets // MIN_TARGETS_PER_SHARD))


def plan_shards(targets: list[TargetSpec], shards: int) -> list[list[TargetSpec]]:
    """Split targets into at most ``shards`` lists, each host's targets in one of them."""
    plan: list[list[TargetSpec]] = [[] for _ in range(shards)]
    by_host: dict[str, list[TargetSpec]] = defaultdict(list)
    for target in targets:
        by_host[target.host].append(target)
    for group in sorted(by_host.values(), key=len, reverse=True):
        min(plan, key=len).extend(group)  # largest hosts first onto the lightest shard
    return [shard for shard in plan if shard]


def shard_config(config: Config, shards: int) -> Config:
    """Each shard's share of the global and per-host concurrency limits."""
    fetch = config.fetch.model_copy(update={
        "concurrency": max(1, config.fetch.concurrency // shards),
        "per_host_concurrency": max(1, config.fetch.per_host_concurrency // shards),
    })
    return config.model_copy(update={"fetch": fetch})


def run_sharded(config: Config, store: Store, targets: list[TargetSpec], shards: int,
                on_done: Callable[[CheckOutcome], None] | None = None) -> list[CheckOutcome]:
    """Check ``targets`` in ``shards`` processes: this one and ``shards - 1`` forked ones.

    This process takes the first shard itself rather than idling while it relays outcomes:
    one process fewer means one fewer private copy of everything the shards touch. Outcomes
    of the forked shards stream back through a queue, read by a thread, as they come.
    """
    context = multiprocessing.get_context("fork")
    plan: list[list[TargetSpec]] | list[SharedTargets]
    if config.fetch.per_host_delay == 0:  # no politeness to keep: any shard may take any page
        shared = SharedTargets(interleave_hosts(targets), context.Value("q", 0), shards)
        plan = [shared] * shards
    else:
        plan = plan_shards(targets, shards)
    part = shard_config(config, len(plan))
    results: multiprocessing.Queue = context.Queue()
    workers = [context.Process(target=_shard_main, args=(part, shard, results), daemon=True)
               for shard in plan[1:]]
    store.close()  # forked shards open their own connections
    eventloop.loop_factory()  # uvloop imported once, here, not once in every shard after it
    # Objects that exist now are shared with the shards copy-on-write; frozen, the shards'
    # garbage collector never walks (and so never copies) the pages they live on.
    gc.freeze()
    for worker in workers:
        worker.start()
    outcomes: list[CheckOutcome] = []
    lock = threading.Lock()
    failures: list[BaseException] = []

    def report(outcome: CheckOutcome) -> None:
        with lock:
            outcomes.append(outcome)
            if on_done is not None:
                on_done(outcome)

    def relay() -> None:
        finished = 0
        while finished < len(workers):
            try:
                item = results.get(timeout=0.5)
            except queue.Empty:
                if not any(worker.is_alive() for worker in workers):  # killed, never said bye
                    failures.append(RuntimeError("a check shard died without finishing"))
                    return
                continue
            if item is None:
                finished += 1
            elif isinstance(item, BaseException):
                failures.append(item)
            else:
                report(item)

    relaying = threading.Thread(target=relay, name="shard-outcomes", daemon=True)
    relaying.start()
    completed = False
    try:
        eventloop.run(Checker(part, store).check_many(plan[0], report))
        relaying.join()
        completed = True
    finally:
        for worker in workers:
            if worker.is_alive() and not completed:
                worker.terminate()  # an open batch rolls back: nothing half-written
            worker.join()
    if failures:
        raise failures[0]
    return outcomes


def _shard_main(config: Config, targets: list[TargetSpec] | SharedTargets,
                results: multiprocessing.Queue) -> None:
    """One shard: its own store connection, fetcher and writer."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    try:
        store = Store.open(config)
        checker = Checker(config, store)
        eventloop.run(checker.check_many(targets, results.put))
        store.close()
    except BaseException as exc:  # reported to the parent, which re-raises it
        results.put(RuntimeError(f"check shard failed: {exc!r}"))
    finally:
        results.put(None)
