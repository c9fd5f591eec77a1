"""`python -m province ...` (also `kiosk province ...`): run a local cluster and the hub, add centres.

    python -m province run [--dir var/province] [--pg-port 5433] [--host 127.0.0.1] [--port 8090]
    python -m province serve --dsn DSN [--host] [--port]
    python -m province add-centre ID [--name NAME] [--dsn DSN | --dir DIR --pg-port N] [--token-file F]
    python -m province migrate --dsn DSN
    python -m province add-user NAME --role province|ward [--centre ID ...] [--password-stdin] [--full-name N]
    python -m province list-users | set-password NAME [--password-stdin] | disable-user NAME | enable-user NAME

Users are the province office's people who read the dashboard and reports (province/users.py);
centres are the ward PCs that send events (province/auth.py).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from province.cluster import Cluster

DEFAULT_DIR = "var/province"
DEFAULT_PG_PORT = 5433


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="province_command", metavar="ACTION")
    sub.required = True
    run = sub.add_parser("run", help="start (and first create) a local PostgreSQL cluster in --dir, then the hub")
    _cluster_args(run)
    _http_args(run)
    serve = sub.add_parser("serve", help="serve the hub over an existing PostgreSQL database")
    serve.add_argument("--dsn", default=os.environ.get("PROVINCE_DSN"), help="libpq DSN (default $PROVINCE_DSN)")
    _http_args(serve)
    add = sub.add_parser("add-centre", help="register a ward centre (or give it a new token) and print its token")
    add.add_argument("centre_id")
    add.add_argument("--name", default="")
    add.add_argument("--dsn", default=os.environ.get("PROVINCE_DSN"))
    add.add_argument("--token-file", default=None, help="also write the token to this file (mode 600)")
    _cluster_args(add)
    mig = sub.add_parser("migrate", help="apply the hub's SQL migrations")
    mig.add_argument("--dsn", default=os.environ.get("PROVINCE_DSN"))
    _cluster_args(mig)
    stop = sub.add_parser("stop", help="stop the local cluster started by `run`")
    _cluster_args(stop)
    _user_parsers(sub)


def _user_parsers(sub) -> None:
    add = sub.add_parser("add-user", help="add a province office user of the dashboard and reports")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=("province", "ward"),
                     help="province: every ward; ward: only the --centre ids given")
    add.add_argument("--centre", action="append", default=[], metavar="ID",
                     help="a ward centre this ward user may see (repeat for several)")
    add.add_argument("--full-name", default="")
    add.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    _db_args(add)
    ls = sub.add_parser("list-users", help="list the hub's users, roles and wards")
    _db_args(ls)
    pw = sub.add_parser("set-password", help="give a user a new password (ends their sessions)")
    pw.add_argument("name")
    pw.add_argument("--password-stdin", action="store_true")
    _db_args(pw)
    for verb in ("disable", "enable"):
        p = sub.add_parser(f"{verb}-user", help=f"{verb} a user" + (" (ends their sessions)" if verb == "disable" else ""))
        p.add_argument("name")
        _db_args(p)


def _db_args(p) -> None:
    p.add_argument("--dsn", default=os.environ.get("PROVINCE_DSN"))
    _cluster_args(p)


def _cluster_args(p) -> None:
    p.add_argument("--dir", default=DEFAULT_DIR, help=f"cluster folder (default {DEFAULT_DIR})")
    p.add_argument("--pg-port", type=int, default=DEFAULT_PG_PORT)


def _http_args(p) -> None:
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8090)
    p.add_argument("--session-hours", type=float, default=8, help="how long a login lasts (default 8)")


def _dsn(args) -> str:
    if getattr(args, "dsn", None):
        return args.dsn
    cl = Cluster(Path(args.dir).resolve(), args.pg_port)
    if not cl.running():
        cl.init()
        cl.start()
    return cl.dsn


def _serve(dsn: str, host: str, port: int, session_hours: float = 8) -> int:
    import uvicorn

    from province.app import create_app
    from staff.httpguard import GuardedH11Protocol

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"province hub: http://{host}:{port}/  (database {dsn})", flush=True)
    uvicorn.run(create_app(dsn, session_hours=session_hours), host=host, port=port, log_level="warning", access_log=False,
                http=GuardedH11Protocol)  # slow clients: a deadline on reading each request
    return 0


def run(args) -> int:
    cmd = args.province_command
    if cmd == "stop":
        Cluster(Path(args.dir).resolve(), args.pg_port).stop()
        return 0
    if cmd == "serve":
        if not args.dsn:
            print("--dsn or $PROVINCE_DSN is needed", file=sys.stderr)
            return 2
        return _serve(args.dsn, args.host, args.port, args.session_hours)
    if cmd == "add-centre" and not (_centre_id_ok(args.centre_id) and _centre_name_ok(args.name)):
        return 2  # before any database is started or touched
    dsn = _dsn(args)
    if cmd == "run":
        return _serve(dsn, args.host, args.port, args.session_hours)
    from province.db import connect, migrate

    migrate(dsn)
    if cmd == "migrate":
        return 0
    if cmd != "add-centre":
        return _users(cmd, args, dsn)
    from province.auth import add_centre

    with connect(dsn, autocommit=True) as conn:
        token = add_centre(conn, args.centre_id, args.name)
    if args.token_file:
        path = Path(args.token_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(token + "\n", encoding="utf-8")
        os.chmod(path, 0o600)
        print(f"centre {args.centre_id}: token written to {path}")
    else:
        print(token)
    return 0


def _centre_name_ok(name: str | None) -> bool:
    """A ward's name goes to the dashboard and the Excel and CSV reports: no control or invisible
    characters (a NUL, a bidi override), as the ward's own config.yaml names."""
    from centre.text import unshowable

    bad = unshowable(name or "")
    if bad:
        print(f"add-centre: --name holds a control or invisible character ({bad}); retype the name", file=sys.stderr)
        return False
    return True


