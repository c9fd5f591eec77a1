"""The `kiosk` command: a thin layer that parses arguments, calls the core and prints.

Subcommands live in `kiosk/commands/<area>.py`; each module defines
`register(subparsers)` that adds its commands (each sets `func(args, ctx) -> int`),
and may define `doctor(ctx) -> list[Check]` for `kiosk doctor`. Modules are found by
name, so areas (catalogue, queue, robot, voice, staff, dossiers) never edit this file.
Domain errors are printed as one plain line and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import pkgutil
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import kiosk.commands
from centre.config import Config, ConfigError, load_config
from centre.db import DatabaseError
from centre.text import storable


class CliError(Exception):
    """A command could not do what was asked; the message is shown to the user as is."""


@dataclass
class Check:
    """One line of `kiosk doctor`: a part of the system, whether it works, and what to do if not."""

    part: str
    ok: bool
    message: str

    def to_dict(self) -> dict:
        return {"part": self.part, "ok": self.ok, "message": self.message}


class Context:
    """What every command needs, created lazily: the config and the database."""

    def __init__(self, config_path: str | None):
        self.config_path = config_path
        self._config: Config | None = None
        self._db = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    @property
    def db(self):
        if self._db is None:
            from centre.db import open_db

            self._db = open_db(self.config.database_path)
        return self._db


def command_modules() -> list:
    """Every module under kiosk/commands, imported, in name order."""
    mods = []
    for info in sorted(pkgutil.iter_modules(kiosk.commands.__path__), key=lambda i: i.name):
        mods.append(importlib.import_module(f"kiosk.commands.{info.name}"))
    return mods


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that answers a missing COMMAND or ACTION with the list of them, not just
    "the following arguments are required" (sub-parsers inherit the class)."""

    def error(self, message: str):
        missing = message.removeprefix("the following arguments are required: ")
        if missing in ("COMMAND", "ACTION"):
            self.print_help(sys.stderr)
            self.exit(2, f"\n{self.prog}: give one of the {missing.lower()}s listed above "
                         f"(`{self.prog} {missing} --help` explains it)\n")
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kiosk",
        description="Offline kiosk, queue and guide robot for a ward public-administration service centre.",
    )
    parser.add_argument("--config", "-c", default=None, help="path of config.yaml (default: the project's own)")
    parser.add_argument("--verbose", "-v", action="store_true", help="log debugging detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for mod in command_modules():
        register: Callable | None = getattr(mod, "register", None)
        if register:
            register(sub)
    return parser


#: the usual "--json" switch of a sub-command (see `subcommand`)
JSON = ("--json", {"action": "store_true", "help": "print JSON"})


def subcommand(sub, name: str, func, help: str, *arguments):
    """Add sub-command `name` running `func(args, ctx)`; each argument is a tuple of flags,
    optionally ending with a dict of `add_argument` options."""
    p = sub.add_parser(name, help=help)
    for arg in arguments:
        flags, opts = (arg[:-1], arg[-1]) if isinstance(arg[-1], dict) else (arg, {})
        p.add_argument(*flags, **opts)
    p.set_defaults(func=func)
    return p


def print_json(obj) -> None:
    print(json.dumps(obj, ensure_ascii=False, default=str))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    ctx = Context(args.config)
    try:
        return int(args.func(args, ctx) or 0)
    except ConfigError as exc:
        print(f"config error:\n{exc}", file=sys.stderr)
        return 2
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except DatabaseError as exc:
        print(f"error: {exc} — check that the folder of paths.database exists and is writable", file=sys.stderr)
        return 2
    except sqlite3.Error as exc:
        print(f"error: database {ctx.config.database_path}: {exc}", file=sys.stderr)
        return 2
    except UnicodeEncodeError as exc:  # an argument with bytes that are not UTF-8 (argv's surrogate escapes)
        bad = [a for a in (argv if argv is not None else sys.argv[1:]) if not storable(a)]
        if not bad:
            raise
        print(f"error: {ascii(bad[0])[:80]} is not UTF-8 text ({exc.reason}): type it again, "
              "or check the terminal's character set", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130



def project_root() -> Path:
    return Path(__file__).resolve().parent.parent
