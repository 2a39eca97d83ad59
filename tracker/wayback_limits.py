"""One politeness limiter per archive per process: request spacing and the 429 pause.

The archive enforces its limits by blocking the client's IP (as tests/fake_wayback.py models
it): about 30 CDX searches and 600 mementos a minute, and a firewall for an hour (doubling on
repeat) for ignoring a 429 for over a minute. Limits must therefore hold for the whole process,
however many clients, tasks, threads or event loops talk to the archive, so
:func:`shared_limiter` keeps one :class:`ArchiveLimiter` per base URL.

Design: each request kind has a fixed minimum spacing (a token bucket of depth one). A
request checks, under a thread lock and without awaiting, whether its kind's next slot has
come; if not it sleeps until then and checks again. No asyncio primitive is held, so the
limiter works from any event loop or thread. A 429 opens a pause that holds back both kinds:
sleepers re-check it when they wake, so the backlog cannot rush out when it ends. After a
pause the rates are halved for twice the pause; another 429 in that time doubles the pause
and halves the rates again.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Kind = Literal["cdx", "memento"]

_MAX_STRIKES = 4  # the pause grows to 8x and the rate shrinks to 1/16 at most
_MAX_RETRY_AFTER = 3600.0  # a Retry-After beyond an hour is not waited out in full


@dataclass
class _Channel:
    rate: float  # requests per second at full speed
    next_free: float = 0.0  # monotonic time of the next free slot


@dataclass(frozen=True)
class Ticket:
    """Proof a request was let through: when, and in which pause generation."""

    kind: Kind
    at: float
    generation: int


class ArchiveLimiter:
    """Spacing for CDX and memento requests plus a shared pause after a 429."""

    def __init__(self, cdx_rate: float = 0.4, memento_rate: float = 8.0,
                 pause_on_429: float = 60.0, clock: Callable[[], float] = time.monotonic) \
            -> None:
        if cdx_rate <= 0 or memento_rate <= 0:
            raise ValueError("rates must be positive")
        self._channels: dict[Kind, _Channel] = {
            "cdx": _Channel(cdx_rate), "memento": _Channel(memento_rate)}
        self.pause_on_429 = pause_on_429
        self._clock = clock
        self._lock = threading.Lock()
        self._generation = 0
        self._paused_until = 0.0
        self._slow_until = 0.0
        self._strikes = 0
        self.pauses = 0  # how many 429 episodes this limiter has seen (for reports, tests)

    @property
    def rates(self) -> dict[Kind, float]:
        return {kind: channel.rate for kind, channel in self._channels.items()}

    def tighten(self, cdx_rate: float, memento_rate: float, pause_on_429: float) -> None:
        """Adopt stricter settings: when clients disagree, the most polite one wins."""
        with self._lock:
            self._channels["cdx"].rate = min(self._channels["cdx"].rate, cdx_rate)
            self._channels["memento"].rate = min(self._channels["memento"].rate, memento_rate)
            self.pause_on_429 = max(self.pause_on_429, pause_on_429)

    def paused_for(self) -> float:
        """Seconds left in the current 429 pause (0 when not paused)."""
        return max(0.0, self._paused_until - self._clock())

    def _factor(self, moment: float) -> float:
        return 0.5 ** self._strikes if moment < self._slow_until else 1.0

    async def acquire(self, kind: Kind) -> Ticket:
        """Wait until a request of ``kind`` may start; never returns during a 429 pause.

        The slot is granted only at the moment it is used (the lock is taken after waking),
        so a task that wakes late cannot be followed by one on its original schedule: two
        requests of a kind are never closer than the spacing, even on a busy event loop.
        """
        while True:
            with self._lock:
                now = self._clock()
                channel = self._channels[kind]
                wait = max(self._paused_until, channel.next_free) - now
                if wait <= 0:
                    channel.next_free = now + 1.0 / (channel.rate * self._factor(now))
                    return Ticket(kind, now, self._generation)
            await asyncio.sleep(wait)

    def report_429(self, ticket: Ticket | None = None, retry_after: float | None = None) -> float:
        """Open (or extend) the pause after a 429; returns the seconds to wait from now.

        A 429 to a request sent before the current pause began belongs to the episode that
        pause already handles, so it does not escalate. The pause is at least what the
        archive's Retry-After asked for (up to an hour), whatever ``pause_on_429`` says.
        """
        with self._lock:
            now = self._clock()
            if ticket is not None and ticket.generation != self._generation:
                return max(0.0, self._paused_until - now)
            self._strikes = min(_MAX_STRIKES, self._strikes + 1 if now < self._slow_until else 1)
            pause = max(self.pause_on_429 * 2 ** (self._strikes - 1),
                        min(retry_after or 0.0, _MAX_RETRY_AFTER))
            self._generation += 1
            self._paused_until = max(self._paused_until, now + pause)
            self._slow_until = self._paused_until + 2 * pause
            for channel in self._channels.values():
                channel.next_free = self._paused_until
            self.pauses += 1
            return self._paused_until - now

    async def wait_pause(self) -> None:
        """Sleep until the current pause (if any) is over."""
        while (left := self.paused_for()) > 0:
            await asyncio.sleep(left)


_registry: dict[str, ArchiveLimiter] = {}
_registry_lock = threading.Lock()


def shared_limiter(base_url: str, cdx_rate: float | None = None,
                   memento_rate: float | None = None,
                   pause_on_429: float | None = None) -> ArchiveLimiter:
    """The process-wide limiter for ``base_url``, created on first use.

    Settings given for an existing limiter only ever make it stricter (lower rates, longer
    pause); settings left out keep what it has (or the archive's defaults for a new one).
    """
    key = base_url.rstrip("/").lower()
    with _registry_lock:
        limiter = _registry.get(key)
        if limiter is None:
            limiter = _registry[key] = ArchiveLimiter(
                0.4 if cdx_rate is None else cdx_rate,
                8.0 if memento_rate is None else memento_rate,
                60.0 if pause_on_429 is None else pause_on_429)
        else:
            rates = limiter.rates
            limiter.tighten(rates["cdx"] if cdx_rate is None else cdx_rate,
                            rates["memento"] if memento_rate is None else memento_rate,
                            limiter.pause_on_429 if pause_on_429 is None else pause_on_429)
        return limiter


def reset_shared_limiters() -> None:
    """Forget every shared limiter (tests; a process that reloads its configuration)."""
    with _registry_lock:
        _registry.clear()
