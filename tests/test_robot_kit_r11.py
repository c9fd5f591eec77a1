"""Round 11: the conformance kit reconnects on TCP as the kiosk's link does (robot/conformance.py).

The protocol lets a TCP robot close its connection at REBOOT (12.3), send nothing to a connection
that is not authenticated (13: after a reboot none is), or serve one connection at a time and close
one silent for 3 s (13). The kit's `reboot` and `link_loss` sections must pass such robots by
opening a new connection with HELLO and AUTH, and still fail robots that break the rules (one that
never reboots, one that goes on with its goal when the kiosk's heartbeat stops). Real TCP sockets
with the simulator in-process (robot/sim.py and its Faults).
"""

from __future__ import annotations

import threading
import time

import pytest

from robot.conformance import Wire, run_from_config
from robot.sim import Faults, SimServer, make_robot

KEY = "correct horse battery staple"


def _sim(project_config, faults: Faults, *, key: str | None = KEY, speed_mps: float = 5.0) -> SimServer:
    robot = make_robot(project_config, key=key, faults=faults, speed_mps=speed_mps, dock_s=0.2)
    return SimServer(robot, tcp_port=0).start()


def _section(project_config, faults: Faults, section: str, *, key: str | None = KEY, speed_mps: float = 5.0):
    sim = _sim(project_config, faults, key=key, speed_mps=speed_mps)
    try:
        report = run_from_config(project_config, sim.port, key=key, sections=(section,), goal_timeout_s=30.0)
        return next(s for s in report.sections if s.name == section), sim
    finally:
        sim.stop()


def _reconnected(result) -> bool:
    return any("the kit reconnected" in n for n in result.notes)


# -- reboot (12.3, 13) ---------------------------------------------------------------------------


@pytest.mark.parametrize("faults", [Faults(close_on_reboot=True), Faults(quiet_to_strangers=True),
                                    Faults(close_on_reboot=True, quiet_to_strangers=True)],
                         ids=["close_on_reboot", "quiet_to_strangers", "both"])
def test_reboot_passes_a_robot_that_closes_or_goes_quiet(project_config, faults):
    result, sim = _section(project_config, faults, "reboot")
    assert result.status == "pass", result.failures
    assert _reconnected(result), result.notes
    assert sim.robot.reboots == 1
    assert sim.stats["connections"] >= 2  # the kit opened a second connection


def test_reboot_without_a_key_on_a_robot_that_closes(project_config):
    result, sim = _section(project_config, Faults(close_on_reboot=True), "reboot", key=None)
    assert result.status == "pass", result.failures
    assert _reconnected(result)


def test_reboot_keeps_the_connection_when_the_robot_does(project_config):
    result, sim = _section(project_config, Faults(), "reboot")
    assert result.status == "pass", result.failures
    assert not _reconnected(result)
    assert sim.stats["connections"] == 1


@pytest.mark.parametrize("faults", [Faults(ignore_reboot=True), Faults(ignore_reboot=True, quiet_to_strangers=True)],
                         ids=["plain", "quiet_to_strangers"])
def test_reboot_still_fails_a_robot_that_never_reboots(project_config, faults):
    result, sim = _section(project_config, faults, "reboot")
    assert result.status == "fail"
    assert any("new boot id" in f for f in result.failures), result.failures
    assert sim.robot.reboots == 0


# -- link_loss (10, 13) --------------------------------------------------------------------------


def test_link_loss_passes_a_robot_serving_one_connection_closed_after_3_s(project_config):
    faults = Faults(single_connection=True, close_silent_s=3.0)
    result, sim = _section(project_config, faults, "link_loss", speed_mps=2.0)
    assert result.status == "pass", result.failures
    assert _reconnected(result), result.notes
    assert sim.stats["closed"] >= 1


def test_link_loss_keeps_the_connection_when_the_robot_does(project_config):
    result, sim = _section(project_config, Faults(), "link_loss", speed_mps=2.0)
    assert result.status == "pass", result.failures
    assert not _reconnected(result)


@pytest.mark.parametrize("faults", [Faults(ignore_link_loss=True),
                                    Faults(ignore_link_loss=True, single_connection=True, close_silent_s=3.0)],
                         ids=["plain", "one_connection"])
def test_link_loss_still_fails_a_robot_that_does_not_abort(project_config, faults):
    result, _ = _section(project_config, faults, "link_loss", speed_mps=2.0)
    assert result.status == "fail"
    # the goal ran on (ACTIVE, or SUCCEEDED if it arrived meanwhile): either way no return to the dock
    assert any("did not return to its dock" in f or "expected ABORTED,LINK_LOST" in f
               for f in result.failures), result.failures


def test_link_loss_fails_when_the_new_connection_is_never_served(project_config):
    """A robot that closes the silent connection and then answers nobody: the kit says so."""
    sim = _sim(project_config, Faults(single_connection=True, close_silent_s=3.0), speed_mps=2.0)
    try:
        def hang_after_close():
            while sim.stats["closed"] == 0:
                time.sleep(0.05)
            sim.set_stalled()

        threading.Thread(target=hang_after_close, daemon=True).start()
        report = run_from_config(project_config, sim.port, key=KEY, sections=("link_loss",), goal_timeout_s=10.0)
    finally:
        sim.stop()
    result = report.sections[0]
    assert result.status == "fail"
    assert any("new connection got no session" in f for f in result.failures), result.failures


# -- the wire ------------------------------------------------------------------------------------


def test_wire_wait_with_quiet_returns_early_on_close_and_on_silence(project_config):
    sim = _sim(project_config, Faults(quiet_to_strangers=True))
    wire = Wire(sim.port)
    try:
        t0 = time.monotonic()
        # a keyed robot quiet to strangers: an unauthenticated connection hears nothing
        assert wire.wait(lambda m: True, 5.0, t0, quiet_s=0.5) is None
        assert time.monotonic() - t0 < 2.0
        sim.unplug()  # the robot side closes it
        t1 = time.monotonic()
        assert wire.wait(lambda m: True, 5.0, t1, quiet_s=3.0) is None
        assert wire.closed.is_set()
        assert time.monotonic() - t1 < 2.0
    finally:
        wire.close()
        sim.stop()
