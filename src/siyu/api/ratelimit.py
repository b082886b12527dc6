"""Per-key rate limits (moving window, in process) with the ``limits`` library."""

from __future__ import annotations

import time

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from siyu.api.errors import ApiError


class KeyRateLimiter:
    """Counts requests per key id over a one-minute moving window; one process, so memory storage."""

    def __init__(self, default_per_minute: int) -> None:
        self.default = default_per_minute
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._items: dict[int, RateLimitItemPerMinute] = {}

    def check(self, key_id: str, per_minute: int | None) -> None:
        """Count one request; raise 429 with ``Retry-After`` when the key is over its limit."""
        n = per_minute or self.default
        item = self._items.get(n)
        if item is None:
            item = self._items[n] = RateLimitItemPerMinute(n)
        if not self._limiter.hit(item, key_id):
            reset, _remaining = self._limiter.get_window_stats(item, key_id)
            retry = max(1, int(reset - time.time()) + 1)
            raise ApiError(429, "rate_limited", f"more than {n} requests a minute for this key",
                           headers={"Retry-After": str(retry)})
