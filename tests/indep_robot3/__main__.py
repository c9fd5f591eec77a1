"""Command line: ``python -m tests.indep_robot3 --pty [--key KEY]`` or ``--tcp PORT --key KEY``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import world as W
from .robot import Robot
from .serve import Server, announce


def main(argv: list[str] | None = None) -> int:
    """Parse the options and serve the robot until killed."""
    p = argparse.ArgumentParser(prog="python -m tests.indep_robot3",
                                description="third independent guide-robot firmware")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--pty", action="store_true", help="serve on a pseudo-terminal")
    mode.add_argument("--tcp", type=int, metavar="PORT", help="listen on TCP (0: any free port)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--key", help="shared key of the keyed handshake (required on TCP)")
    p.add_argument("--link", help="also make this symlink to the pty")
    p.add_argument("--speed", type=float, default=W.DEFAULT_SPEED)
    p.add_argument("--battery", type=int, default=90)
    p.add_argument("--waypoints", type=Path, help="a `name x y` table (kiosk robot waypoints)")
    p.add_argument("--map-version", default=W.MAP_VERSION)
    p.add_argument("--close-on-reboot", action="store_true",
                   help="close TCP connections at REBOOT (12.3 MAY); default: keep them open")
    p.add_argument("--quiet-to-strangers", action="store_true",
                   help="send HB, STATUS and the boot HELLO to authenticated connections only "
                        "(13 MAY); default: to every connection")
    p.add_argument("--one-connection", action="store_true",
                   help="serve one TCP connection at a time, closed after 3 s of silence (13 MAY)")
    a = p.parse_args(argv)
    if a.tcp is not None and not a.key:
        p.error("on TCP the robot MUST require the keyed handshake (spec 1, 13): give --key")
    if a.key and not (16 <= len(a.key) <= 64):
        p.error("a key is 16-64 printable characters (spec 13)")
    table = W.load_waypoints(a.waypoints) if a.waypoints else None
    robot = Robot(time.monotonic(), key=a.key, speed=a.speed, battery=a.battery,
                  waypoints=table, map_version=a.map_version,
                  close_on_reboot=a.close_on_reboot, quiet_to_strangers=a.quiet_to_strangers)
    server = Server(robot, one_connection=a.one_connection)
    if a.pty:
        announce(f"PTY {server.open_pty(a.link)}")
    else:
        announce(f"TCP {server.listen_tcp(a.host, a.tcp)}")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
