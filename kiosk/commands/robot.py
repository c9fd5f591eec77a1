"""`kiosk robot ...`: run the simulator, ask a robot its status, send it somewhere, watch it, test it.

    kiosk robot sim [--tcp PORT] [--link PATH] [--speed 0.7] [--drop 0.05] [--corrupt 0.1]
                    [--delay-ms 50] [--stall-after N] [--reboot-after N] [--block WAYPOINT] [--key KEY] ...
                    (`kiosk robot sim --help`: every fault, including other readings of the MAYs)
    kiosk robot status [--json]          kiosk robot goto COUNTER|WAYPOINT
    kiosk robot dock | cancel | reset    kiosk robot monitor [--seconds N] [--json] [--wire]
    kiosk robot conformance PORT [--key KEY] [--json] [--section NAME] [--quick] [--long]

`status`, `goto`, `dock`, `cancel`, `reset` and `monitor --wire` open the robot configured in
config.yaml (`--robot NAME` picks one of several; `--port URL` overrides its port, e.g. the
path `kiosk robot sim` printed); a configured port "sim" starts a simulator inside the
command. The kiosk holds the port exclusively while it runs: stop it first. `goto` and `dock`
stay until the robot's RESULT (heartbeats keep going: a robot that loses the kiosk's
heartbeat gives up its goal), and once they exit the robot, no longer hearing anyone, goes
back to its dock by itself within 3 s. There is no "--no-wait": to send the robot while the
kiosk runs, use the kiosk; the CLI never leaves a goal without a heartbeat behind it.

`monitor` (without --wire) watches a running kiosk without touching the port: it follows
the robot events file the kiosk's escort manager writes (robot/events.py), says (vi / en)
when no kiosk runs there or the kiosk stops, and keeps waiting; `--wire` says when the link
is lost or back. Exit status 1 when what it watched was down at the end.
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
    s.add_argument("--key", help="require the keyed handshake with this shared key (protocol section 13)")
    s.add_argument("--stuck-after", type=float, metavar="S", help="S seconds into each GOTO it stops moving "
                   "but still reports MOVING (a stall for the kiosk's progress watchdog)")
    s.add_argument("--visitor-lost-after", type=float, metavar="S", help="S seconds into each GOTO the visitor "
                   "stops following (FB WAITING,VISITOR_LOST, then ABORTED,VISITOR_LOST after 30 s)")
    s.add_argument("--battery", type=float, default=100.0, metavar="PCT", help="battery at start (default 100)")
    s.add_argument("--unlocalised", action="store_true", help="does not know where it is (empty x/y, GOTO DENIED)")
    s.add_argument("--empty-fields", action="store_true", help="leaves battery, eta, heading and max speed empty")
    s.add_argument("--chatter", action="store_true", help="also sends a vendor frame type (XDIAG) twice a second")
    s.add_argument("--drop-hello", action="store_true", help="the HELLO it sends after a reboot is lost")
    s.add_argument("--legacy", action="store_true", help="speak protocol 1.0 only (no 1.1 fields or commands)")
    s.add_argument("--map-version", default="", help="the map version it reports in HELLO")
    _misbehaviour_flags(s)
    s.set_defaults(func=cmd_sim)

    st = common(rsub.add_parser("status", help="connect, say HELLO, print the robot's status"))
    st.add_argument("--json", action="store_true", help="one JSON object")
    st.set_defaults(func=cmd_status)

    g = common(rsub.add_parser("goto", help="send the robot to a counter (id) or a waypoint (name)"))
    g.add_argument("target", help="counter id (e.g. 3) or waypoint name (e.g. counter_3)")
    g.set_defaults(func=cmd_goto)

    d = common(rsub.add_parser("dock", help="send the robot back to its dock and wait until it is docked"))
    d.set_defaults(func=cmd_goto, target=None)
    for verb, text in (("cancel", "cancel the robot's current goal"),
                       ("reset", "clear a latched emergency stop (refused while the button is pressed)")):
        c = common(rsub.add_parser(verb, help=text))
        c.set_defaults(func=cmd_simple, verb=verb.upper())

    m = common(rsub.add_parser("monitor", help="watch the running kiosk's robot events (--wire: every frame)"))
    m.add_argument("--seconds", type=float, help="stop after this long (default: until Ctrl-C)")
    m.add_argument("--json", action="store_true", help="one JSON object a line")
    m.add_argument("--last", type=int, default=10, metavar="N", help="show the last N events first (default 10)")
    m.add_argument("--wire", action="store_true", help="open the port and print every decoded frame, both ways "
                   "(only while the kiosk is stopped: it says HELLO, starting a new session)")
    m.set_defaults(func=cmd_monitor)

    w = rsub.add_parser("waypoints", help="print the centre's waypoint table for the robot vendor (name x y)")
    w.add_argument("--json", action="store_true", help="a JSON object {name: {x, y}}")
    w.set_defaults(func=cmd_waypoints)

    k = rsub.add_parser("conformance", help="check a robot against the protocol, section by section")
    k.add_argument("port", help="the robot's port: a device path, a pty or socket://host:port")
    k.add_argument("--robot", help="robot name in config.yaml whose dock and key to use (default: the first)")
    k.add_argument("--key", help="shared key for a keyed link (default: the robot's key in config.yaml)")
    k.add_argument("--section", action="append", metavar="NAME", help="run only these sections (repeatable)")
    k.add_argument("--quick", action="store_true", help="cancel the GOTO after its first feedback instead of "
                   "waiting for arrival")
    k.add_argument("--goal-timeout", type=float, default=120.0, metavar="S", help="longest wait for a goal (120)")
    k.add_argument("--long", action="store_true", help="also run the long checks (idle: an IDLE robot stays "
                   "put for 65 s of kiosk heartbeats, section 6.1)")
    k.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    k.set_defaults(func=cmd_conformance)


def _misbehaviour_flags(s) -> None:
    """The simulator's other faults (robot.sim.Faults): readings a vendor may take, and broken robots."""
    g = s.add_argument_group("other robots", "readings of the protocol's MAYs, and robots that break it "
                             "(to rehearse the kiosk and the conformance kit against them)")
    g.add_argument("--no-heartbeat", action="store_true", help="sends no HB (only STATUS, FB...): breaks 4.2")
    g.add_argument("--unknown-state", metavar="WORD", help="reports this state word instead of IDLE/DOCKED "
                   "(a later version's state, 4.4)")
    g.add_argument("--single-connection", action="store_true", help="TCP: one connection at a time and a silent "
                   "one never closed (the reference before round 11; breaks 13)")
    g.add_argument("--close-silent", type=float, metavar="S", help="TCP: closes a connection S seconds without "
                   "a frame (13: one connection at a time, S = 3)")
    g.add_argument("--close-on-reboot", action="store_true", help="TCP: closes every connection at REBOOT "
                   "(12.3 MAY)")
    g.add_argument("--quiet-to-strangers", action="store_true", help="TCP keyed: HB, STATUS and HELLO only to "
                   "an authenticated connection (13 MAY)")
    g.add_argument("--idle-returns", action="store_true", help="also drives home from IDLE after 60 s without "
                   "a command (breaks 6.1)")
    g.add_argument("--ignore-reboot", action="store_true", help="acknowledges REBOOT but never reboots "
                   "(breaks 12.3)")
    g.add_argument("--ignore-link-loss", action="store_true", help="goes on with its goal when the kiosk's "
                   "heartbeat stops (breaks 10)")


