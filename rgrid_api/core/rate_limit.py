"""Rate limits: a token bucket per (kind, key), in this API process's memory.

Two kinds: submissions per account (runs, batches, schedules, retries) and failed
authentication per client address (past it, every credential from that address waits,
so a guesser learns nothing more until the bucket refills). Past the limit the answer is 429 with ``Retry-After``, which the CLI
honours. With several API processes each holds its own buckets, so the effective limit is
the per-process one times the processes; docs/SECURITY.md says so.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from rgrid_common.errors import RateLimited

FAILED_SIGN_IN = "failed-sign-in"
# Buckets back to full hold no information; past this many they are dropped.
MAX_BUCKETS = 10_000


class TokenBucket:
    """``per_minute`` requests a minute on average, at most ``per_minute`` at once."""

    def __init__(self, per_minute: int, now: float) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.tokens = self.capacity
        self.at = now

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now

    def seconds_until_one(self) -> int:
        return max(1, math.ceil((1 - self.tokens) / self.rate))


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._lock = threading.Lock()

    def take(self, kind: str, key: str, per_minute: int, what: str, *,
             use: bool = True) -> None:
        """Use one request of ``key``'s allowance (only look, with ``use=False``), or raise
        429 saying when to come back. ``per_minute`` 0 means no limit."""
        if per_minute <= 0:
            return
        with self._lock:
            bucket = self._bucket(kind, key, per_minute)
            if bucket.tokens < 1:
                wait = bucket.seconds_until_one()
                raise RateLimited(f"Too many {what}: the limit is {per_minute} a minute.",
                                  f"Try again in {wait} s.", retry_after=wait)
            if use:
                bucket.tokens -= 1

    def _bucket(self, kind: str, key: str, per_minute: int) -> TokenBucket:
        now = self._clock()
        bucket = self._buckets.get((kind, key))
        if bucket is None or bucket.capacity != per_minute:
            if len(self._buckets) >= MAX_BUCKETS:
                self._drop_full(now)
            bucket = self._buckets[(kind, key)] = TokenBucket(per_minute, now)
        bucket.refill(now)
        return bucket

    def _drop_full(self, now: float) -> None:
        for name, bucket in list(self._buckets.items()):
            bucket.refill(now)
            if bucket.tokens >= bucket.capacity:
                del self._buckets[name]
