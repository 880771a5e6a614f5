"""Running `s117` sub-commands as a user would (subprocesses), and a trust's MLLP client
(`hl7.client.MLLPClient`, the class behind the `mllp_send` tool) that resends what was not
accepted, as an integration engine does."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import hl7
from hl7.client import MLLPClient

from tests.e2e.test_cli import S117, free_port

__all__ = ["S117", "Engine", "Service", "ack_code", "free_port", "wait_for"]


def wait_for(check: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.1)


class Service:
    """One `s117 <args>` process, its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, name: str) -> None:
        self.args, self.env, self.cwd, self.name = args, env, cwd, name
        self.log = cwd / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("S117_")}
        environ.update(self.env)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen([S117, *self.args], cwd=self.cwd, env=environ,
                                            stdout=out, stderr=subprocess.STDOUT)
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_output(self, text: str, timeout: float = 30) -> None:
        def ready() -> bool:
            assert self.process is not None and self.process.poll() is None, \
                f"{self.name} exited:\n{self.output()[-3000:]}"
            return text in self.output()
        wait_for(ready, timeout, f"{self.name} to say {text!r}")

    def kill(self) -> None:
        """SIGKILL: no clean-up at all, as a crash."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.terminate()
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=10)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def ack_code(reply: bytes) -> str:
    text = reply.strip(b"\x0b\x1c\r").decode()
    return str(hl7.parse(text).segment("MSA")[1])


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


class Engine:
    """A trust integration engine's sender: one MLLP connection, each message sent until it
    is answered AA or AE (a content error is not resent); AR 207 (not stored) and lost
    connections are retried."""

    def __init__(self, port: int, timeout: float = 90) -> None:
        self.port = port
        self.timeout = timeout
        self.client: MLLPClient | None = None
        self.answers: dict[bytes, str] = {}
        self.retries = 0
        self.slowest = 0.0  # seconds from first sending a message to its final answer

    def send(self, message: bytes) -> str:
        started = time.monotonic()
        deadline = started + self.timeout
        while True:
            try:
                if self.client is None:
                    self.client = MLLPClient("127.0.0.1", self.port)
                    self.client.socket.settimeout(60)
                reply = self.client.send_message(message)
                if not reply:
                    raise ConnectionError("connection closed without an answer")
                code = ack_code(reply)
                if code in ("AA", "AE") or b"|207^" not in reply:
                    self.answers[message] = code
                    self.slowest = max(self.slowest, time.monotonic() - started)
                    return code
            except OSError:
                if self.client is not None:
                    self.client.close()
                self.client = None
            self.retries += 1
            assert time.monotonic() < deadline, "message never accepted"
            time.sleep(0.3)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