def _faults(args):
    """robot.sim.Faults from `kiosk robot sim`'s flags."""
    from robot.sim import Faults

    if args.close_silent is not None and args.close_silent <= 0:
        raise CliError("--close-silent must be more than 0 seconds")
    word = args.unknown_state
    if word is not None and not (0 < len(word) <= 17 and all(c.isupper() or c == "_" for c in word)):
        raise CliError(f"--unknown-state {word!r}: an upper-case word of at most 17 characters (4.4)")
    return Faults(drop=args.drop, corrupt=args.corrupt, delay_ms=args.delay_ms, stall_after=args.stall_after,
                  reboot_after=args.reboot_after, block=frozenset(args.block), seed=args.seed,
                  stuck_after_s=args.stuck_after, visitor_lost_after_s=args.visitor_lost_after,
                  drop_hello=args.drop_hello, chatter=args.chatter, empty_fields=args.empty_fields,
                  legacy=args.legacy, no_heartbeat=args.no_heartbeat, unknown_state=args.unknown_state or None,
                  single_connection=args.single_connection, close_silent_s=args.close_silent,
                  close_on_reboot=args.close_on_reboot, quiet_to_strangers=args.quiet_to_strangers,
                  idle_returns=args.idle_returns, ignore_reboot=args.ignore_reboot,
                  ignore_link_loss=args.ignore_link_loss)


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

    from robot.sim import SimServer, make_robot

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
    faults = _faults(args)
    logging.getLogger("robot").setLevel(logging.INFO)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO)
    for h in logging.getLogger().handlers:
        h.setLevel(logging.INFO)
    if args.key is not None and not 16 <= len(args.key) <= 64:
        raise CliError("--key: 16 to 64 characters")
    robot = make_robot(cfg, args.robot, faults=faults, speed_mps=args.speed, battery_pct=args.battery,
                       localised=not args.unlocalised, map_version=args.map_version, key=args.key)
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


