"""Requests that fail authentication (issue 20): a budget per client address checked before
any token is verified, and one audit row per burst rather than per request.

- An address that has sent more requests without a valid token than
  `S117_AUTH_FAILURE_LIMIT` (default 30 a minute) is answered 429 with `Retry-After`
  before its token is even looked at, so guessing tokens or flooding with bad ones costs the
  register nothing but the refusal. A valid token is never limited by this (its own budget
  is `S117_RATE_LIMIT`), so a client whose token expired gets a fresh one and carries on.
- Within its budget every refusal is audited as usual. Beyond it, the first 429 of a burst
  from an address is audited and the rest within the minute are counted, and written as
  one row when the minute is over ("and N more"), so a flood cannot fill the audit table.
  Counts still open when a process stops are written as it stops.

Counters are per server process, like the rate limit (hardening.py)."""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from limits import parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

WINDOW_SECONDS = 60.0


class FailureBudget:
    def __init__(self, limit: str | None) -> None:
        self.items = parse_many(limit) if limit else []
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def exhausted(self, address: str) -> int | None:
        """Seconds to wait if this address has used its budget of failures, else None."""
        for item in self.items:
            if not self.limiter.test(item, "auth-failure", address):
                reset, _ = self.limiter.get_window_stats(item, "auth-failure", address)
                return max(1, int(reset - time.time()) + 1)
        return None

    def failed(self, address: str) -> None:
        for item in self.items:
            self.limiter.hit(item, "auth-failure", address)


@dataclass
class _Burst:
    started: float
    first_at: float
    suppressed: int = 0
    last_at: float = 0.0
    sample: dict[str, object] = field(default_factory=dict)


class Aggregator:
    """Decides which refusals of unauthenticated requests get their own audit row, and
    writes a summary row for the rest of each burst (`write(summary_fields)`)."""

    def __init__(self, write: Callable[[dict[str, object]], None],
                 window: float = WINDOW_SECONDS) -> None:
        self.write = write
        self.window = window
        self.bursts: dict[tuple[str, int], _Burst] = {}
        self.lock = threading.Lock()
        atexit.register(self.flush_all)

    def admit(self, address: str, status: int, sample: dict[str, object]) -> bool:
        """True: audit this request as usual (the first of a burst). False: counted."""
        now = time.time()
        self.flush(now)
        with self.lock:
            burst = self.bursts.get((address, status))
            if burst is None:
                self.bursts[(address, status)] = _Burst(now, now)
                return True
            burst.suppressed += 1
            burst.last_at = now
            burst.sample = sample
            return False

    def flush(self, now: float | None = None) -> None:
        """Write the summary of every burst whose minute is over."""
        now = time.time() if now is None else now
        with self.lock:
            done = [(k, b) for k, b in self.bursts.items() if now - b.started >= self.window]
            for key, _ in done:
                del self.bursts[key]
        for (address, status), burst in done:
            self._summary(address, status, burst)

    def flush_all(self) -> None:
        self.flush(float("inf"))

    def _summary(self, address: str, status: int, burst: _Burst) -> None:
        if not burst.suppressed:
            return
        self.write({**burst.sample, "client_address": address, "status": status,
                    "detail": f"and {burst.suppressed} more request(s) from this address "
                              f"refused with HTTP {status} within "
                              f"{int(burst.last_at - burst.first_at) + 1} s (aggregated)"})
