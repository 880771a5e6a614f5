"""`s117 serve` on a demo register, started as the README tells a user to, for the end-to-end
tests of the FHIR API."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.e2e.test_cli import S117, free_port, run


@contextmanager
def demo_server(path: Path, people: int = 60) -> Iterator[str]:
    """The FHIR base URL of `s117 serve` on a fresh `s117 demo --people N` register."""
    assert run("demo", "--people", str(people), cwd=path).returncode == 0
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("S117_")}
    server = subprocess.Popen([S117, "serve", "--port", str(port)], cwd=path, env=environ,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=2).close()
                break
            except OSError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "s117 serve did not answer in 60 s"
                time.sleep(0.3)
        yield f"{url}/fhir"
    finally:
        server.terminate()
        server.wait(timeout=30)
