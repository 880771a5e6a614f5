"""Run the Flask app under gunicorn from `s117 serve` (one command for both modes).

gunicorn may run several worker processes, and only one process can listen on the MLLP port:
so `s117 serve` starts `s117 mllp` as one child process of its own (same environment, stopped
with the server, and by the kernel if the server is killed) rather than in each worker."""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import logging
import secrets
import signal
import socket
import subprocess
import sys
import time
from typing import Any

from gunicorn.app.base import BaseApplication

from adapter import config, logs
from adapter.bootstrap import prepare_embedded, start_in_process_bus
from adapter.http.app import create_app, verifier_for
from register.store import database

log = logging.getLogger("s117.serve")


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: config.Settings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        # Runs in each worker after the fork, so the in-process bus's threads and database
        # connections belong to the worker that uses them.
        logs.configure("serve")
        app = create_app(self.settings)
        start_in_process_bus(app.extensions["s117"])
        return app


def _die_with_parent() -> None:
    """In the child: ask Linux to send SIGTERM when the server process dies, even by
    SIGKILL, so no listener is left holding the port."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def start_mllp(host: str, port: int) -> subprocess.Popen[bytes] | None:
    if not _port_free(host, port):
        log.error("MLLP port %s:%s is in use: HL7 v2 over MLLP is not served by this "
                  "server (HTTP, including POST /hl7v2, is)", host, port)
        return None
    listener = subprocess.Popen(
        [sys.executable, "-c", "from adapter.cli import main; main()", "mllp", "--host", host,
         "--port", str(port)], preexec_fn=_die_with_parent)
    _wait_listening(listener, host, port)
    return listener


def _wait_listening(listener: subprocess.Popen[bytes], host: str, port: int) -> None:
    """Until the MLLP listener accepts connections (or gives up), before the HTTP server
    starts: once /healthz answers, a trust's sender is not refused for having been quick
    (the README's examples send HL7 v2 as soon as the server answers)."""
    target = "127.0.0.1" if host in ("", "0.0.0.0") else host
    deadline = time.monotonic() + 60
    while listener.poll() is None and time.monotonic() < deadline:
        try:
            socket.create_connection((target, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)


def run(settings: config.Settings, *, host: str, port: int, workers: int,
        mllp_port: int = 0) -> None:
    if settings.auth == "off":
        log.warning("S117_AUTH=off: no authentication (allowed only with SQLite, for "
                    "development)")
    verifier_for(settings)  # a missing or unreadable key stops here, not in every worker
    if settings.auth == "off" and not settings.secret_key:
        # One key for this server's workers, so a page session works whichever answers.
        settings = dataclasses.replace(settings, secret_key=secrets.token_hex(32))
    # Prepare the embedded database once, before workers fork.
    prepare_embedded(settings, database.make_engine(settings.database_url))
    listener = start_mllp(host, mllp_port) if mllp_port else None
    try:
        # No gunicorn access log: its request line carries the query string, which can hold
        # an NHS number; the audit hook logs each request without it (adapter/http/audit.py).
        _Gunicorn(settings, {"bind": f"{host}:{port}", "workers": workers,
                             "timeout": 60}).run()
    finally:
        if listener is not None:
            listener.terminate()
            try:
                listener.wait(timeout=15)
            except subprocess.TimeoutExpired:
                listener.kill()
