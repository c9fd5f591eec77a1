"""Commands about the installation itself: `kiosk config check` and `kiosk doctor`."""

from __future__ import annotations

import sqlite3

from centre.config import ConfigError
from kiosk.cli import Check, command_modules, print_json


def register(sub) -> None:
    p = sub.add_parser("config", help="check config.yaml")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION")
    csub.required = True
    chk = csub.add_parser("check", help="validate config.yaml and say what is wrong, with key and line")
    chk.set_defaults(func=cmd_config_check)

    d = sub.add_parser("doctor", help="check every part of the centre and say how to fix what is wrong")
    d.add_argument("--json", action="store_true", help="one JSON object per part")
    d.set_defaults(func=cmd_doctor)


def cmd_config_check(args, ctx) -> int:
    cfg = ctx.config  # raises ConfigError, printed by main()
    print(f"OK: {cfg.source} — {len(cfg.services)} services, {len(cfg.counters)} counters")
    return 0


def doctor(ctx) -> list[Check]:
    try:
        cfg = ctx.config
    except ConfigError as exc:
        return [Check("config", False, f"{exc} — fix config.yaml, then run `kiosk config check`")]
    checks = [Check("config", True, f"{cfg.source} is valid")]
    try:
        row = ctx.db.conn.execute("PRAGMA quick_check").fetchone()
        ok = row[0] == "ok"
        checks.append(Check("database", ok, f"{cfg.database_path}" + ("" if ok else f": {row[0]} — restore from backup")))
    except (sqlite3.Error, RuntimeError) as exc:
        checks.append(Check("database", False, f"{cfg.database_path}: {exc} — check the folder exists and is writable"))
    return checks


def cmd_doctor(args, ctx) -> int:
    checks: list[Check] = []
    mods = command_modules()
    mods.sort(key=lambda m: m.__name__ != __name__)  # config and database first
    for mod in mods:
        fn = getattr(mod, "doctor", None)
        if fn is None:
            continue
        try:
            checks.extend(fn(ctx))
        except Exception as exc:  # a broken check must not hide the others
            checks.append(Check(mod.__name__.rsplit(".", 1)[-1], False, f"check failed: {exc}"))
        if checks and checks[0].part == "config" and not checks[0].ok:
            break
    width = max((len(c.part) for c in checks), default=12)  # messages in one column, however long a part's name
    for c in checks:
        if args.json:
            print_json(c.to_dict())
        else:
            print(f"{'OK  ' if c.ok else 'FAIL'} {c.part:<{width}} {c.message}")
    return 0 if all(c.ok for c in checks) else 1
