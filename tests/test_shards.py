"""How a big check cycle is split between processes (tracker/shards.py)."""

from __future__ import annotations

import multiprocessing
from itertools import pairwise

from tracker.check import MAX_CLAIM, MIN_CLAIM, SharedTargets, claim_size
from tracker.shards import plan_shards
from tracker.targets import TargetSpec


def spec(index: int, host: str) -> TargetSpec:
    return TargetSpec(index, f"t{index}", f"https://{host}/p{index}", (), (), "live", None, (),
                      (), True)


def test_with_politeness_each_host_stays_in_one_shard() -> None:
    targets = [spec(i, host) for i, host in enumerate(["a.example"] * 6 + ["b.example"] * 3
                                                      + ["c.example"] * 2 + ["d.example"])]
    plan = plan_shards(targets, 2)
    hosts = [{t.host for t in shard} for shard in plan]
    assert hosts[0].isdisjoint(hosts[1])
    assert sorted(len(shard) for shard in plan) == [6, 6]  # largest hosts first, then balanced
    assert sorted(t.id for shard in plan for t in shard) == list(range(12))


def _claim_all(shared: SharedTargets, out: multiprocessing.Queue) -> None:
    out.put([[t.id for t in claim] for claim in shared.claims()])


def test_shards_sharing_a_list_take_every_target_exactly_once() -> None:
    context = multiprocessing.get_context("fork")
    targets = [spec(i, "same.example") for i in range(1000)]
    shared = SharedTargets(targets, context.Value("q", 0), 3)
    out: multiprocessing.Queue = context.Queue()
    workers = [context.Process(target=_claim_all, args=(shared, out)) for _ in range(2)]
    for worker in workers:
        worker.start()
    mine = [[t.id for t in claim] for claim in shared.claims()]  # this process is a shard too
    claims = [mine, out.get(timeout=30), out.get(timeout=30)]
    for worker in workers:
        worker.join(timeout=30)
    taken = sorted(i for shard in claims for claim in shard for i in claim)
    assert taken == list(range(1000))
    sizes = sorted((claim[0], len(claim)) for shard in claims for claim in shard)
    assert sizes[0] == (0, 1000 // 12)  # a quarter of each of the three shards' share
    assert all(later <= earlier for (_, earlier), (_, later) in pairwise(sizes))
    assert sizes[-1][1] <= MIN_CLAIM  # the last claims are a few pages


def test_claims_shrink_as_the_list_drains_within_bounds() -> None:
    assert claim_size(1000, 2) == 125
    assert claim_size(200, 2) == 25
    assert claim_size(20, 2) == MIN_CLAIM
    assert claim_size(10_000_000, 2) == MAX_CLAIM