def _centre_id_ok(centre_id: str) -> bool:
    """Only ids a ward's config.yaml can send are registered (else the ward could never sync)."""
    from province.auth import BadCentreId, check_centre_id

    try:
        check_centre_id(centre_id)
    except BadCentreId as exc:
        print(f"add-centre: {exc}", file=sys.stderr)
        return False
    return True


class CliUserError(Exception):
    """A user command cannot be done as asked (the message says why)."""


def _read_password(args, name: str) -> str:
    from centre.terminal import PasswordInputError, read_new_password

    try:
        return read_new_password(name, args.password_stdin, " (10+ characters, not a common one)")
    except PasswordInputError as exc:
        raise CliUserError(str(exc)) from None


def _users(cmd: str, args, dsn: str) -> int:
    from province import users
    from province.db import connect

    try:
        with connect(dsn, autocommit=True) as conn:
            if cmd == "list-users":
                for u in users.list_users(conn):
                    state = "" if u.active else "  (disabled)"
                    print(f"{u.name}\t{u.role}\t{','.join(u.centres) or '*'}\t{u.full_name}{state}")
                return 0
            if cmd == "add-user":
                u = users.create_user(conn, args.name, args.role, _read_password(args, args.name),
                                      centres=args.centre, full_name=args.full_name)
                print(f"user {u.name} added: role {u.role}" + (f", wards {', '.join(u.centres)}" if u.centres else ""))
            elif cmd == "set-password":
                u = users.set_password(conn, args.name, _read_password(args, args.name))
                print(f"user {u.name}: password changed, sessions ended")
            else:
                u = users.set_active(conn, args.name, cmd == "enable-user")
                print(f"user {u.name}: {'enabled' if u.active else 'disabled, sessions ended'}")
    except (users.UserError, CliUserError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m province", description="Provincial hub")
    add_arguments(p)
    return run(p.parse_args(argv))