SIM_CONTROLS = ("estop", "release", "unplug", "replug", "reboot", "busy SECONDS", "stall", "unstall", "stuck",
                "unstuck", "obstacle", "clear", "battery PCT", "status", "quit")


def _sim_actions(server) -> dict:
    return {
        "estop": server.press_estop, "release": server.release_estop, "unplug": server.unplug,
        "replug": server.replug, "reboot": server.reboot, "busy": lambda a: server.occupy(float(a or 30)),
        "stall": server.set_stalled, "unstall": lambda: server.set_stalled(False),
        "stuck": server.set_stuck, "unstuck": lambda: server.set_stuck(False),
        "obstacle": server.set_obstacle, "clear": lambda: server.set_obstacle(False),
        "battery": lambda a: server.set_battery(float(a)), "status": lambda: None,
    }


def _sim_console(server, stop: threading.Event) -> None:
    """Lines on stdin act on the simulated robot (press the e-stop, pull the cable...)."""
    actions = _sim_actions(server)
    for line in sys.stdin:
        word, _, arg = line.strip().partition(" ")
        if word == "quit":
            stop.set()
            return
        if not word:
            continue
        action = actions.get(word)
        if action is None:
            print(f"unknown: {word!r}; try {', '.join(SIM_CONTROLS)}", file=sys.stderr)
            continue
        try:
            action(arg) if word in ("busy", "battery") else action()
        except ValueError:
            print(f"{word} needs a number, not {arg!r}", file=sys.stderr)
            continue
        r = server.robot
        print(f"state {r.state.value}, battery {r.battery:.0f} %, at ({r.x:.1f}, {r.y:.1f}) {r.at_waypoint()}, "
              f"e-stop {'latched' if r.estop_latched else 'clear'}, port {'in' if server.plugged else 'out'}",
              file=sys.stderr, flush=True)
    # end of input (e.g. started in the background): keep serving until Ctrl-C or SIGTERM


#: How long `kiosk robot status` waits for the STATUS that answers its STATQ (the protocol's
#: answer time is 0.5 s; a loaded PC adds to it).
STATUS_WAIT_S = 2.0


