"""Benchmark of the robot link over real ptys with the simulated robot (issue 5). Prints ONE JSON line.

- rtt_p50_ms, rtt_p95_ms: command -> ack (STATQ) over a 115200-baud pty, 300 commands.
- delivered_ratio_corrupt10, duplicates_corrupt10: 100 GOTO commands with 10 % of frames
  corrupted and 5 % dropped, both ways; a command is delivered when the robot executed it and
  the kiosk saw its result; a duplicate is a second execution of the same command id.
- loss_detect_s: pty master closed (USB unplug) -> LinkDown event; loss_detect_silent_s: robot
  stops answering -> LinkDown (heartbeat watchdog, 3 missed at 1 Hz).
- recover_s: port back -> LinkUp (HELLO answered).
Targets: RTT p95 <= 20 ms, 100 % delivered, 0 duplicates, loss detected <= 3 s, recovery <= 2 s.
"""

from __future__ import annotations

import json
import logging
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from centre.config import load_config  # noqa: E402
from robot import protocol as p  # noqa: E402
from robot.link import GoalEnded, LinkDown, LinkUp, RobotLink, RobotTimeout  # noqa: E402
from robot.sim import Faults, SimServer, make_robot  # noqa: E402


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


def main() -> int:
    logging.basicConfig(level=logging.ERROR)
    cfg = load_config()
    p50, p95 = bench_rtt(cfg)
    ratio, dups, extra = bench_corrupt(cfg)
    loss, silent, recover = bench_loss(cfg)
    print(json.dumps({
        "rtt_p50_ms": round(p50, 2),
        "rtt_p95_ms": round(p95, 2),
        "delivered_ratio_corrupt10": ratio,
        "duplicates_corrupt10": dups,
        "loss_detect_s": round(loss, 3),
        "loss_detect_silent_s": round(silent, 3),
        "recover_s": round(recover, 3),
        "baudrate": cfg.robot.robots[0].baudrate,
        "faults": {"corrupt": 0.10, "drop": 0.05, "both_ways": True, **extra},
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
