"""Run a large check cycle in one process per core, each fetching, parsing and writing.

Shipping every page to a parse worker and back costs as much as parsing it, so a big
`tracker check --all` is instead split into shards that each do the whole job for their
targets (SQLite serializes their batched writes). Politeness still holds across shards: all
targets of a host stay in one shard, except hosts the configuration lets run at full speed
(``per_host_delay = 0``), and each shard gets its share of the concurrency limits.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from collections import defaultdict
from collections.abc import Callable
from urllib.parse import urlsplit

from .check import Checker, CheckOutcome
from .config import Config
from .store import Store
from .targets import TargetSpec

#: Below this many targets one process is faster than starting several.
MIN_TARGETS_PER_SHARD = 40


def shard_count(config: Config, targets: int) -> int:
    """``[fetch] workers`` processes, or one per core for runs large enough to gain from it."""
    wanted = config.fetch.workers
    if wanted is None:
        wanted = os.cpu_count() or 1
    return max(1, min(wanted, targets // MIN_TARGETS_PER_SHARD))


def plan_shards(targets: list[TargetSpec], shards: int,
                split_hosts: bool) -> list[list[TargetSpec]]:
    """Split targets into ``shards`` lists; a host is split only when ``split_hosts``."""
    plan: list[list[TargetSpec]] = [[] for _ in range(shards)]
    if split_hosts:
        for index, target in enumerate(targets):
            plan[index % shards].append(target)
        return plan
    by_host: dict[str, list[TargetSpec]] = defaultdict(list)
    for target in targets:
        parts = urlsplit(target.url)
        by_host[parts.netloc.lower()].append(target)
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


def run_sharded(config: Config, targets: list[TargetSpec], shards: int,
                on_done: Callable[[CheckOutcome], None] | None = None) -> list[CheckOutcome]:
    """Check ``targets`` in ``shards`` forked processes; outcomes stream back as they come."""
    plan = plan_shards(targets, shards, split_hosts=config.fetch.per_host_delay == 0)
    part = shard_config(config, len(plan))
    context = multiprocessing.get_context("fork")
    results: multiprocessing.Queue = context.Queue()
    workers = [context.Process(target=_shard_main, args=(part, shard, results), daemon=True)
               for shard in plan]
    for worker in workers:
        worker.start()
    outcomes: list[CheckOutcome] = []
    finished = 0
    try:
        while finished < len(workers):
            item = results.get()
            if item is None:
                finished += 1
            elif isinstance(item, BaseException):
                raise item
            else:
                outcomes.append(item)
                if on_done is not None:
                    on_done(item)
    finally:
        for worker in workers:
            if worker.is_alive() and finished < len(workers):
                worker.terminate()  # an open batch rolls back: nothing half-written
            worker.join()
    return outcomes


def _shard_main(config: Config, targets: list[TargetSpec],
                results: multiprocessing.Queue) -> None:
    """One shard: its own store connection, fetcher and writer."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    try:
        store = Store.open(config)
        checker = Checker(config, store)
        asyncio.run(checker.check_many(targets, results.put))
        store.close()
    except BaseException as exc:  # reported to the parent, which re-raises it
        results.put(RuntimeError(f"check shard failed: {exc!r}"))
    finally:
        results.put(None)
