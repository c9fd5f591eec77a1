"""`kiosk robot sim`: every fault of the simulator (robot.sim.Faults) has a flag with help text."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
import time

import pytest

from kiosk.cli import build_parser, main
from kiosk.commands import robot as robot_cmd
from robot.sim import Faults

ALL_FLAGS = ["robot", "sim", "--drop", "0.1", "--corrupt", "0.2", "--delay-ms", "5", "--stall-after", "7",
             "--reboot-after", "3", "--block", "counter_2", "--seed", "4", "--stuck-after", "2.5",
             "--visitor-lost-after", "1.5", "--drop-hello", "--chatter", "--empty-fields", "--legacy",
             "--no-heartbeat", "--unknown-state", "SLEEPING", "--single-connection", "--close-silent", "3",
             "--close-on-reboot", "--quiet-to-strangers", "--idle-returns", "--ignore-reboot",
             "--ignore-link-loss"]


def test_every_fault_of_the_simulator_is_reachable_from_the_command_line():
    faults = robot_cmd._faults(build_parser().parse_args(ALL_FLAGS))
    default = Faults()
    unset = [f.name for f in dataclasses.fields(Faults) if getattr(faults, f.name) == getattr(default, f.name)]
    assert unset == [], f"Faults fields no flag sets: {unset}"
    assert faults.unknown_state == "SLEEPING" and faults.close_silent_s == 3.0
    assert faults.block == frozenset({"counter_2"}) and faults.stuck_after_s == 2.5


def test_the_defaults_are_a_well_behaved_robot():
    assert robot_cmd._faults(build_parser().parse_args(["robot", "sim"])) == Faults()


def test_help_explains_each_new_flag(capsys):
    with pytest.raises(SystemExit):
        main(["robot", "sim", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag, words in (("--no-heartbeat", "sends no HB"), ("--unknown-state", "state word"),
                        ("--single-connection", "one connection at a time"), ("--close-silent", "S seconds"),
                        ("--close-on-reboot", "12.3 MAY"), ("--quiet-to-strangers", "13 MAY"),
                        ("--idle-returns", "breaks 6.1"), ("--ignore-reboot", "breaks 12.3"),
                        ("--ignore-link-loss", "breaks 10")):
        assert flag in text and words in text, (flag, words)


@pytest.mark.parametrize("argv, message", [
    (["robot", "sim", "--close-silent", "0"], "--close-silent must be more than 0"),
    (["robot", "sim", "--unknown-state", "sleeping"], "upper-case word"),
    (["robot", "sim", "--unknown-state", "A" * 18], "upper-case word"),
])
def test_bad_fault_values_get_a_plain_error(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_close_silent_flag_reaches_the_running_simulator():
    """`kiosk robot sim --tcp PORT --close-silent 1`: a connection that sends nothing is closed."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "kiosk", "robot", "sim", "--tcp", str(port), "--key",
                             "a-key-of-sixteen-chars", "--close-silent", "1"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout.readline().strip() == f"socket://127.0.0.1:{port}"
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            t0 = time.monotonic()
            while conn.recv(4096):  # heartbeats, then the close
                assert time.monotonic() - t0 < 8, "the silent connection was never closed"
            assert time.monotonic() - t0 >= 0.9
    finally:
        proc.terminate()
        proc.wait(timeout=10)
