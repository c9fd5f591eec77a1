"""``fakerobot://`` for pyserial: a simulated robot behind an ordinary serial port URL.

``serial.serial_for_url("fakerobot://robot-1?speed=5&drop=0.05&corrupt=0.1&delay_ms=50&block=counter_2")``
(protocol 1.1 faults too: ``stuck_after_s``, ``visitor_lost_after_s``, ``drop_hello``, ``chatter``,
``empty_fields``, ``legacy``, ``battery``)
starts (once per URL, for the life of the process) a `robot.sim` simulator on a pty, with
the floor map of the project's config.yaml (``config=PATH`` picks another), and opens that
pty as a real serial port. Put the URL in `robot.robots[].port` to run the kiosk against a
simulated robot with chosen faults; reopening the URL after a close reaches the same robot.
"""

from __future__ import annotations

import atexit
import threading
import urllib.parse

import serial

_sims: dict[str, object] = {}
_lock = threading.Lock()

_FLOATS = {"speed": "speed_mps", "dock_s": "dock_s", "boot_s": "boot_s", "battery": "battery_pct"}


def _flag(text: str) -> bool:
    return text.lower() in ("", "1", "true", "yes")


_FAULTS = {"drop": float, "corrupt": float, "delay_ms": float, "stall_after": int, "reboot_after": int,
           "seed": int, "stuck_after_s": float, "visitor_lost_after_s": float, "drop_hello": _flag,
           "chatter": _flag, "empty_fields": _flag, "legacy": _flag}


def simulator_for(url: str):
    """The simulator behind a fakerobot:// URL, started on first use."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "fakerobot":
        raise serial.SerialException(f"expected fakerobot://[robot][?options], not {url!r}")
    with _lock:
        sim = _sims.get(url)
        if sim is not None:
            return sim
        from centre.config import load_config
        from robot.sim import Faults, SimServer, make_robot

        query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        fault_kw: dict = {}
        robot_kw: dict = {}
        block: list[str] = []
        config = None
        try:
            for key, values in query.items():
                if key in _FAULTS:
                    fault_kw[key] = _FAULTS[key](values[0])
                elif key in _FLOATS:
                    robot_kw[_FLOATS[key]] = float(values[0])
                elif key == "block":
                    block += values
                elif key == "config":
                    config = values[0]
                else:
                    raise ValueError(f"unknown option {key!r}")
        except ValueError as exc:
            raise serial.SerialException(f"fakerobot URL {url!r}: {exc}") from exc
        cfg = load_config(config)
        faults = Faults(block=frozenset(block), **fault_kw)
        robot = make_robot(cfg, parts.netloc or None, faults=faults, **robot_kw)
        sim = SimServer(robot, faults=faults).start()
        _sims[url] = sim
        return sim


@atexit.register
def stop_simulators() -> None:
    """Stop every simulator started through a fakerobot:// URL."""
    with _lock:
        for sim in _sims.values():
            sim.stop()
        _sims.clear()


class Serial(serial.Serial):
    """A posix serial port on the pty of the simulator that the URL names."""

    @serial.Serial.port.setter
    def port(self, value):
        self._fake_url = value
        serial.Serial.port.__set__(self, value)

    def open(self):
        sim = simulator_for(self._fake_url)
        self.portstr = sim.port  # the pty symlink; the name stays the URL
        super().open()
