"""The widget's rate limits, with the `limits` library: per visitor, per client address and per
site key, each from its setting (`CHATBOT_RATE_LIMIT_VISITOR`, `_ADDRESS`, `_SITE`).

A moving window (no burst at a window's edge); counters live in this process's memory, so each
server process counts on its own (several processes behind a balancer: divide the limits, or
point `limits` at a shared storage such as Redis). Only what the widget writes is counted
(messages, feedback, emails); its polling of the messages feed is not.

    >>> limits = WidgetLimits.from_settings(settings)
    >>> limits.hit(visitor="…hash…", address="203.0.113.7", site="site_…")   # or RateLimited
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from chatbot.errors import RateLimited
from chatbot.settings import Settings


class WidgetLimits:
    """Three limits checked together: a request counts against all three, or (refused) none."""

    def __init__(self, visitor: str, address: str, site: str) -> None:
        self._items: dict[str, RateLimitItem] = {"visitor": parse(visitor), "address": parse(address),
                                                 "site": parse(site)}
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    @classmethod
    def from_settings(cls, settings: Settings) -> "WidgetLimits":
        return cls(settings.rate_limit_visitor, settings.rate_limit_address, settings.rate_limit_site)

    def hit(self, **keys: str) -> None:
        """Count one request of `visitor`, `address` and `site` (the keys of each limit), or raise
        `RateLimited` (nothing counted) with the seconds until the fullest window has room."""
        for kind, key in keys.items():
            item = self._items[kind]
            if not self._limiter.test(item, kind, key):
                reset = self._limiter.get_window_stats(item, kind, key).reset_time
                wait = max(1, math.ceil(reset - time.time()))
                raise RateLimited(f"Too many requests from this {kind}: the limit is {item}. "
                                  f"Please wait {wait} seconds and try again.", wait)
        for kind, key in keys.items():
            self._limiter.hit(self._items[kind], kind, key)
