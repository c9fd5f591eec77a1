"""Running the staff server: in the foreground (`kiosk serve`) or in a thread beside the kiosk.

    handle = start_in_thread(cfg)      # returns once the server accepts connections
    print(handle.url); ...; handle.stop()
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass

import uvicorn

from centre.config import Config
from staff.app import create_app
from staff.httpguard import GuardedH11Protocol

log = logging.getLogger("staff.server")


class ServerError(RuntimeError):
    """The staff server could not start (port taken, bad address)."""


def free_port(host: str = "127.0.0.1") -> int:
    """A free TCP port on `host` (tests, benchmarks)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _config(cfg: Config, host: str | None, port: int | None, **app_kw) -> uvicorn.Config:
    app = create_app(cfg, **app_kw)
    # X-Forwarded-For only from configured proxies (uvicorn believes 127.0.0.1 by default).
    proxies = list(cfg.staff.trusted_proxies)
    return uvicorn.Config(app, host=host or cfg.staff.host, port=port or cfg.staff.port, log_level="warning",
                          access_log=False, timeout_graceful_shutdown=2, lifespan="on",
                          proxy_headers=bool(proxies), forwarded_allow_ips=",".join(proxies) or "",
                          http=GuardedH11Protocol)  # slow clients: a deadline on reading each request


def serve(cfg: Config, host: str | None = None, port: int | None = None, **app_kw) -> None:
    """Run the server in the foreground until Ctrl-C."""
    uvicorn.Server(_config(cfg, host, port, **app_kw)).run()


@dataclass
class ServerHandle:
    """A server running in a background thread."""

    server: uvicorn.Server
    thread: threading.Thread
    url: str

    @property
    def app(self):
        return self.server.config.loaded_app

    def stop(self, timeout: float = 10) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def start_in_thread(cfg: Config, host: str | None = None, port: int | None = None, *, timeout: float = 15,
                    **app_kw) -> ServerHandle:
    """Start the server in a daemon thread and wait until it listens; raise ServerError if it cannot."""
    config = _config(cfg, host, port, **app_kw)
    server = uvicorn.Server(config)
    errors: list[BaseException] = []

    def run():
        try:
            server.run()
        except BaseException as exc:  # reported to the caller below
            errors.append(exc)

    thread = threading.Thread(target=run, name="staff-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or errors:
            raise ServerError(f"the staff server could not start on {config.host}:{config.port}: "
                              f"{errors[0] if errors else 'see the log (port in use?)'}")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise ServerError(f"the staff server did not start within {timeout} s")
        time.sleep(0.02)
    shown = "127.0.0.1" if config.host in ("0.0.0.0", "::") else config.host
    return ServerHandle(server, thread, f"http://{shown}:{config.port}")
