"""A local PostgreSQL cluster in a folder (Debian's postgresql, no system service).

PostgreSQL refuses to run as root: when we are root, initdb and pg_ctl run as the
`postgres` user (`runuser -u postgres --`) on a folder it owns. The server listens on
127.0.0.1:<port> and on a unix socket in `<dir>/sock`; local connections are trusted
(the folder is private to the machine; a real province sets scram-sha-256, see docs).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path


class ClusterError(RuntimeError):
    """PostgreSQL could not be initialised, started or stopped (the message has its log)."""


def pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise ClusterError(f"{name} not found: install Debian's postgresql package (make setup)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_pg(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _chown_pg(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")


@dataclass
class Cluster:
    dir: Path
    port: int
    dbname: str = "province"

    @property
    def data(self) -> Path:
        return self.dir / "data"

    @property
    def sock(self) -> Path:
        return self.dir / "sock"

    @property
    def dsn(self) -> str:
        return f"host={self.sock} port={self.port} user=postgres dbname={self.dbname}"

    def _run(self, cmd: list[str], what: str) -> None:
        r = subprocess.run(_as_pg(cmd), capture_output=True, text=True)
        if r.returncode != 0:
            log = (self.dir / "postgres.log")
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise ClusterError(f"{what} failed: {r.stderr.strip() or r.stdout.strip()}\n{tail}")

    def init(self) -> None:
        """Create the folder and the cluster once (does nothing if it exists)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.sock.mkdir(exist_ok=True)
        _chown_pg(self.sock)
        if (self.data / "PG_VERSION").exists():
            return
        self.data.mkdir(exist_ok=True)
        os.chmod(self.data, 0o700)
        _chown_pg(self.data)
        log = self.dir / "postgres.log"
        log.touch()
        _chown_pg(log)
        self._run([pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                   "-E", "UTF8", "--locale=C.UTF-8"], "initdb")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists() and subprocess.run(
            _as_pg([pg_bin("pg_ctl"), "-D", str(self.data), "status"]), capture_output=True).returncode == 0

    def start(self, *, settings: dict[str, str] | None = None) -> None:
        opts = {"port": str(self.port), "unix_socket_directories": f"'{self.sock}'",
                "listen_addresses": "'127.0.0.1'", "max_connections": "50", "shared_buffers": "256MB",
                "max_wal_size": "2GB", "checkpoint_timeout": "15min", **(settings or {})}
        o = " ".join(f"-c {k}={v}" for k, v in opts.items())
        self._run([pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "postgres.log"),
                   "-o", o, "-w", "-t", "60", "start"], "pg_ctl start")
        self.create_db()

    def create_db(self) -> None:
        import psycopg

        with psycopg.connect(f"host={self.sock} port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.dbname,)).fetchone():
                conn.execute(f'CREATE DATABASE "{self.dbname}"')

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run([pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"], "pg_ctl stop")
