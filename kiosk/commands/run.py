"""`kiosk run`: the whole centre on one machine — staff server, robot (simulator), kiosk window.

- The staff server runs as a separate process (`kiosk serve`), sharing the database file
  (WAL), as DESIGN §2 says; its address is printed, and it is stopped with the kiosk.
- A robot whose port is "sim" gets the built-in simulator, started by the escort manager
  inside the kiosk process; its pseudo-terminal is printed.
- With no display, the command re-runs itself under `xvfb-run` (a virtual screen) and says
  so: the kiosk then runs headless, e.g. for a demo through the staff pages or for tests.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

from kiosk.cli import CliError

XVFB_MARK = "KIOSK_UNDER_XVFB"


def register(sub) -> None:
    p = sub.add_parser("run", help="start the kiosk window, the staff server and the robot simulator")
    p.add_argument("--windowed", action="store_true", help="a normal window instead of full screen")
    p.add_argument("--orientation", choices=["landscape", "portrait"], default=None,
                   help="screen orientation (default: kiosk.orientation in config)")
    p.add_argument("--no-staff", action="store_true", help="do not start the staff server")
    p.set_defaults(func=cmd_run)


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _reexec_under_xvfb() -> None:
    xvfb = shutil.which("xvfb-run")
    if not xvfb:
        raise CliError("no display and no xvfb-run: install the xvfb package (make setup does) or run on a desktop")
    print("no display: starting the kiosk on a virtual screen (Xvfb, 1920x1920)", file=sys.stderr, flush=True)
    env = dict(os.environ, **{XVFB_MARK: "1"})
    argv = [xvfb, "-a", "-s", "-screen 0 1920x1920x24", sys.executable, "-m", "kiosk", *sys.argv[1:]]
    os.execve(xvfb, argv, env)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.3):
            return True
    except OSError:
        return False


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the kiosk process dies, however it dies (Linux)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def start_staff_server(ctx) -> subprocess.Popen | None:
    """`kiosk serve` in a child process; None (with a message) when the port is taken."""
    cfg = ctx.config
    host, port = cfg.staff.host, cfg.staff.port
    if _port_open(host, port):
        print(f"staff server: something already listens on {host}:{port}; using it", flush=True)
        return None
    cmd = [sys.executable, "-m", "kiosk"]
    if ctx.config_path:
        cmd += ["--config", str(ctx.config_path)]
    cmd += ["serve"]
    proc = subprocess.Popen(cmd, preexec_fn=_die_with_parent)
    print(f"staff server: http://{host}:{port}  (counter consoles, hall display, admin)", flush=True)
    return proc


def cmd_run(args, ctx) -> int:
    cfg = ctx.config
    if not _has_display():
        if os.environ.get(XVFB_MARK):
            raise CliError("still no display under xvfb-run: check that Xvfb can start")
        _reexec_under_xvfb()
    if os.environ.get(XVFB_MARK):
        print(f"virtual display {os.environ.get('DISPLAY')}: the kiosk window is not visible on this machine",
              flush=True)
    staff = None if args.no_staff else start_staff_server(ctx)
    try:
        from kiosk.app import create_app, make_escort

        def escort_factory(cfg, on_event):
            esc = make_escort(cfg, on_event)
            if esc is None:
                print("robot: none (guidance shows the floor map)", flush=True)
                return None
            for r in esc.manager.status().get("robots", []):
                sim = " (simulator)" if any(e.port == "sim" for e in cfg.robot.robots if e.name == r["name"]) else ""
                print(f"robot {r['name']}: {r.get('port')}{sim}", flush=True)
            return esc

        t0 = time.time()
        app = create_app(cfg, orientation=args.orientation, windowed=args.windowed, escort_factory=escort_factory)
        print(f"kiosk: {app.orientation_name}, {'windowed' if args.windowed else 'full screen'}"
              f" (started in {time.time() - t0:.1f}s); staff PIN {'set' if cfg.kiosk.staff_pin_hash else 'NOT set: kiosk staff set-pin'}",
              flush=True)
        app.run()
    finally:
        if staff is not None:
            staff.terminate()
            try:
                staff.wait(5)
            except subprocess.TimeoutExpired:
                staff.kill()
    return 0


def doctor(ctx):
    from kiosk.cli import Check

    cfg = ctx.config
    checks = []
    disp = _has_display()
    checks.append(Check("display", True, "display available" if disp else
                        "no display: `kiosk run` will use a virtual screen (xvfb-run)" if shutil.which("xvfb-run")
                        else "no display and no xvfb-run: install xvfb"))
    # not a failure: a centre may keep the kiosk's staff screen locked on purpose
    checks.append(Check("staff PIN", True,
                        "set" if cfg.kiosk.staff_pin_hash else "not set: the kiosk's staff screen is locked — run `kiosk staff set-pin`"))
    return checks
