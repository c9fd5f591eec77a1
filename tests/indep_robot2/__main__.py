"""Run the firmware: `python -m tests.indep_robot2 --pty [--link PATH] [--key KEY]` or `--tcp PORT --key KEY`."""

from __future__ import annotations

import argparse
import sys

from .robot import Robot
from .transport import serve_pty, serve_tcp


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.indep_robot2")
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--pty", action="store_true", help="serve on a new pty (prints its path)")
    mode.add_argument("--tcp", type=int, metavar="PORT", help="listen on TCP (needs --key)")
    ap.add_argument("--link", help="pty: also make this symlink to the serial end")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--key", help="shared key (16-64 characters), required on TCP")
    ap.add_argument(
        "--keep-auth-on-hello",
        action="store_true",
        help="the first reading of section 13 (before its 2026-12-07 clarification): a HELLO "
        "leaves an authenticated link authenticated; the kit rejects it",
    )
    args = ap.parse_args(argv)
    if args.key is not None and not 16 <= len(args.key) <= 64:
        ap.error("the key must have 16-64 characters")
    if args.tcp is not None and not args.key:
        ap.error("on TCP the robot must require the keyed handshake: give --key")
    robot = Robot(key=args.key, hello_clears_auth=not args.keep_auth_on_hello)
    try:
        if args.pty:
            serve_pty(robot, args.link, key=bool(args.key))
        else:
            serve_tcp(robot, args.tcp, args.host)
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
