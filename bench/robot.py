"""Benchmark of the robot link over real ptys with the simulated robot (issue 5). Prints ONE JSON line.

- rtt_p50_ms, rtt_p95_ms: command -> ack (STATQ) over a 115200-baud pty, 300 commands.
- delivered_ratio_corrupt10, duplicates_corrupt10: 100 GOTO commands with 10 % of frames
  corrupted and 5 % dropped, both ways; a command is delivered when the robot executed it and
  the kiosk saw its result; a duplicate is a second execution of the same command id.
- loss_detect_s: pty master closed (USB unplug) -> LinkDown event; loss_detect_silent_s: robot
  stops answering -> LinkDown (heartbeat watchdog, 3 missed at 1 Hz).
- recover_s: port back -> LinkUp (HELLO answered).
Issue 15 (protocol 1.1), with the escort manager and the simulator on ptys:
- reboot_detect_s: robot reboots mid-escort and its HELLO is lost -> the kiosk's RobotRebooted
  (from the boot id in a heartbeat), counted from the reboot (the simulator boots in 1 s).
- stall_detect_s: the robot stops moving but keeps saying MOVING -> ESCORT_STALLED (stall_s 8).
- redock_after_reboot: a reboot on its way back to the dock (HELLO lost) -> it is docked again.
- estop_event_s: e-stop button mid-escort -> ROBOT_STATUS with estop.
- unknown_frames_kept_alive: a robot sending only vendor frames (no HB) for 5 s keeps the link.
- empty_fields_accepted: a robot leaving battery, eta, heading and max speed empty: link up and
  a full escort arrives, no frame unusable.
- conformance_pass: the conformance kit, all sections, against the simulator and the independent
  firmware of tests/indep_robot/ (pty and keyed TCP each), or "missing" if that folder is absent.
Targets: RTT p95 <= 20 ms, 100 % delivered, 0 duplicates, loss detected <= 3 s, recovery <= 2 s,
reboot <= 2 s, stall <= 10 s, re-dock true, e-stop <= 1 s, the three booleans true, both robots pass.
"""

from __future__ import annotations

import json
import logging
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

