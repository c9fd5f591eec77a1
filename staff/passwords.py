"""Password work (scrypt: ~40 ms of a core and 16 MiB per check) off the event loop, a few at a time.

The staff server's login and password change ran scrypt on the event loop: a burst of logins
stalled every other request (the hall display's stream, the counters' calls, /healthz) for as
long as the hashes took. `off_loop(state, fn, ...)` runs `fn` in a worker thread holding one of
`HASH_WORKERS` tokens of a limiter kept on `state` (the app's state); the callers beyond that
wait on the loop, not in a thread, so the thread pool of the other routes stays free. The hub
(province.web) uses the same.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread

#: password checks running at once in one server (the machine has two cores; each takes 16 MiB)
HASH_WORKERS = 2


def limiter(state: Any) -> anyio.CapacityLimiter:
    """The server's password limiter, made on first use (inside the event loop, as anyio needs)."""
    found = getattr(state, "password_limiter", None)
    if found is None:
        found = state.password_limiter = anyio.CapacityLimiter(HASH_WORKERS)
    return found


async def off_loop(state: Any, fn: Callable, /, *args, **kwargs):
    """`fn(*args, **kwargs)` in a worker thread, at most HASH_WORKERS at once per server."""
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), limiter=limiter(state))
