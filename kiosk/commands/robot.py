"""`kiosk robot ...`: run the simulator, ask a robot its status, send it somewhere, watch the wire.

    kiosk robot sim [--tcp PORT] [--link PATH] [--speed 0.7] [--drop 0.05] [--corrupt 0.1]
                    [--delay-ms 50] [--stall-after N] [--reboot-after N] [--block WAYPOINT]
    kiosk robot status [--json]          kiosk robot goto COUNTER|WAYPOINT [--no-wait]
    kiosk robot dock | cancel | reset    kiosk robot monitor [--seconds N]

Every command but `sim` talks to the robot configured in config.yaml (`--robot NAME` picks
one of several; `--port URL` overrides its port, e.g. the path `kiosk robot sim` printed).
A configured port "sim" starts a simulator inside the command. The kiosk holds the port
exclusively while it runs: stop it first, or point the kiosk at ``spy://PORT?file=LOG``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time

from kiosk.cli import Check, CliError, print_json


def register(sub) -> None:
    p = sub.add_parser("robot", help="the guide robot: simulator, status, goto, dock, cancel, monitor")
    rsub = p.add_subparsers(dest="robot_command", metavar="ACTION")
    rsub.required = True

    def common(sp):
        sp.add_argument("--robot", help="robot name from config.yaml (default: the first)")
        sp.add_argument("--port", help="pyserial URL or device path, overriding config.yaml")
        return sp

    s = rsub.add_parser("sim", help="run a simulated robot on a pty (prints its path) or a TCP port")
    s.add_argument("--robot", help="robot name whose dock to use (default: the first)")
    s.add_argument("--tcp", type=int, metavar="PORT", help="serve socket://127.0.0.1:PORT instead of a pty")
    s.add_argument("--link", metavar="PATH", help="stable path of the pty symlink (default: a temporary one)")
    s.add_argument("--speed", type=float, default=0.7, help="metres per second (default 0.7)")
    s.add_argument("--drop", type=float, default=0.0, help="share of frames dropped, both ways")
    s.add_argument("--corrupt", type=float, default=0.0, help="share of frames corrupted, both ways")
    s.add_argument("--delay-ms", type=float, default=0.0, help="delay before each frame the robot sends")
    s.add_argument("--stall-after", type=int, metavar="N", help="stop answering after N commands")
    s.add_argument("--reboot-after", type=int, metavar="N", help="reboot after the N-th command")
    s.add_argument("--block", action="append", default=[], metavar="WAYPOINT", help="path to it blocked half-way")
    s.add_argument("--seed", type=int, help="random seed for the faults")
    s.set_defaults(func=cmd_sim)

    st = common(rsub.add_parser("status", help="connect, say HELLO, print the robot's status"))
    st.add_argument("--json", action="store_true", help="one JSON object")
    st.set_defaults(func=cmd_status)

    g = common(rsub.add_parser("goto", help="send the robot to a counter (id) or a waypoint (name)"))
    g.add_argument("target", help="counter id (e.g. 3) or waypoint name (e.g. counter_3)")
    g.add_argument("--no-wait", action="store_true", help="return after the acknowledgement")
    g.set_defaults(func=cmd_goto)

    for verb, text in (("dock", "send the robot back to its dock"), ("cancel", "cancel the robot's current goal"),
                       ("reset", "clear a latched emergency stop (refused while the button is pressed)")):
        c = common(rsub.add_parser(verb, help=text))
        c.set_defaults(func=cmd_simple, verb=verb.upper())

    m = common(rsub.add_parser("monitor", help="print every decoded frame, both ways, live"))
    m.add_argument("--seconds", type=float, help="stop after this long (default: until Ctrl-C)")
    m.set_defaults(func=cmd_monitor)


# -- helpers -----------------------------------------------------------------------------


def _entry(cfg, name: str | None):
    robots = cfg.robot.robots
    if not robots:
        raise CliError("no robot in config.yaml (robot.robots is empty)")
    for r in robots:
        if name in (None, r.name):
            return r
    raise CliError(f"no robot named {name!r} in config.yaml (have {', '.join(r.name for r in robots)})")


@contextlib.contextmanager
def _link(args, ctx, *, wait: bool = True, **kw):
    """A started link to the chosen robot (and a simulator when its port is "sim")."""
    from robot.link import LinkConfigError, RobotLink
    from robot.sim import start_simulator

    cfg = ctx.config
    entry = _entry(cfg, getattr(args, "robot", None))
    port = getattr(args, "port", None) or entry.port
    sim = None
    if port == "sim":
        sim = start_simulator(cfg, entry.name)
        port = sim.port
        print(f"(port is 'sim': started a simulator on {port} for this command)", file=sys.stderr)
    link = RobotLink.from_config(cfg, entry, port=port, kiosk_name="CLI", **kw)
    try:
        try:
            link.start()
        except LinkConfigError as exc:
            raise CliError(str(exc)) from exc
        if wait and not link.wait_up(3 * cfg.robot.heartbeat_s + 1):
            raise CliError(f"robot {entry.name} does not answer: {link.last_error or 'no HELLO'}")
        yield link
    finally:
        link.stop()
        if sim:
            sim.stop()


def _ack_line(ack) -> str:
    return f"{ack.code.value}" + (f" ({ack.detail})" if ack.detail else "")


def _command(link, verb: str, *a: str):
    from robot.link import LinkError

    try:
        return link.command(verb, *a)
    except LinkError as exc:
        raise CliError(f"{verb}: {exc}") from exc


# -- commands ------------------------------------------------------------------------------


def cmd_sim(args, ctx) -> int:
    import logging

    from robot.sim import Faults, SimServer, make_robot

    cfg = ctx.config
    if cfg.robot.robots:
        _entry(cfg, args.robot)
    unknown = [w for w in args.block if w not in cfg.floor_map.waypoints]
    if unknown:
        raise CliError(f"--block {unknown[0]!r}: not in floor_map.waypoints")
    for name, v in (("--drop", args.drop), ("--corrupt", args.corrupt)):
        if not 0 <= v <= 1:
            raise CliError(f"{name} is a share between 0 and 1, not {v}")
    if args.speed <= 0:
        raise CliError("--speed must be more than 0")
    faults = Faults(drop=args.drop, corrupt=args.corrupt, delay_ms=args.delay_ms, stall_after=args.stall_after,
                    reboot_after=args.reboot_after, block=frozenset(args.block), seed=args.seed)
    logging.getLogger("robot").setLevel(logging.INFO)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO)
    for h in logging.getLogger().handlers:
        h.setLevel(logging.INFO)
    robot = make_robot(cfg, args.robot, faults=faults, speed_mps=args.speed)
    try:
        server = SimServer(robot, tcp_port=args.tcp, link_path=args.link, faults=faults).start()
    except OSError as exc:
        raise CliError(f"cannot serve the simulator: {exc}") from exc
    print(server.port, flush=True)
    print(f"simulated robot ready on {server.port} — point config.yaml robot.robots[].port there; Ctrl-C stops.\n"
          f"Type a line to act: {', '.join(SIM_CONTROLS)}", file=sys.stderr, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=_sim_console, args=(server, stop), daemon=True).start()
    try:
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


SIM_CONTROLS = ("estop", "release", "unplug", "replug", "reboot", "busy SECONDS", "stall", "unstall", "status",
                "quit")


def _sim_console(server, stop: threading.Event) -> None:
    """Lines on stdin act on the simulated robot (press the e-stop, pull the cable...)."""
    for line in sys.stdin:
        word, _, arg = line.strip().partition(" ")
        try:
            if word == "estop":
                server.press_estop()
            elif word == "release":
                server.release_estop()
            elif word == "unplug":
                server.unplug()
            elif word == "replug":
                server.replug()
            elif word == "reboot":
                server.reboot()
            elif word == "busy":
                server.occupy(float(arg or 30))
            elif word in ("stall", "unstall"):
                server.set_stalled(word == "stall")
            elif word == "quit":
                stop.set()
                return
            elif word == "status":
                pass
            elif word:
                print(f"unknown: {word!r}; try {', '.join(SIM_CONTROLS)}", file=sys.stderr)
                continue
        except ValueError:
            print(f"busy needs seconds, not {arg!r}", file=sys.stderr)
            continue
        r = server.robot
        print(f"state {r.state.value}, battery {r.battery:.0f} %, at ({r.x:.1f}, {r.y:.1f}) {r.at_waypoint()}, "
              f"e-stop {'latched' if r.estop_latched else 'clear'}, port {'in' if server.plugged else 'out'}",
              file=sys.stderr, flush=True)
    # end of input (e.g. started in the background): keep serving until Ctrl-C or SIGTERM


def cmd_status(args, ctx) -> int:
    from robot import protocol as p

    with _link(args, ctx) as link:
        _command(link, "STATQ")
        time.sleep(0.1)  # the STATUS frame follows the ack
        st = link.last_heartbeat
        hello = link.hello
        out = {
            "robot": link.name, "port": link.port, "link_up": link.up,
            "model": hello.model if hello else None, "boot_id": hello.boot_id if hello else None,
            "protocol": hello.version if hello else None,
        }
        if st is not None:
            out.update(state=st.state.value, battery=st.battery, goal_id=st.goal_id,
                       goal_status=st.goal_status.value, reason=st.reason)
            if hasattr(st, "x"):
                out.update(x=st.x, y=st.y, waypoint=st.waypoint, estop=st.estop)
        unknown = []
        for wp in ctx.config.floor_map.waypoints:
            ack = _command(link, "CHECK", wp)
            if ack.code is p.AckCode.UNSUPPORTED:
                unknown = None  # an older robot: cannot tell
                break
            if ack.code is not p.AckCode.ACCEPTED:
                unknown.append(wp)
        out["unknown_waypoints"] = unknown
        out["stats"] = link.stats.to_dict()
    if args.json:
        print_json(out)
    else:
        for k, v in out.items():
            if k != "stats":
                print(f"{k:<12} {v}")
        dropped = out["stats"]["dropped"]
        print(f"{'frames':<12} in {out['stats']['frames_in']}, out {out['stats']['frames_out']}, "
              f"retries {out['stats']['retries']}, dropped {dropped or 0}")
    return 0


def _target(cfg, text: str) -> str:
    if text.isdigit():
        try:
            return cfg.counter(int(text)).waypoint
        except KeyError as exc:
            raise CliError(f"no counter {text} in config.yaml") from exc
    if text not in cfg.floor_map.waypoints:
        raise CliError(f"{text!r} is neither a counter id nor a waypoint in floor_map.waypoints")
    return text


def cmd_goto(args, ctx) -> int:
    from robot import protocol as p
    from robot.link import GoalEnded, RobotUpdate

    wp = _target(ctx.config, args.target)
    done = threading.Event()
    result: dict = {}

    def on_event(ev):
        if isinstance(ev, RobotUpdate) and isinstance(ev.message, p.Feedback) and ev.message.goal_id == result.get("id"):
            print(f"  {ev.message.distance_m:6.1f} m to go, about {ev.message.eta_s:.0f} s", flush=True)
        if isinstance(ev, GoalEnded) and ev.goal_id == result.get("id"):
            result["end"] = ev
            done.set()

    with _link(args, ctx, on_event=on_event) as link:
        cid = link.new_id()
        result["id"] = cid
        from robot.link import LinkError

        try:
            ack = link.send("GOTO", wp, cmd_id=cid).result(10)
        except LinkError as exc:
            raise CliError(f"GOTO: {exc}") from exc
        print(f"GOTO {wp}: {_ack_line(ack)}", flush=True)
        if ack.code is not p.AckCode.ACCEPTED:
            return 1
        if args.no_wait:
            return 0
        while not done.wait(0.5):
            if not link.up:
                raise CliError(f"link lost: {link.last_error}")
        end = result["end"]
        print(f"{end.status.value}" + (f" ({end.reason})" if end.reason else ""))
        return 0 if end.status is p.GoalStatus.SUCCEEDED else 1


def cmd_simple(args, ctx) -> int:
    from robot import protocol as p

    with _link(args, ctx) as link:
        ack = _command(link, args.verb)
        print(f"{args.verb}: {_ack_line(ack)}")
        return 0 if ack.code is p.AckCode.ACCEPTED else 1


def cmd_monitor(args, ctx) -> int:
    from robot import protocol as p

    t0 = time.monotonic()
    stop = threading.Event()

    def show(direction: str, raw: bytes) -> None:
        try:
            f = p.decode_frame(raw)
            text = f"{f.type:<7} seq {f.seq:<3} " + ",".join(f.fields)
        except p.FrameError as exc:
            text = f"?? {exc}"
        who = "kiosk -> robot" if direction == "->" else "robot -> kiosk"
        try:
            print(f"{time.monotonic() - t0:8.3f}  {who}  {text}", flush=True)
        except BrokenPipeError:
            stop.set()

    # SIGTERM (timeout, systemd) ends the loop like Ctrl-C, so the link and a simulator started
    # for this command are closed and its temporary folder removed
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with _link(args, ctx, wait=False, on_frame=show) as link:
        try:
            while (args.seconds is None or time.monotonic() - t0 < args.seconds) and not stop.is_set():
                time.sleep(0.1)
        except KeyboardInterrupt:
            pass
        dropped = dict(link.stats.dropped)
    if dropped:
        print(f"dropped: {dropped}", file=sys.stderr)
    return 0


# -- doctor ------------------------------------------------------------------------------------


def doctor(ctx) -> list[Check]:
    """Check the robot settings without opening the port (the running kiosk may hold it)."""
    import serial

    cfg = ctx.config
    r = cfg.robot
    if not r.enabled or not r.robots:
        return [Check("robot", True, "no robot configured: the kiosk shows the floor map instead")]
    checks = []
    wps = cfg.floor_map.waypoints
    if r.meet_waypoint and r.meet_waypoint not in wps:
        checks.append(Check("robot", False, f"robot.meet_waypoint {r.meet_waypoint!r} is not in floor_map.waypoints"))
    for e in r.robots:
        part = "robot"
        if e.dock not in wps:
            checks.append(Check(part, False, f"{e.name}: dock {e.dock!r} is not in floor_map.waypoints"))
            continue
        if e.port == "sim":
            checks.append(Check(part, True, f"{e.name}: simulator (port 'sim'): set the real port when the robot arrives"))
            continue
        try:
            serial.serial_for_url(e.port, baudrate=e.baudrate, do_not_open=True)
        except (ValueError, serial.SerialException) as exc:
            checks.append(Check(part, False, f"{e.name}: port {e.port!r}: {exc} — fix robot.robots[].port in config.yaml"))
            continue
        if "://" not in e.port:
            if not os.path.exists(e.port):
                checks.append(Check(part, False, f"{e.name}: {e.port} does not exist — plug in the robot's USB cable"))
                continue
            if not os.access(e.port, os.R_OK | os.W_OK):
                checks.append(Check(part, False, f"{e.name}: {e.port}: no permission — add the kiosk user to 'dialout'"))
                continue
        checks.append(Check(part, True, f"{e.name}: {e.port} at {e.baudrate} baud"))
    return checks
