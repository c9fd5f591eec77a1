"""The robot events of a running kiosk, in a small SQLite file other processes can read.

The escort manager appends every event it emits (``to_dict()`` as JSON) to
``<data_dir>/robot-events.db`` (table ``robot_events``). `kiosk robot monitor` follows that
table, so it can watch a running kiosk without opening the robot's port (which the kiosk
holds exclusively), and the staff server can read the same rows to tell the staff about a
stalled robot, an e-stop or a reboot. A separate file, not the centre database: the robot's
chatter (feedback twice a second) never competes with ticket transactions, and no schema
migration is involved. WAL mode: one writer (the kiosk), any number of readers.

Rows: ``id`` (increasing), ``at`` (Unix time), ``robot``, ``code`` (the event's code) and
``data`` (the event as JSON). Only the newest `KEEP` rows are kept.

The other way, a second small table ``robot_commands`` carries commands *to* the kiosk's
escort manager from another process: the staff server's "Reset" after an e-stop
(`post_command`). The manager takes them (`EventLog.take_commands`, polled every
quarter second), carries them out and writes the robot's answer back (`command_done`); a
command not taken within `COMMAND_TTL_S` (no kiosk running) is marked ``expired``, so a
kiosk started later never acts on an old click. Only the commands in `COMMANDS` exist.

A third table, ``robot_writer``, tells a reader whether the writer is still there: each
`EventLog` (one per kiosk run) adds a row (pid, host, start), refreshes its ``beat_at`` every
`BEAT_S` while the escort manager runs (`EventLog.beat`) and sets ``stopped_at`` when closed.
`writer_state` reads it: running, stopped (closed), gone (its process no longer exists: a
crash or kill), silent (no beat for `SILENT_S`: hung) or none (no kiosk ever wrote here).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("robot.events")

KEEP = 5000
FILE_NAME = "robot-events.db"
#: Commands another process may post to the running kiosk (see `post_command`).
COMMANDS = ("RESET",)
COMMAND_TTL_S = 30.0
#: How often a running kiosk marks that it is alive, and how long without a mark counts as hung.
BEAT_S = 5.0
SILENT_S = 15.0
WRITER_ROWS_KEPT = 20


def default_path(cfg) -> Path:
    return Path(cfg.data_dir) / FILE_NAME


def _connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(str(path), timeout=5, check_same_thread=False)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("""CREATE TABLE IF NOT EXISTS robot_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, robot TEXT, code TEXT NOT NULL,
        data TEXT NOT NULL)""")
    con.execute("""CREATE TABLE IF NOT EXISTS robot_commands (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, robot TEXT, command TEXT NOT NULL,
        by TEXT NOT NULL DEFAULT '', taken_at REAL, result TEXT)""")
    con.execute("""CREATE TABLE IF NOT EXISTS robot_writer (
        id INTEGER PRIMARY KEY AUTOINCREMENT, pid INTEGER NOT NULL, host TEXT NOT NULL,
        started_at REAL NOT NULL, beat_at REAL NOT NULL, stopped_at REAL)""")
    return con


class EventLog:
    """Appends events (anything with ``to_dict()`` holding a ``code``) to the robot events file."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._con = _connect(self.path)
        self._lock = threading.Lock()
        self._writes = 0
        self._session: int | None = None
        self._next_beat = 0.0
        self._start_session()

    def _start_session(self) -> None:
        """Mark this process as the events file's writer (see `writer_state`)."""
        now = time.time()
        try:
            with self._lock, self._con:
                self._session = self._con.execute(
                    "INSERT INTO robot_writer (pid, host, started_at, beat_at) VALUES (?, ?, ?, ?)",
                    (os.getpid(), socket.gethostname(), now, now),
                ).lastrowid
                self._con.execute(
                    "DELETE FROM robot_writer WHERE id <= ?", (self._session - WRITER_ROWS_KEPT,)
                )
            self._next_beat = time.monotonic() + BEAT_S
        except sqlite3.Error as exc:
            log.warning("robot events: kiosk session not marked: %s", exc)

    def beat(self) -> None:
        """Mark the writer alive (at most once every `BEAT_S`; call it often)."""
        if self._session is None or time.monotonic() < self._next_beat:
            return
        self._next_beat = time.monotonic() + BEAT_S
        try:
            with self._lock, self._con:
                self._con.execute(
                    "UPDATE robot_writer SET beat_at = ? WHERE id = ?", (time.time(), self._session)
                )
        except sqlite3.Error as exc:
            log.warning("robot events: kiosk session not marked alive: %s", exc)

    def __call__(self, event) -> None:
        self.append(event.to_dict())

    def append(self, d: dict) -> None:
        try:
            with self._lock, self._con:
                self._con.execute("INSERT INTO robot_events (at, robot, code, data) VALUES (?, ?, ?, ?)",
                                  (time.time(), d.get("robot"), d.get("code", ""), json.dumps(d, default=str)))
                self._writes += 1
                if self._writes % 500 == 0:
                    self._con.execute("DELETE FROM robot_events WHERE id <= (SELECT MAX(id) FROM robot_events) - ?",
                                      (KEEP,))
        except sqlite3.Error as exc:  # a full disk must not stop the escorts
            log.warning("robot event not logged: %s", exc)

    def take_commands(self, now: float | None = None, ttl_s: float = COMMAND_TTL_S) -> list[dict]:
        """Commands posted since the last call (oldest first), marked taken; stale ones expire."""
        now = time.time() if now is None else now
        try:
            with self._lock, self._con:
                rows = self._con.execute("SELECT id, at, robot, command, by FROM robot_commands "
                                         "WHERE taken_at IS NULL ORDER BY id").fetchall()
                if not rows:
                    return []
                self._con.execute("UPDATE robot_commands SET taken_at = ?, result = CASE WHEN at < ? "
                                  "THEN 'expired' END WHERE taken_at IS NULL AND id <= ?",
                                  (now, now - ttl_s, rows[-1][0]))
        except sqlite3.Error as exc:
            log.warning("robot commands not read: %s", exc)
            return []
        return [{"id": i, "at": at, "robot": robot, "command": cmd, "by": by}
                for i, at, robot, cmd, by in rows if at >= now - ttl_s and cmd in COMMANDS]

    def command_done(self, command_id: int, result: str) -> None:
        """Add a robot's answer to a command (several robots: one part each, joined by '; ')."""
        try:
            with self._lock, self._con:
                self._con.execute("UPDATE robot_commands SET result = COALESCE(result || '; ', '') || ? "
                                  "WHERE id = ?", (result, command_id))
        except sqlite3.Error as exc:
            log.warning("robot command result not written: %s", exc)

    def close(self) -> None:
        """Mark the session stopped and close the file."""
        with self._lock:
            if self._session is not None:
                try:
                    with self._con:
                        self._con.execute(
                            "UPDATE robot_writer SET stopped_at = ? WHERE id = ?",
                            (time.time(), self._session),
                        )
                except sqlite3.Error as exc:
                    log.warning("robot events: kiosk session not marked stopped: %s", exc)
                self._session = None
            self._con.close()


