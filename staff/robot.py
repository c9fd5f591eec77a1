"""The guide robots as the staff see them: followed from the kiosk's robot events file.

The kiosk process holds the robot's port; its escort manager appends every event to
``<data_dir>/robot-events.db`` (robot/events.py). `RobotFeed` follows that file: the latest
``ROBOT_STATUS`` of each robot (e-stop, availability, battery, reason) and the recent
``ROBOT_ALERT`` lines, plus the last staff commands (Reset) with the robot's answer.

Cheap to follow: `refresh()` first compares the file's and its WAL's size and modification
time (two `stat` calls) and reads rows only when they changed. The staff server's event
poller (staff/events.py, every `POLL_S`) calls it while a page follows `/api/robot/events`,
so an e-stop reaches the staff screens within a fraction of a second.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path

from robot import events as robot_events

log = logging.getLogger("staff.robot")
#: Rows read back when the feed starts (the robots' latest status is among them).
PRIME_ROWS = 2000
ALERTS_KEPT = 10
#: read the events file at least this often (seconds) even when its signature looks unchanged
FULL_READ_S = 1.0
STATUS_FIELDS = ("robot", "available", "link_up", "state", "battery", "reason", "estop", "charging")


class RobotFeed:
    """The current robot picture from the events file; thread-safe."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self.last_id = 0
        self.robots: dict[str, dict] = {}
        self.alerts: deque = deque(maxlen=ALERTS_KEPT)
        self.commands: list[dict] = []
        self._signature: tuple | None = None
        self._read_at = 0.0
        self._primed = False

    def _stat(self) -> tuple | None:
        out = []
        for p in (self.path, self.path.with_name(self.path.name + "-wal")):
            try:
                st = os.stat(p)
            except FileNotFoundError:
                if p == self.path:
                    return None
                out.append(None)
                continue
            out.append((st.st_mtime_ns, st.st_size, st.st_ino))
        return tuple(out)

    def refresh(self) -> bool:
        """Read what the kiosk wrote since the last call; True when the picture changed."""
        with self._lock:
            sig = self._stat()
            now = time.monotonic()
            # The files' times are the kernel's coarse clock and a checkpointed WAL is rewritten at
            # the same size, so two writes a few ms apart can leave the same signature: read anyway
            # once every FULL_READ_S, so a missed change shows late but never stays hidden.
            if sig == self._signature and now - self._read_at < FULL_READ_S:
                return False
            self._signature = sig
            self._read_at = now
            if sig is None:
                return False
            top = robot_events.last_id(self.path)
            if top < self.last_id:  # a new file (the kiosk's data folder was emptied)
                self._reset()
                self._signature = sig
            if not self._primed:
                self._primed = True
                self.last_id = max(0, top - PRIME_ROWS)
            changed = self._read_rows()
            commands = robot_events.recent_commands(self.path)
            if commands != self.commands:
                self.commands = commands
                changed = True
            return changed

    def _read_rows(self) -> bool:
        changed = False
        while True:
            rows = robot_events.read_since(self.path, self.last_id)
            for row_id, at, d in rows:
                self.last_id = row_id
                changed = self._apply(row_id, at, d) or changed
            if len(rows) < 500:
                return changed

    def _apply(self, row_id: int, at: float, d: dict) -> bool:
        if d.get("code") == "ROBOT_STATUS" and d.get("robot"):
            self.robots[d["robot"]] = {**{k: d.get(k) for k in STATUS_FIELDS}, "at": at}
            return True
        if d.get("code") == "ROBOT_ALERT":
            self.alerts.appendleft({"id": row_id, "at": at, "robot": d.get("robot"), "alert": d.get("alert"),
                                    "detail": d.get("detail") or ""})
            return True
        return False

    def state(self) -> dict:
        """What the robot strip shows: robots (by name), the newest alerts first, recent commands."""
        with self._lock:
            robots = [self.robots[k] for k in sorted(self.robots)]
            return {"robots": robots, "estop": any(r["estop"] for r in robots), "alerts": list(self.alerts),
                    "commands": list(self.commands), "last_id": self.last_id}

    def snapshot(self) -> dict:
        self.refresh()
        return self.state()


async def robot_stream(broker, feed: RobotFeed, request, executor=None) -> AsyncIterator[str]:
    """SSE body: the robot picture as a 'state' event, then again whenever it changes."""
    from staff.events import HEARTBEAT_S, sse

    q = await broker.subscribe_robot()
    loop = asyncio.get_running_loop()
    try:
        yield "retry: 2000\n\n"
        yield sse("state", await loop.run_in_executor(executor, feed.snapshot))
        while True:
            try:
                await asyncio.wait_for(q.get(), HEARTBEAT_S)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                yield ": keep-alive\n\n"
                continue
            while not q.empty():  # the state is whole: one message for a burst
                q.get_nowait()
            yield sse("state", feed.state())
    finally:
        broker.unsubscribe_robot(q)
