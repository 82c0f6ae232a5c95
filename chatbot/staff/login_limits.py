"""Failed sign-ins, counted per account and per address in a moving window (the `limits`
library, in memory): past the limit, sign-ins are refused without checking the password until
the window has moved on, with a message that says when to try again.

Only failures count, and a success clears its account's count; the address's count stays (one
address trying many accounts is what it is there to stop). In memory, per server process: a
restart forgets the counts, which only ever lets an attacker try again sooner, never locks
anyone out for longer.

    >>> limiter = LoginLimiter(account_attempts=5, address_attempts=20, window_s=900)
    >>> limiter.check("alice", "203.0.113.9")   # TooManyAttempts when either is spent
    >>> limiter.failed("alice", "203.0.113.9")
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from chatbot.errors import TooManyAttempts

_NAMESPACE = "staff-login"


class LoginLimiter:
    """At most `account_attempts` failed sign-ins per account name and `address_attempts` per
    client address in any `window_s` seconds."""

    def __init__(self, account_attempts: int, address_attempts: int, window_s: int) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._account = RateLimitItemPerSecond(account_attempts, window_s, namespace=_NAMESPACE)
        self._address = RateLimitItemPerSecond(address_attempts, window_s, namespace=_NAMESPACE)

    def _keys(self, name: str, address: str) -> list[tuple]:
        # casefold: "Alice" and "alice" are one account's attempts, whichever the store knows.
        return [(self._account, "account", name.casefold()), (self._address, "address", address or "-")]

    def check(self, name: str, address: str) -> None:
        """`TooManyAttempts` (with the seconds until the next attempt counts) when the account or
        the address has spent its failures; otherwise nothing."""
        for item, kind, key in self._keys(name, address):
            if not self._limiter.test(item, kind, key):
                reset = self._limiter.get_window_stats(item, kind, key).reset_time
                wait = max(1, math.ceil(reset - time.time()))
                whom = "this account" if kind == "account" else "this address"
                raise TooManyAttempts(
                    f"Too many failed sign-ins for {whom}. Try again in {_duration(wait)}.", wait)

    def failed(self, name: str, address: str) -> None:
        """Count one failed sign-in against the account and the address."""
        for item, kind, key in self._keys(name, address):
            self._limiter.hit(item, kind, key)

    def succeeded(self, name: str) -> None:
        """Forget the account's failures (its owner just proved the password)."""
        self._limiter.clear(self._account, "account", name.casefold())


def _duration(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{math.ceil(seconds / 60)} minutes"
