"""Console input shared by the centre's command line (`kiosk users`) and the hub's (`kiosk province`).

A new password comes from the first line of stdin (for scripts: `--password-stdin`) or is asked
twice on the terminal without echo; never from an argument, where `ps` and shell history see it.
"""

from __future__ import annotations

import getpass
import sys


class PasswordInputError(ValueError):
    """No password could be read as asked (the message says why and what to do)."""


def read_new_password(name: str, from_stdin: bool, hint: str = "") -> str:
    """The new password for `name`: stdin's first line, or typed twice on the terminal."""
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise PasswordInputError("no password on stdin")
        return line
    if not sys.stdin.isatty():
        raise PasswordInputError("no terminal to ask the password on; use --password-stdin")
    first = getpass.getpass(f"password for {name}{hint}: ")
    if first != getpass.getpass("again: "):
        raise PasswordInputError("the two passwords differ")
    return first