def cmd_status(args, ctx) -> int:
    from robot import protocol as p

    with _link(args, ctx) as link:
        before = link.last_status
        _command(link, "STATQ")
        # The STATUS frame follows the ack: wait for it, not a fixed while (a heartbeat read
        # instead carries no position or e-stop; under load the STATUS came after 0.1 s).
        deadline = time.monotonic() + STATUS_WAIT_S
        while link.last_status is before and time.monotonic() < deadline:
            time.sleep(0.01)
        st = link.last_status if link.last_status is not before else link.last_heartbeat
        hello = link.hello
        out = {
            "robot": link.name, "port": link.port, "link_up": link.up,
            "model": hello.model if hello else None, "boot_id": hello.boot_id if hello else None,
            "protocol": hello.version if hello else None, "minor": hello.minor if hello else None,
            "capabilities": hello.capabilities if hello else None, "map_version": hello.map_version if hello else None,
        }
        if st is not None:
            out.update(state=str(st.state), battery=st.battery, goal_id=st.goal_id,
                       goal_status=str(st.goal_status), reason=st.reason)
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
    """GOTO (or DOCK when `args.target` is None) and wait for the RESULT, heartbeats going."""
    from robot import protocol as p
    from robot.link import GoalEnded, LinkError, RobotUpdate

    wp = _target(ctx.config, args.target) if args.target is not None else None
    verb, what = ("GOTO", (wp,)) if wp else ("DOCK", ())
    done = threading.Event()
    result: dict = {}

    def on_event(ev):
        m = getattr(ev, "message", None)
        if isinstance(ev, RobotUpdate) and isinstance(m, p.Feedback) and m.goal_id == result.get("id"):
            dist = "?" if m.distance_m is None else f"{m.distance_m:6.1f}"
            eta = "?" if m.eta_s is None else f"{m.eta_s:.0f}"
            why = "" if str(m.motion) == "MOVING" else f"  [{m.motion} {m.why}]"
            print(f"  {dist} m to go, about {eta} s{why}", flush=True)
        if isinstance(ev, GoalEnded) and ev.goal_id == result.get("id"):
            result["end"] = ev
            done.set()

    with _link(args, ctx, on_event=on_event) as link:
        cid = link.new_id()
        result["id"] = cid
        try:
            ack = link.send(verb, *what, cmd_id=cid).result(10)
        except LinkError as exc:
            raise CliError(f"{verb}: {exc}") from exc
        print(f"{verb}{' ' + wp if wp else ''}: {_ack_line(ack)}", flush=True)
        if ack.code is not p.AckCode.ACCEPTED:
            return 1
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
    """Follow the running kiosk's robot events; say plainly when the kiosk stops (or is not
    running) and keep waiting for it. Exit status 1 when the kiosk was not running at the end."""
    if args.wire:
        return _monitor_wire(args, ctx)
    from robot.events import default_path, last_id, read_since

    path = default_path(ctx.config)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"(robot events of the running kiosk, from {path}; Ctrl-C stops)", file=sys.stderr, flush=True)
    if not (ctx.config.robot.enabled and ctx.config.robot.robots):
        print("(robot.enabled: false or no robot in config.yaml: a kiosk with this config writes no robot events)",
              file=sys.stderr, flush=True)
    after = max(0, last_id(path) - max(0, args.last))
    watch = _KioskWatch(path, args.json)
    t0 = time.monotonic()
    try:
        while not stop.is_set() and (args.seconds is None or time.monotonic() - t0 < args.seconds):
            rows = read_since(path, after)
            for rid, at, ev in rows:
                after = rid
                _print_event(at, ev, args.json)
            watch.check()
            if not rows:
                stop.wait(0.2)
    except (KeyboardInterrupt, BrokenPipeError):
        pass
    return 0 if watch.running else 1


def _clock(at: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at)) if at else "?"


