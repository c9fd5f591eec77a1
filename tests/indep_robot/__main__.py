"""python -m tests.indep_robot --pty | --tcp HOST:PORT [options]: run the independent robot firmware."""

from __future__ import annotations

import argparse
import logging
import os
import random
import signal
import sys
import time

from .firmware import Config, Firmware, Nvram
from .transport import Faults, Runner
from .wire import RESERVED, is_name
from .world import MapError, load_waypoints


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.indep_robot", description=__doc__)
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--pty", action="store_true", help="serve on a new pseudo-terminal (its path is printed)")
    where.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP (port 0: any free port; printed)")
    p.add_argument("--link", metavar="PATH", help="also make PATH a symlink to the pty")
    p.add_argument("--key", metavar="KEY_OR_FILE", help="shared key (16-64 characters) or a file holding it")
    p.add_argument("--waypoints", metavar="FILE_OR_LIST", help="the robot's map (README 'Waypoints')")
    p.add_argument("--dock", default="dock", help="name of the dock waypoint (default dock)")
    p.add_argument("--start", metavar="WAYPOINT", help="where the robot is at power-up (default: on the dock)")
    p.add_argument("--map-version", default=None, help="map version in HELLO (default 2026-11; '' for none)")
    p.add_argument("--model", default="INDEP-FW1")
    p.add_argument("--caps", default="SWVCR", help="capability letters (A is added when keyed)")
    p.add_argument("--speed", type=float, default=0.7, help="driving speed, m/s (default 0.7)")
    p.add_argument("--battery", default="100", help="battery %% at power-up, or 'unknown'")
    p.add_argument("--drain", type=float, default=1.0, help="battery %% used per minute of driving")
    p.add_argument("--charge", type=float, default=10.0, help="battery %% gained per minute on the dock")
    p.add_argument("--boot-s", type=float, default=0.5, help="boot time (state BOOT)")
    p.add_argument("--dock-s", type=float, default=2.0, help="duration of the final docking manoeuvre")
    p.add_argument("--nvram", metavar="FILE", help="keep the e-stop latch in FILE (survives restarts of this process)")
    faults = p.add_argument_group("fault injection (times in seconds)")
    faults.add_argument("--reboot-after", type=float, metavar="S", help="reboot once, S s after start")
    faults.add_argument("--estop-after", type=float, metavar="S", help="press the stop button once, S s after start")
    faults.add_argument("--estop-hold", type=float, default=2.0, metavar="S", help="button held for S s (default 2)")
    faults.add_argument("--stall-after", type=float, metavar="S", help="every goal stops progressing S s after it starts")
    faults.add_argument("--stall-for", type=float, metavar="S", help="... for S s (default: for ever)")
    faults.add_argument("--visitor-lost-after", type=float, metavar="S", help="the visitor falls behind S s into every GOTO")
    faults.add_argument("--visitor-lost-for", type=float, metavar="S", help="... and is back after S s (default never)")
    faults.add_argument("--obstacle-after", type=float, metavar="S", help="someone stands in the way S s into every goal")
    faults.add_argument("--obstacle-for", type=float, default=4.0, metavar="S", help="... for S s (default 4)")
    faults.add_argument("--block", action="append", default=[], metavar="WAYPOINT", help="the way to WAYPOINT is blocked")
    faults.add_argument("--occupied-after", type=float, metavar="S", help="another user takes the robot S s after start")
    faults.add_argument("--occupied-for", type=float, default=20.0, metavar="S", help="... for S s (default 20)")
    faults.add_argument("--lose-localisation-after", type=float, metavar="S", help="lose localisation once, S s after start")
    faults.add_argument("--lose-localisation-for", type=float, metavar="S", help="... and relocalise after S s")
    faults.add_argument("--empty-position", action="store_true", help="not localised: empty x/y, GOTO/DOCK denied")
    faults.add_argument("--drop-hello", action="store_true", help="lose the HELLO the robot sends when it (re)boots")
    faults.add_argument("--corrupt", type=float, default=0.0, metavar="P", help="flip a bit in a frame with probability P")
    faults.add_argument("--drop", type=float, default=0.0, metavar="P", help="lose a frame with probability P")
    faults.add_argument("--dup", type=float, default=0.0, metavar="P", help="deliver a frame twice with probability P")
    faults.add_argument("--fault-direction", choices=("both", "out", "in"), default="both")
    faults.add_argument("--unknown-frames", action="store_true", help="also send vendor sentences XDIAG and XLIDAR")
    faults.add_argument("--v1", action="store_true", help="behave as a version-1 robot (no 1.1 fields or messages)")
    faults.add_argument("--extra-fields", action="store_true", help="append a vendor field to every HB and STATUS")
    p.add_argument("--seed", type=int, help="random seed (boot ids, nonces, faults)")
    p.add_argument("--console", action="store_true", help="read robot commands from stdin (README 'Console')")
    p.add_argument("--run-for", type=float, metavar="S", help="exit after S seconds")
    p.add_argument("-v", "--verbose", action="count", default=0, help="-v: events, -vv: every frame (stderr)")
    return p.parse_args(argv)


