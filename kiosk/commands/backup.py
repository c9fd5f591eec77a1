"""`kiosk backup` and `kiosk restore`: a copy of the centre's database, made while it runs.

The copy uses SQLite's online backup (never a plain file copy, which can miss the changes still
in the `-wal` file), then checks itself with `PRAGMA quick_check`. `kiosk restore FILE` checks the
file first, keeps a copy of the database it replaces, and writes the backup's pages into the
database file in place. config.yaml (settings, staff PIN) and the province token file are
plain files: the administrator copies them alongside (docs/deployment.md, Keep it healthy).
"""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime
from pathlib import Path

from kiosk.cli import Check, CliError

#: a newest backup older than this is reported by `kiosk doctor` (daily backups are the advice)
STALE_DAYS = 2


def register(sub) -> None:
    b = sub.add_parser("backup", help="copy the centre's database while it runs (daily backups)")
    b.add_argument("file", nargs="?", default=None,
                   help="where to write the copy (default: var/backups/centre-DATE-TIME.db; a folder: a new file in it)")
    b.add_argument("--keep", type=int, default=None, metavar="N",
                   help="then delete all but the newest N centre-*.db copies in that folder")
    b.set_defaults(func=cmd_backup)
    r = sub.add_parser("restore", help="put a backup made by `kiosk backup` back as the centre's database")
    r.add_argument("file", help="the backup file")
    r.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    r.set_defaults(func=cmd_restore)


def _stamp() -> str:
    return datetime.now().strftime("%Y-%m-%d-%H%M%S")


def _target(cfg, file: str | None) -> Path:
    if file is None:
        return cfg.data_dir / "backups" / f"centre-{_stamp()}.db"
    path = Path(file)
    # "/mnt/usb/new/" names a folder even before it exists (it was written as a file named "new")
    folder = path.is_dir() or file.endswith(("/", os.sep))
    return path / f"centre-{_stamp()}.db" if folder else path


def _copy(src: Path, dst: Path) -> None:
    """SQLite online backup of `src` into `dst` (pages written in place; readers keep working)."""
    with sqlite3.connect(src, timeout=30) as s, sqlite3.connect(dst, timeout=30) as d:
        s.backup(d)
    d.close()
    s.close()


def check_file(path: Path) -> str | None:
    """None when `path` is a sound centre database, else what is wrong with it (plain words)."""
    if not path.is_file():
        return f"{path} does not exist"
    try:
        with sqlite3.connect(path) as c:
            ok = c.execute("PRAGMA quick_check").fetchone()[0]
            tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        c.close()
    except sqlite3.DatabaseError as exc:
        return f"{path} is not a database ({exc})"
    if ok != "ok":
        return f"{path} is damaged ({ok})"
    if "tickets" not in tables and "procedures" not in tables:
        return f"{path} is a database, but not a centre's (no tickets, no procedures)"
    return None


def cmd_backup(args, ctx) -> int:
    cfg = ctx.config
    src = cfg.database_path
    if not src.is_file():
        raise CliError(f"there is no database yet at {src} (paths.database): nothing to back up")
    dst = _target(cfg, args.file)
    if dst.exists():
        raise CliError(f"{dst} already exists; give another file name, or a folder")
    if dst.resolve() == src.resolve():
        raise CliError("the backup cannot be the database itself; give another file name")
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        _copy(src, dst)
    except (sqlite3.Error, OSError) as exc:
        dst.unlink(missing_ok=True)
        raise CliError(f"could not copy {src} to {dst}: {exc}") from None
    problem = check_file(dst)
    if problem:
        raise CliError(f"the copy failed its check: {problem}; the database itself may be damaged — run `kiosk doctor`")
    print(f"backup written: {dst} ({dst.stat().st_size // 1024} KiB, checked)")
    if args.keep is not None:
        _prune(dst.parent, args.keep)
    print(f"keep it on another disk, with {cfg.source or 'config.yaml'}"
          + (f" and {cfg.path(cfg.province.token_file)}" if cfg.province.url else ""))
    return 0


def _prune(folder: Path, keep: int) -> None:
    """Delete all but the newest `keep` (at least 1) centre-*.db copies of `folder`."""
    copies = sorted(folder.glob("centre-*.db"), key=lambda p: p.stat().st_mtime)
    for old in copies[:-max(keep, 1)]:
        old.unlink()
        print(f"deleted the old copy {old.name}")


def _confirm(src: Path, db: Path) -> bool:
    import sys

    if not sys.stdin.isatty():
        raise CliError("no terminal to confirm on; add --yes to restore; nothing changed")
    answer = input(f"replace the database {db} with {src}? Stop the kiosk and the staff server first. [y/N] ")
    return answer.strip().lower() in ("y", "yes", "c", "có", "co")


def cmd_restore(args, ctx) -> int:
    cfg = ctx.config
    src, db = Path(args.file), cfg.database_path
    problem = check_file(src)
    if problem:
        raise CliError(f"{problem}; nothing changed")
    if db.exists() and src.resolve() == db.resolve():
        raise CliError("that file is the database itself; nothing changed")
    if not args.yes and not _confirm(src, db):
        print("nothing changed")
        return 1
    saved = None
    if db.is_file():
        saved = cfg.data_dir / "backups" / f"before-restore-{_stamp()}.db"
        saved.parent.mkdir(parents=True, exist_ok=True)
        _copy(db, saved)
    db.parent.mkdir(parents=True, exist_ok=True)
    try:
        with sqlite3.connect(src, timeout=30) as s, sqlite3.connect(db, timeout=30) as d:
            s.backup(d)
        d.close()
        s.close()
    except sqlite3.Error as exc:
        raise CliError(f"could not restore into {db}: {exc}"
                       + (f"; the previous database is kept in {saved}" if saved else "")) from None
    print(f"restored {db} from {src}" + (f"; the database it replaced is kept in {saved}" if saved else ""))
    print("start the kiosk and the staff server again, then run `kiosk doctor`")
    return 0


def doctor(ctx) -> list[Check]:
    """The newest backup in the default folder: none yet is advice, an old one a failure."""
    import time

    if ctx.config.centre.url:  # a second kiosk: the data lives on the staff server
        return []
    folder = ctx.config.data_dir / "backups"
    copies = sorted(folder.glob("centre-*.db"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
    if not copies:
        return [Check("backup", True, f"none in {folder} yet — schedule `kiosk backup` daily (docs/deployment.md)")]
    newest = copies[-1]
    age_days = (time.time() - newest.stat().st_mtime) / 86400
    if age_days > STALE_DAYS:
        return [Check("backup", False, f"newest {newest.name} is {age_days:.0f} days old — run `kiosk backup`, "
                                       "and check the daily job that should run it")]
    return [Check("backup", True, f"newest {newest.name} ({len(copies)} in {folder})")]