def _kiosk_state_text(st) -> tuple[str, str]:
    """(Vietnamese, English) of a kiosk's state (robot.events.WriterState) for the monitor."""
    at = _clock(st.since)
    wait_vi, wait_en = "đang chờ ki-ốt chạy lại", "waiting for it to start again"
    if st.state == "running":
        return f"ki-ốt đang chạy (từ {at})", f"the kiosk is running (since {at})"
    if st.state == "stopped":
        return f"ki-ốt đã dừng lúc {at} — {wait_vi}", f"the kiosk stopped at {at} — {wait_en}"
    if st.state == "gone":
        return (f"ki-ốt đã tắt đột ngột (tiến trình {st.pid} không còn; tin cuối lúc {at}) — {wait_vi}",
                f"the kiosk ended without stopping (process {st.pid} is gone; last heard at {at}) — {wait_en}")
    if st.state == "silent":
        return (f"ki-ốt không còn phản hồi từ {at} (bị treo?) — đang chờ",
                f"no sign of life from the kiosk since {at} (hung?) — waiting")
    return ("chưa có ki-ốt nào chạy với robot ở đây — đang chờ ki-ốt khởi động",
            "no kiosk with a robot has run here yet — waiting for one to start")


class _KioskWatch:
    """The monitor's view of the kiosk writing the events file: says when that changes."""

    EVERY_S = 1.0

    def __init__(self, path, as_json: bool):
        self.path, self.as_json = path, as_json
        self.state = None
        self._next = 0.0

    @property
    def running(self) -> bool:
        return self.state is not None and self.state.running

    def check(self) -> None:
        """Read the kiosk's state (at most once every EVERY_S); print a line when it changed."""
        from robot.events import writer_state

        if time.monotonic() < self._next:
            return
        self._next = time.monotonic() + self.EVERY_S
        st = writer_state(self.path)
        old, self.state = self.state, st
        if old is not None and (old.state, old.pid) == (st.state, st.pid):
            return
        vi, en = _kiosk_state_text(st)
        if old is None and st.running:  # running as expected: a note beside the header
            print(f"({vi} / {en})", file=sys.stderr, flush=True)
        elif self.as_json:
            print_json({"at": time.time(), "code": "KIOSK_" + st.state.upper(), "pid": st.pid, "since": st.since,
                        "message_vi": vi, "message": en})
        else:
            print(f"{time.strftime('%H:%M:%S')}  {vi} / {en}", flush=True)


def _print_event(at: float, ev: dict, as_json: bool) -> None:
    if as_json:
        print_json({"at": at, **ev})
        return
    code = ev.get("code", "?")
    skip = {"code", "robot", "counter_id", "ticket"}
    detail = ", ".join(f"{k}={v}" for k, v in ev.items() if k not in skip and v not in (None, ""))
    if code == "ROBOT_STATUS" and ev.get("link_up") is False:
        detail = f"mất liên lạc với robot / no link to the robot — {detail}"
    print(f"{time.strftime('%H:%M:%S', time.localtime(at))}  {ev.get('robot') or '-':<10} {code:<15} {detail}",
          flush=True)


def _monitor_wire(args, ctx) -> int:
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
    watch = _LinkWatch(t0, 3 * ctx.config.robot.heartbeat_s + 1)
    with _link(args, ctx, wait=False, on_frame=show, on_event=watch.on_event) as link:
        try:
            while (args.seconds is None or time.monotonic() - t0 < args.seconds) and not stop.is_set():
                time.sleep(0.1)
                watch.tick(link)
        except KeyboardInterrupt:
            pass
        dropped = dict(link.stats.dropped)
        up, error = link.up, link.last_error
    if dropped:
        print(f"dropped: {dropped}", file=sys.stderr)
    if not up:
        print(f"(không có liên lạc với robot / no link to the robot: {error or 'no HELLO'})", file=sys.stderr)
    return 0 if up else 1