def read_key(value: str | None) -> str | None:
    if value is None:
        return None
    key = open(value, encoding="ascii").read().strip() if os.path.isfile(value) else value
    if not 16 <= len(key) <= 64 or any(not (0x20 <= ord(c) <= 0x7E) or c in RESERVED for c in key):
        raise SystemExit("--key: 16-64 printable ASCII characters without $ * , ! \\ ^ ~")
    return key


def build_config(args: argparse.Namespace) -> Config:
    try:
        waypoints = load_waypoints(args.waypoints)
    except (MapError, OSError, ValueError) as exc:
        raise SystemExit(f"--waypoints: {exc}") from exc
    battery = None if args.battery.lower() in ("unknown", "") else max(0.0, min(100.0, float(args.battery)))
    cfg = Config(
        model=args.model, speed=args.speed, waypoints=waypoints, dock=args.dock, start=args.start,
        caps=args.caps, key=read_key(args.key), battery=battery, drain_per_min=args.drain,
        charge_per_min=args.charge, boot_s=args.boot_s, dock_s=args.dock_s, unlocalised=args.empty_position,
        reboot_after=args.reboot_after, estop_after=args.estop_after, estop_hold=args.estop_hold,
        stall_after=args.stall_after, stall_for=args.stall_for, visitor_lost_after=args.visitor_lost_after,
        visitor_lost_for=args.visitor_lost_for, obstacle_after=args.obstacle_after,
        obstacle_for=args.obstacle_for, blocked=tuple(args.block), occupied_after=args.occupied_after, occupied_for=args.occupied_for,
        lose_localisation_after=args.lose_localisation_after, lose_localisation_for=args.lose_localisation_for, drop_hello=args.drop_hello,
        unknown_frames=args.unknown_frames, extra_fields=args.extra_fields, v1=args.v1,
    )
    if args.map_version is not None:
        cfg.map_version = args.map_version
    if cfg.v1 and cfg.key:
        raise SystemExit("--v1 has no keyed handshake (a 1.1 addition): drop --key")
    if not 0 < cfg.speed <= 10:
        raise SystemExit("--speed: more than 0 and at most 10 m/s")
    if cfg.map_version and not is_name(cfg.map_version):
        raise SystemExit("--map-version: 1-16 of A-Z a-z 0-9 _ - (section 4.2)")
    if not cfg.model or len(cfg.model) > 16 or any(not (0x20 <= ord(c) <= 0x7E) or c in RESERVED for c in cfg.model):
        raise SystemExit("--model: 1-16 printable ASCII characters without $ * , ! \\ ^ ~")
    names = {w.name for w in waypoints}
    for name in (cfg.dock, cfg.start, *cfg.blocked):
        if name is not None and name not in names:
            raise SystemExit(f"waypoint {name!r} is not in the map ({', '.join(sorted(names))})")
    return cfg


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    level = logging.WARNING if not args.verbose else logging.INFO
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    if args.verbose > 1:
        logging.getLogger("indep_robot.wire").setLevel(logging.DEBUG)
    cfg = build_config(args)
    if args.tcp and not cfg.key:
        print("warning: TCP without --key; the spec (section 1) requires the keyed handshake on TCP", file=sys.stderr)
    rng = random.Random(args.seed)
    fw = Firmware(cfg, time.monotonic(), rng=rng, nvram=Nvram(args.nvram))
    faults = Faults(args.corrupt, args.drop, args.dup, args.fault_direction)
    runner = Runner(fw, faults, rng, keyed=bool(cfg.key))
    if args.pty:
        announce = runner.open_pty(args.link)
    else:
        host, _, port = args.tcp.rpartition(":")
        bound = runner.listen_tcp(host.strip("[]") or "127.0.0.1", int(port))
        announce = f"socket://{bound[0]}:{bound[1]}"
    print(announce, flush=True)
    if args.console:
        runner.open_console()

    def stop(_signum: int, _frame: object) -> None:
        runner.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        runner.run(until=None if args.run_for is None else time.monotonic() + args.run_for)
    finally:
        runner.close()
        if args.link and os.path.islink(args.link):
            os.unlink(args.link)
        if args.verbose:
            print(f"stats: {dict(fw.stats)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