# bench/ holds queue.py (the queue bench): keep it from shadowing the standard library's queue
sys.path[:] = [x for x in sys.path if Path(x or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from centre.config import load_config  # noqa: E402
from robot import protocol as p  # noqa: E402
from robot.conformance import run_from_config  # noqa: E402
from robot.escort import EscortManager  # noqa: E402
from robot.link import GoalEnded, LinkDown, LinkUp, RobotLink, RobotTimeout  # noqa: E402
from robot.sim import Faults, SimServer, make_robot  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
KEY = "correct horse battery"


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def bench_rtt(cfg, n: int = 300) -> tuple[float, float]:
    with SimServer(make_robot(cfg)) as sim:
        link = RobotLink.from_config(cfg, cfg.robot.robots[0], port=sim.port).start()
        try:
            assert link.wait_up(5), link.last_error
            for _ in range(10):
                link.command("STATQ")  # warm up
            rtts = []
            for _ in range(n):
                t = time.perf_counter()
                link.command("STATQ")
                rtts.append((time.perf_counter() - t) * 1000)
        finally:
            link.stop()
    return percentile(rtts, 50), percentile(rtts, 95)


def bench_corrupt(cfg, n: int = 100) -> tuple[float, int, dict]:
    faults = Faults(drop=0.05, corrupt=0.10, seed=2026)
    robot = make_robot(cfg, faults=faults, speed_mps=1000, heartbeat_s=0.2, missed_heartbeats=15)
    ended: dict[int, threading.Event] = {}

    def on_event(ev):
        if isinstance(ev, GoalEnded) and ev.goal_id in ended:
            ended[ev.goal_id].set()

    delivered = 0
    with SimServer(robot, faults=faults) as sim:
        link = RobotLink.from_config(cfg, cfg.robot.robots[0], port=sim.port, on_event=on_event).start()
        try:
            assert link.wait_up(5), link.last_error
            ids = []
            for i in range(n):
                cid = link.new_id()
                ended[cid] = threading.Event()
                ids.append(cid)
                ack = None
                for _ in range(3):  # same id again while the robot is heard (the escort manager's rule)
                    try:
                        ack = link.send("GOTO", ("counter_1", "counter_2")[i % 2], cmd_id=cid).result(5)
                        break
                    except RobotTimeout:
                        continue
                if ack is not None and ack.code is p.AckCode.ACCEPTED and ended[cid].wait(3):
                    delivered += 1
            stats = link.stats.to_dict()
        finally:
            link.stop()
        duplicates = sum(max(0, robot.executed[c] - 1) for c in ids)
        delivered = min(delivered, sum(1 for c in ids if robot.executed[c] >= 1))
        extra = {"link_retries": stats["retries"], "link_dropped": stats["dropped"],
                 "sim_faults": dict(sim.stats)}
    return delivered / n, duplicates, extra


def bench_loss(cfg) -> tuple[float, float, float]:
    events: list = []
    cond = threading.Condition()

    def on_event(ev):
        with cond:
            events.append((time.monotonic(), ev))
            cond.notify_all()

    def wait(kind, after: float, timeout: float = 10.0) -> float:
        end = time.monotonic() + timeout
        with cond:
            while time.monotonic() < end:
                for t, ev in events:
                    if isinstance(ev, kind) and t >= after:
                        return t
                cond.wait(0.05)
        return float("nan")

    with SimServer(make_robot(cfg)) as sim:
        link = RobotLink.from_config(cfg, cfg.robot.robots[0], port=sim.port, on_event=on_event).start()
        try:
            assert link.wait_up(5), link.last_error
            time.sleep(0.5)
            t0 = time.monotonic()
            sim.unplug()
            loss = wait(LinkDown, t0) - t0
            time.sleep(3.0)  # unplugged for 3 s
            t1 = time.monotonic()
            sim.replug()
            recover = wait(LinkUp, t1) - t1
            time.sleep(0.5)
            t2 = time.monotonic()
            sim.set_stalled(True)
            silent = wait(LinkDown, t2) - t2
        finally:
            link.stop()
    return loss, silent, recover


class _Events:
    def __init__(self):
        self.items: list = []
        self.cond = threading.Condition()

    def __call__(self, ev):
        with self.cond:
            self.items.append((time.monotonic(), ev))
            self.cond.notify_all()

    def wait(self, pred, timeout: float, after: float = 0.0) -> float:
        end = time.monotonic() + timeout
        with self.cond:
            while time.monotonic() < end:
                for t, ev in self.items:
                    if t >= after and pred(ev):
                        return t
                self.cond.wait(0.05)
        return float("nan")


def _escort_rig(cfg, faults: Faults, **robot_kw):
    robot = make_robot(cfg, faults=faults, **robot_kw)
    sim = SimServer(robot, faults=faults).start()
    ev = _Events()
    mgr = EscortManager(cfg, ports={cfg.robot.robots[0].name: sim.port}, follow_pause_s=0.5, arrive_pause_s=0.5)
    mgr.subscribe(ev)
    mgr.start()
    if not mgr.wait_available(5):
        raise RuntimeError(f"robot not available: {mgr.status()}")
    return mgr, sim, ev


def _code(code: str, **match):
    return lambda e: getattr(e, "code", "") == code and all(getattr(e, k, None) == v for k, v in match.items())


def _wait_until(pred, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def bench_reboot_and_redock(cfg) -> tuple[float, bool]:
    mgr, sim, ev = _escort_rig(cfg, Faults(drop_hello=True), speed_mps=2.0, dock_s=0.5)
    try:
        eid = mgr.request_escort(4)
        ev.wait(_code("FOLLOW_ROBOT", escort_id=eid), 15)
        time.sleep(1.0)
        t0 = time.monotonic()
        sim.reboot()
        detect = ev.wait(_code("ROBOT_ALERT", alert="REBOOTED"), 10, t0) - t0
        ev.wait(_code("ESCORT_ARRIVED", escort_id=eid), 30)
        _wait_until(lambda: sim.robot.state.value == "RETURNING", 5)
        time.sleep(1.0)
        sim.reboot()
        redocked = _wait_until(lambda: sim.robot.state.value == "DOCKED" and sim.robot.at_waypoint() == "dock", 30)
    finally:
        mgr.close()
        sim.stop()
    return detect, redocked


def bench_stall(cfg) -> float:
    mgr, sim, ev = _escort_rig(cfg, Faults(), speed_mps=2.0, dock_s=0.5)
    try:
        eid = mgr.request_escort(4)
        ev.wait(_code("FOLLOW_ROBOT", escort_id=eid), 15)
        time.sleep(1.0)
        t0 = time.monotonic()
        sim.set_stuck(True)
        return ev.wait(_code("ESCORT_STALLED", escort_id=eid), 30, t0) - t0
    finally:
        mgr.close()
        sim.stop()


def bench_estop(cfg) -> float:
    mgr, sim, ev = _escort_rig(cfg, Faults(), speed_mps=2.0, dock_s=0.5)
    try:
        eid = mgr.request_escort(4)
        ev.wait(_code("FOLLOW_ROBOT", escort_id=eid), 15)
        t0 = time.monotonic()
        sim.press_estop()
        return ev.wait(_code("ROBOT_STATUS", estop=True), 5, t0) - t0
    finally:
        mgr.close()
        sim.stop()


def bench_unknown_frames(cfg) -> bool:
    faults = Faults(chatter=True, no_heartbeat=True)
    with SimServer(make_robot(cfg, faults=faults), faults=faults) as sim:
        link = RobotLink.from_config(cfg, cfg.robot.robots[0], port=sim.port).start()
        try:
            if not link.wait_up(5):
                return False
            time.sleep(5.0)
            return link.up and link.stats.downs == 0 and link.stats.unknown_types["XDIAG"] > 0
        finally:
            link.stop()


def bench_empty_fields(cfg) -> bool:
    mgr, sim, ev = _escort_rig(cfg, Faults(empty_fields=True), speed_mps=5.0, dock_s=0.5)
    try:
        arrived = ev.wait(_code("ESCORT_ARRIVED", escort_id=mgr.request_escort(2)), 20)
        stats = mgr.status()["robots"][0]["stats"]
        return arrived == arrived and stats["bad_fields"] == 0  # nan != nan: not arrived
    finally:
        mgr.close()
        sim.stop()


def _indep(cfg, tcp: bool):
    waypoints = ",".join(f"{n}:{w.x}:{w.y}" for n, w in cfg.floor_map.waypoints.items())
    args = [sys.executable, "-m", "tests.indep_robot", "--waypoints", waypoints, "--speed", "2.0", "--dock-s", "0.3"]
    args += ["--tcp", "127.0.0.1:0", "--key", KEY] if tcp else ["--pty"]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return proc, proc.stdout.readline().strip()


def _kit(cfg, port: str, key: str | None) -> dict:
    report = run_from_config(cfg, port, key=key)
    return {"pass": report.passed, "failed": [s.name for s in report.sections if s.status == "fail"],
            "skipped": [s.name for s in report.sections if s.status == "skipped"]}


def bench_conformance(cfg) -> dict:
    out = {}
    for tcp in (False, True):
        with SimServer(make_robot(cfg, speed_mps=2.0, dock_s=0.3, key=KEY if tcp else None),
                       tcp_port=0 if tcp else None) as sim:
            out["sim_tcp_keyed" if tcp else "sim_pty"] = _kit(cfg, sim.port, KEY if tcp else None)
    if not (ROOT / "tests" / "indep_robot" / "__main__.py").exists():
        out["indep"] = "missing"
        return out
    for tcp in (False, True):
        proc, port = _indep(cfg, tcp)
        try:
            out["indep_tcp_keyed" if tcp else "indep_pty"] = _kit(cfg, port, KEY if tcp else None)
        finally:
            proc.terminate()
            proc.wait(5)
    return out


def main() -> int:
    logging.basicConfig(level=logging.ERROR)
    cfg = load_config()
    p50, p95 = bench_rtt(cfg)
    ratio, dups, extra = bench_corrupt(cfg)
    loss, silent, recover = bench_loss(cfg)
    reboot_s, redocked = bench_reboot_and_redock(cfg)
    stall_s = bench_stall(cfg)
    estop_s = bench_estop(cfg)
    kept_alive = bench_unknown_frames(cfg)
    empty_ok = bench_empty_fields(cfg)
    conformance = bench_conformance(cfg)
    print(json.dumps({
        "rtt_p50_ms": round(p50, 2),
        "rtt_p95_ms": round(p95, 2),
        "delivered_ratio_corrupt10": ratio,
        "duplicates_corrupt10": dups,
        "loss_detect_s": round(loss, 3),
        "loss_detect_silent_s": round(silent, 3),
        "recover_s": round(recover, 3),
        "reboot_detect_s": round(reboot_s, 3),
        "stall_detect_s": round(stall_s, 3),
        "stall_s_setting": cfg.robot.stall_s,
        "redock_after_reboot": redocked,
        "estop_event_s": round(estop_s, 3),
        "unknown_frames_kept_alive": kept_alive,
        "empty_fields_accepted": empty_ok,
        "conformance_pass": all(v == "missing" or v["pass"] for v in conformance.values())
        and conformance.get("indep") != "missing",
        "conformance": conformance,
        "baudrate": cfg.robot.robots[0].baudrate,
        "faults": {"corrupt": 0.10, "drop": 0.05, "both_ways": True, **extra},
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