class _LinkWatch:
    """`monitor --wire`: says when the link to the robot goes down (and it keeps trying) or comes back."""

    def __init__(self, t0: float, answer_s: float):
        self.t0, self.answer_s = t0, answer_s
        self.up: bool | None = None  # None: not yet heard
        self._warned = False

    def tick(self, link) -> None:
        """Say once that a robot not heard since the start is being waited for."""
        if self.up is None and not self._warned and time.monotonic() - self.t0 > self.answer_s:
            self._warned = True
            why = link.last_error or "no HELLO"
            self._say(f"robot không trả lời ({why}) — đang chờ", f"the robot does not answer ({why}) — waiting")

    def on_event(self, ev) -> None:
        from robot.link import LinkDown, LinkUp

        if isinstance(ev, LinkDown) and self.up:
            self.up = False
            self._say(f"mất liên lạc với robot ({ev.reason}) — đang chờ robot trả lời lại",
                      f"link to the robot lost ({ev.reason}) — waiting for it to answer again")
        elif isinstance(ev, LinkUp) and not self.up:
            if self.up is False:
                self._say("đã liên lạc lại với robot", "the link to the robot is back")
            elif self._warned:
                self._say("robot đã trả lời", "the robot answers now")
            self.up = True

    def _say(self, vi: str, en: str) -> None:
        try:
            print(f"{time.monotonic() - self.t0:8.3f}  {vi} / {en}", flush=True)
        except BrokenPipeError:
            pass


def cmd_waypoints(args, ctx) -> int:
    """The floor-map waypoints, in the map frame of docs/robot-protocol.md 7.1, for the vendor's map."""
    wps = ctx.config.floor_map.waypoints
    if args.json:
        print_json({n: {"x": w.x, "y": w.y} for n, w in wps.items()})
        return 0
    print("# centre waypoints: metres, origin bottom-left of the floor map, x right, y up")
    for name, w in wps.items():
        print(f"{name} {w.x:g} {w.y:g}")
    return 0


def cmd_conformance(args, ctx) -> int:
    import logging

    from robot.conformance import ALL_SECTIONS, SECTIONS, run_from_config

    cfg = ctx.config
    if cfg.robot.robots:
        _entry(cfg, args.robot)
    sections = tuple(args.section or SECTIONS)
    unknown = [s for s in sections if s not in ALL_SECTIONS]
    if unknown:
        raise CliError(f"--section {unknown[0]!r}: one of {', '.join(ALL_SECTIONS)}")
    logging.getLogger("robot").setLevel(logging.ERROR)
    kw = {"goal_timeout_s": args.goal_timeout, "quick": args.quick, "long": args.long}
    if args.key:
        kw["key"] = args.key
    try:
        report = run_from_config(cfg, args.port, robot=args.robot, sections=sections, **kw)
    except Exception as exc:  # pyserial: no such port, refused connection
        from robot.link import describe_open_error

        raise CliError(describe_open_error(args.port, exc)) from exc
    if args.json:
        print_json(report.to_dict())
    else:
        print(report.table())
        for sec in report.sections:
            for failure in sec.failures[2:]:
                print(f"  {sec.name}: {failure}")
    return 0 if report.passed else 1


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
                checks.append(Check(part, False, f"{e.name}: {e.port} does not exist — plug in the robot's USB cable "
                                    "(no robot in this centre: set robot.enabled: false)"))
                continue
            if not os.access(e.port, os.R_OK | os.W_OK):
                checks.append(Check(part, False, f"{e.name}: {e.port}: no permission — add the kiosk user to 'dialout'"))
                continue
        if e.port.startswith("socket://") and not e.key:
            checks.append(Check(part, False, f"{e.name}: {e.port} is a network port without a key — anyone on the "
                                f"network could command the robot: set robot.robots[].key (and the same key on the robot)"))
            continue
        checks.append(Check(part, True, f"{e.name}: {e.port} at {e.baudrate} baud" + (", keyed" if e.key else "")))
    return checks
