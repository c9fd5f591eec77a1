"""`kiosk staff set-pin`: set the PIN of the kiosk's staff screen (stored hashed in config.yaml).

The PIN is asked twice (or read from stdin with --stdin), hashed with scrypt and a random
salt (`kiosk.controller.hash_pin`), and written into `kiosk.staff_pin_hash` of config.yaml by
a targeted edit of that one line: comments and every other setting stay as they are. The
edited file is validated before it replaces the old one.
"""

from __future__ import annotations

import getpass
import os
import re
import sys
from pathlib import Path

from kiosk.cli import CliError

_LINE = re.compile(r"^(?P<indent>[ \t]+)staff_pin_hash:[^\n#]*(?P<comment>#[^\n]*)?$", re.M)


def register(sub) -> None:
    staff = sub.choices.get("staff")
    if staff is None:
        staff = sub.add_parser("staff", help="the kiosk's staff screen")
        actions = staff.add_subparsers(dest="staff_command", metavar="ACTION")
        actions.required = True
    else:  # another area already defined `kiosk staff`: add our action to it
        actions = next(a for a in staff._actions if a.__class__.__name__ == "_SubParsersAction")
    p = actions.add_parser("set-pin", help="set the staff PIN of the kiosk (6-12 digits, not trivial, stored hashed)")
    p.add_argument("--stdin", action="store_true", help="read the PIN from the first line of stdin")
    p.set_defaults(func=cmd_set_pin)


def set_pin_in_config(path: Path, pin_hash: str) -> None:
    """Replace the value of kiosk.staff_pin_hash in config.yaml, keeping everything else."""
    from centre.config import parse_config

    text = path.read_text(encoding="utf-8")
    kiosk_at = re.search(r"^kiosk:\s*$", text, re.M)
    if kiosk_at is None:
        raise CliError(f"{path}: no 'kiosk:' section; add one (see the shipped config.yaml)")
    m = _LINE.search(text, kiosk_at.end())
    next_section = re.search(r"^\S", text[kiosk_at.end():], re.M)
    end = kiosk_at.end() + next_section.start() if next_section else len(text)
    if m is None or m.start() > end:
        new = text[:kiosk_at.end()] + f'\n  staff_pin_hash: "{pin_hash}"' + text[kiosk_at.end():]
    else:
        comment = f"  {m.group('comment')}" if m.group("comment") else ""
        new = text[:m.start()] + f'{m.group("indent")}staff_pin_hash: "{pin_hash}"{comment}' + text[m.end():]
    parse_config(new, base_dir=path.resolve().parent, source=path)  # never write a broken config
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(new, encoding="utf-8")
    os.replace(tmp, path)


def cmd_set_pin(args, ctx) -> int:
    from centre.pin import PinFormatError, hash_pin

    cfg = ctx.config
    path = Path(cfg.source) if cfg.source else None
    if path is None:
        raise CliError("the configuration was not loaded from a file")
    if args.stdin:
        pin = sys.stdin.readline().strip()
    else:
        try:
            if not sys.stdin.isatty():
                raise EOFError
            pin = getpass.getpass("new staff PIN (6-12 digits, not 123456 or 111111): ").strip()
            again = getpass.getpass("again: ").strip()
        except EOFError:
            raise CliError("no terminal to ask the PIN on; use --stdin; nothing changed") from None
        if again != pin:
            raise CliError("the two PINs differ; nothing changed")
    if not re.fullmatch(r"[0-9]*", pin):
        # str.isdigit() also takes '٣' or '３', which the kiosk's PIN pad cannot type
        raise CliError("the staff PIN must be digits 0-9 only (the kiosk's PIN pad has no others); nothing changed")
    try:
        pin_hash = hash_pin(pin)
    except PinFormatError as exc:
        raise CliError(f"{exc}; nothing changed") from None
    set_pin_in_config(path, pin_hash)
    print(f"staff PIN set in {path}; restart the kiosk to use it")
    return 0