def post_command(path: str | Path, command: str, robot: str | None = None, by: str = "") -> int:
    """Ask the running kiosk's escort manager to do `command` (one of COMMANDS); returns its id."""
    if command not in COMMANDS:
        raise ValueError(f"unknown robot command {command!r} (known: {', '.join(COMMANDS)})")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = _connect(path)
    try:
        with con:
            return con.execute("INSERT INTO robot_commands (at, robot, command, by) VALUES (?, ?, ?, ?)",
                               (time.time(), robot, command, by)).lastrowid
    finally:
        con.close()


def recent_commands(path: str | Path, limit: int = 5) -> list[dict]:
    """The newest commands, newest first: id, at, robot, command, by, taken_at, result."""
    path = Path(path)
    if not path.exists():
        return []
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        rows = con.execute("SELECT id, at, robot, command, by, taken_at, result FROM robot_commands "
                           "ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    except sqlite3.OperationalError:  # no command table yet
        return []
    finally:
        con.close()
    keys = ("id", "at", "robot", "command", "by", "taken_at", "result")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def read_since(path: str | Path, after_id: int = 0, limit: int = 500) -> list[tuple[int, float, dict]]:
    """Rows after `after_id`: (id, unix time, event dict). Empty when the file does not exist yet."""
    path = Path(path)
    if not path.exists():
        return []
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        rows = con.execute("SELECT id, at, data FROM robot_events WHERE id > ? ORDER BY id LIMIT ?",
                           (after_id, limit)).fetchall()
    except sqlite3.OperationalError:  # the table is not there yet
        return []
    finally:
        con.close()
    return [(i, at, json.loads(data)) for i, at, data in rows]


def last_id(path: str | Path) -> int:
    path = Path(path)
    if not path.exists():
        return 0
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute("SELECT COALESCE(MAX(id), 0) FROM robot_events").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


@dataclass(frozen=True)
class WriterState:
    """Whether a kiosk is writing the events file (`writer_state`).

    `state`: ``running``, ``stopped`` (it closed the file), ``gone`` (its process no longer
    exists and never closed: crashed or killed), ``silent`` (no beat for `SILENT_S`: hung, or
    on another machine and stopped) or ``none`` (no kiosk has written here). `since`: when it
    started (running), stopped (stopped) or was last heard (gone, silent); `pid` its process.
    """

    state: str
    since: float | None = None
    pid: int | None = None

    @property
    def running(self) -> bool:
        return self.state == "running"


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process (the kiosk runs as its own user)
        return True
    return True


def writer_state(path: str | Path, now: float | None = None) -> WriterState:
    """The newest kiosk session of the events file (see `WriterState`)."""
    path = Path(path)
    if not path.exists():
        return WriterState("none")
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        row = con.execute(
            "SELECT pid, host, started_at, beat_at, stopped_at FROM robot_writer ORDER BY id DESC LIMIT 1"
        ).fetchone()
    except sqlite3.OperationalError:  # a file from before the table, or not yet created
        row = None
    finally:
        con.close()
    if row is None:
        return WriterState("none")
    pid, host, started_at, beat_at, stopped_at = row
    if stopped_at is not None:
        return WriterState("stopped", stopped_at, pid)
    if host == socket.gethostname() and not _process_exists(pid):
        return WriterState("gone", beat_at, pid)
    if (time.time() if now is None else now) - beat_at > SILENT_S:
        return WriterState("silent", beat_at, pid)
    return WriterState("running", started_at, pid)
