"""Injectable clocks: the queue asks a clock for "now" so tests can move time (day rollover).

`SystemClock` is the real one. `FixedClock` stands still until a test calls `set()` or
`advance()`. Both return timezone-aware UTC datetimes; callers convert to the centre's
local time with `cfg.centre.tz`.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Anything with `now()` returning an aware datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The computer's clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that moves only when told to (tests, simulations)."""

    def __init__(self, start: datetime):
        if start.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime (with a time zone)")
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime (with a time zone)")
        with self._lock:
            self._now = when

    def advance(self, **kwargs: float) -> datetime:
        """Move forward by a timedelta given as keywords (minutes=5, days=1)."""
        with self._lock:
            self._now = self._now + timedelta(**kwargs)
            return self._now
