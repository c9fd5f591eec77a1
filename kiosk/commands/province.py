"""`kiosk province ...`: the provincial hub (local PostgreSQL cluster, hub server, centre tokens).

A thin wrapper of `python -m province` (see province/cli.py and docs/province.md):
`kiosk province run`, `serve`, `add-centre ID --token-file F`, `migrate`, `stop`, and the
province office users of the dashboard: `add-user NAME --role province|ward [--centre ID ...]
[--password-stdin]`, `list-users`, `set-password NAME`, `disable-user NAME`, `enable-user NAME`.
"""

from __future__ import annotations

from kiosk.cli import CliError


def register(sub) -> None:
    from province.cli import add_arguments

    p = sub.add_parser("province", help="the provincial hub: run it, register ward centres, add dashboard users")
    add_arguments(p)
    p.set_defaults(func=cmd_province)


def cmd_province(args, ctx) -> int:
    from province.cli import run
    from province.cluster import ClusterError

    try:
        return run(args)
    except ClusterError as exc:
        raise CliError(str(exc)) from None
