"""`kiosk run`: the whole centre on one machine — staff server, robot (simulator), kiosk window.

- The staff server runs as a separate process (`kiosk serve`), sharing the database file
  (WAL), as DESIGN §2 says; its address is printed, and it is stopped with the kiosk.
- A robot whose port is "sim" gets the built-in simulator, started by the escort manager
  inside the kiosk process; its pseudo-terminal is printed.
- With no display, the command starts a virtual screen (Xvfb, the size of the configured
  orientation, so that full screen fills it) as its own child and says so: the kiosk then runs
  headless, e.g. for a demo through the staff pages or for tests.
- Stopping: Ctrl-C or SIGTERM closes the window, then the staff server and the virtual screen
  are stopped; if the kiosk process is killed outright, both children get SIGTERM from the
  kernel (PR_SET_PDEATHSIG). Nothing is left running.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
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


def start_xvfb(width: int, height: int, timeout: float = 15.0) -> subprocess.Popen:
    """Start Xvfb as a child on a free display of width×height and point DISPLAY at it.

    (It used to re-exec under `xvfb-run`, whose shell does not pass SIGTERM on: killing the
    kiosk's process left Xvfb, the kiosk and the staff server running. And a square 1920×1920
    screen made a full-screen landscape window draw only its middle band.)
    """
    xvfb = shutil.which("Xvfb")
    if not xvfb:
        raise CliError("no display and no Xvfb: install the xvfb package (make setup does) or run on a desktop")
    rfd, wfd = os.pipe()
    try:
        # own session: a Ctrl-C in the terminal reaches the kiosk, which then stops Xvfb itself
        proc = subprocess.Popen([xvfb, "-displayfd", str(wfd), "-screen", "0", f"{width}x{height}x24",
                                 "-nolisten", "tcp"], pass_fds=(wfd,), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True, preexec_fn=_die_with_parent)
    finally:
        os.close(wfd)
    number = b""
    deadline = time.monotonic() + timeout
    try:
        while not number.endswith(b"\n") and time.monotonic() < deadline:
            ready, _, _ = select.select([rfd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(rfd, 16) if ready else b""
            if not chunk:
                break
            number += chunk
    finally:
        os.close(rfd)
    if not number.strip().isdigit():
        stop_child(proc)
        raise CliError("no display and the virtual screen (Xvfb) did not start: run `Xvfb :99` to see why")
    os.environ["DISPLAY"] = f":{number.strip().decode()}"
    os.environ[XVFB_MARK] = "1"
    return proc


def stop_child(proc: subprocess.Popen | None, timeout: float = 5.0) -> None:
    """SIGTERM a child process, SIGKILL it if it has not ended after `timeout` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


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
    xvfb = staff = sync_agent = None
    if not _has_display():
        from kiosk.app import SIZES

        width, height = SIZES[args.orientation or cfg.kiosk.orientation]
        xvfb = start_xvfb(width, height)
        print(f"no display: the kiosk runs on a virtual screen (Xvfb {os.environ['DISPLAY']}, {width}x{height}); "
              "its window is not visible on this machine", flush=True)
    try:
        if cfg.centre.url:  # a kiosk on another PC: the queue and staff pages are that server's
            print(f"staff server: {cfg.centre.url}  (centre.url; no local staff server)", flush=True)
        elif not args.no_staff:
            staff = start_staff_server(ctx)
        from kiosk.commands.sync import start_agent

        sync_agent = start_agent(ctx)  # province.url set: send the outbox to the provincial hub
        from centre.catalogue_import import CatalogueError
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
        # SIGTERM (systemd, `kill`) closes the window the normal way, so the finally below runs;
        # through the clock, so that a SIGTERM during start-up waits for the window to be built
        from kivy.clock import Clock

        signal.signal(signal.SIGTERM, lambda signum, frame: Clock.schedule_once(lambda dt: app.stop(), 0))
        try:
            app.run()
        except KeyboardInterrupt:
            app.stop()
        except CatalogueError as exc:   # an empty database and no catalogue source to fill it
            problems = "; ".join(str(p) for p in exc.problems)
            raise CliError(f"the kiosk cannot start without a catalogue: {problems} "
                           f"(check paths.catalogue in the config, then `kiosk catalogue import`)") from None
        print("kiosk stopped", flush=True)
    finally:
        stop_child(sync_agent)
        stop_child(staff)
        stop_child(xvfb)
    return 0


def doctor(ctx):
    from kiosk.cli import Check

    cfg = ctx.config
    checks = []
    disp = _has_display()
    checks.append(Check("display", True, "display available" if disp else
                        "no display: `kiosk run` will use a virtual screen (Xvfb)" if shutil.which("Xvfb")
                        else "no display and no Xvfb: install the xvfb package"))
    # not a failure: a centre may keep the kiosk's staff screen locked on purpose
    checks.append(Check("staff PIN", True,
                        "set" if cfg.kiosk.staff_pin_hash else "not set: the kiosk's staff screen is locked — run `kiosk staff set-pin`"))
    return checks
