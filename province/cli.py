"""`python -m province ...` (also `kiosk province ...`): run a local cluster and the hub, add centres.

    python -m province run [--dir var/province] [--pg-port 5433] [--host 127.0.0.1] [--port 8090]
    python -m province serve --dsn DSN [--host] [--port]
    python -m province add-centre ID [--name NAME] [--dsn DSN | --dir DIR --pg-port N] [--token-file F]
    python -m province migrate --dsn DSN
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


def _cluster_args(p) -> None:
    p.add_argument("--dir", default=DEFAULT_DIR, help=f"cluster folder (default {DEFAULT_DIR})")
    p.add_argument("--pg-port", type=int, default=DEFAULT_PG_PORT)


def _http_args(p) -> None:
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8090)


def _dsn(args) -> str:
    if getattr(args, "dsn", None):
        return args.dsn
    cl = Cluster(Path(args.dir).resolve(), args.pg_port)
    if not cl.running():
        cl.init()
        cl.start()
    return cl.dsn


def _serve(dsn: str, host: str, port: int) -> int:
    import uvicorn

    from province.app import create_app

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"province hub: http://{host}:{port}/  (database {dsn})", flush=True)
    uvicorn.run(create_app(dsn), host=host, port=port, log_level="warning", access_log=False)
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
        return _serve(args.dsn, args.host, args.port)
    dsn = _dsn(args)
    if cmd == "run":
        return _serve(dsn, args.host, args.port)
    from province.db import connect, migrate

    migrate(dsn)
    if cmd == "migrate":
        return 0
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m province", description="Provincial hub")
    add_arguments(p)
    return run(p.parse_args(argv))
