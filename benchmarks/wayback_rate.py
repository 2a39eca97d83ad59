"""Benchmark: does a Wayback backfill run AT the polite rate limits, not slower?

Starts the fake archive (tests/fake_wayback.py) with a 300-capture history of one URL served
in 3 CDX pages, then lists the captures and fetches every memento with the DEFAULT limits
(0.4 CDX requests/s, 8 memento requests/s). The ideal wall time is captures / 8 + CDX pages /
0.4; a ratio near 1 means the limiter, not latency or the code, sets the pace (slightly under 1
is expected: the first request of each kind needs no wait). Also prints the rates the server
saw. Takes about 45 s.

    .venv/bin/python benchmarks/wayback_rate.py [--captures 300] [--page 100] [--latency 0.25]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fake_wayback import FakeWayback, RecordedRequest  # noqa: E402
from tracker.wayback import WaybackClient  # noqa: E402

URL = "https://example.com/privacy"


def max_in_window(requests: list[RecordedRequest], window: float) -> int:
    """The most requests the server saw in any ``window`` seconds."""
    moments = sorted(request.at for request in requests)
    return max((sum(1 for m in moments[i:] if m < start + window)
                for i, start in enumerate(moments)), default=0)


async def run(captures: int, page: int, latency: float) -> None:
    with FakeWayback(max_page=page, latency=latency) as fake:
        fake.add_history(URL, captures)
        started = time.monotonic()
        async with WaybackClient(base_url=fake.base_url) as wayback:
            listed = await wayback.list_captures(URL, every="all")
            listed_at = time.monotonic()
            results = [result async for result in wayback.fetch_mementos(listed)]
        wall = time.monotonic() - started
        cdx, mementos = fake.of_kind("cdx"), fake.of_kind("memento")
    pages = math.ceil(captures / page)
    ideal = captures / 8.0 + pages / 0.4
    failed = sum(not result.ok for result in results)
    print(f"captures listed      {len(listed)} ({len(cdx)} CDX requests, {pages} pages expected)")
    print(f"mementos fetched     {len(results) - failed} ok, {failed} failed "
          f"({len(mementos)} memento requests)")
    print(f"server latency       {latency:.2f} s per answer")
    print(f"CDX phase            {listed_at - started:.2f} s")
    print(f"memento phase        {wall - (listed_at - started):.2f} s")
    print(f"wall time            {wall:.2f} s")
    print(f"ideal                {ideal:.2f} s  (= {captures}/8 + {pages}/0.4)")
    print(f"ratio wall/ideal     {wall / ideal:.3f}")
    print(f"max CDX in any 60 s  {max_in_window(cdx, 60.0)} (limit 24 at 0.4/s)")
    moments = sorted(request.at for request in mementos)
    if len(moments) > 1:
        print(f"mean memento rate    {(len(moments) - 1) / (moments[-1] - moments[0]):.3f}/s "
              f"(limit 8/s)")
    # Fixed 0.125 s spacing puts 8 requests in [t, t+1) and a 9th at t+1, so a closed 1 s
    # window can show 9 when the server's clock jitters by a millisecond.
    print(f"max mementos in 1 s  {max_in_window(mementos, 1.0)} (8, or 9 with boundary jitter)")
    print(f"max mementos in 10 s {max_in_window(mementos, 10.0)} (limit 80, 81 at the boundary)")
    print(f"max mementos in 60 s {max_in_window(mementos, 60.0)} (limit 480 at 8/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captures", type=int, default=300)
    parser.add_argument("--page", type=int, default=100, help="server-side rows per CDX page")
    parser.add_argument("--latency", type=float, default=0.25,
                        help="seconds the fake archive takes per answer")
    args = parser.parse_args()
    asyncio.run(run(args.captures, args.page, args.latency))


if __name__ == "__main__":
    main()
