"""What the outbound processes share: a name for this worker
(lease owner, relay lock holder, broker connection name), errors in one line, and running
loops until SIGTERM."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable

log = logging.getLogger("s117.outbound")


def short(error: BaseException) -> str:
    """An error in one line for logs and attempt records (driver messages run to pages)."""
    text = (str(error).strip().splitlines() or [""])[0][:300]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def process_name(role: str) -> str:
    return f"{role}@{socket.gethostname()}:{os.getpid()}"


def run_until_signalled(loops: list[Callable[[threading.Event], None]]) -> None:
    """Run each loop in its own thread until SIGTERM or SIGINT, then let them finish the
    batch in hand (a batch is one transaction: stopping mid-way loses nothing either)."""
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        log.info("signal %s: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    threads = [threading.Thread(target=loop, args=(stop,), daemon=True) for loop in loops]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        for thread in threads:
            thread.join(timeout=0.5)
        if stop.is_set():
            for thread in threads:
                thread.join(timeout=30)
            break
