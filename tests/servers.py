"""Start the register as a user would, for tests that drive it over HTTP."""

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
def demo_server(path: Path, people: int = 60, env: dict[str, str] | None = None,
                port: int | None = None) -> Iterator[str]:
    """`s117 demo` then `s117 serve` in `path` (embedded, with `env`'s S117_ variables,
    e.g. tests.auth_support.checked_env()); yields the server's base URL."""
    built = run("demo", "--people", str(people), cwd=path)
    assert built.returncode == 0, built.stderr
    port = port or free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("S117_")}
    environ.update(env or {})
    # The server's log goes to a file: a pipe nobody reads fills up after some hundreds of
    # access-log lines and then blocks the server mid-request.
    log = path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen([S117, "serve", "--port", str(port)], cwd=path,
                                  env=environ, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_answering(f"{url}/healthz", server, log, "s117 serve")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def wait_answering(url: str, process: subprocess.Popen[bytes], log: Path, what: str,
                   seconds: float = 60) -> None:
    """Until `url` answers; fails with the process's log if it dies, or after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"{what} did not answer in {seconds:.0f} s"
            time.sleep(0.3)
