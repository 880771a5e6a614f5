"""Trust inbound benchmark (issue 4): HL7 v2 ADT over MLLP into the register, networked
(`s117 mllp` publishing with confirms to RabbitMQ, `s117 worker` processes applying to
PostgreSQL) or embedded (`s117 mllp` applying to SQLite before it answers). Prints one table.

    python -m bench.inbound                          # 4,000 messages, 2 workers, 50/s paced
    python -m bench.inbound --messages 400 --paced-seconds 5 --workers 1
    python -m bench.inbound --embedded

Two phases, on a fresh database and RabbitMQ virtual host:
1. throughput: `--connections` MLLP connections each send as soon as the previous message is
   answered (as an engine does); MLLP -> applied messages/s is counted from the first send to
   the moment the last message's commands are in the register's inbox; ACK latency p50/p99.
2. paced: one connection at `--rate` messages/s for `--paced-seconds`; for each message, the
   time from its AA to its commands being visible in the register (committed; the inbox is
   polled every 5 ms, so the figures include up to 5 ms of polling), p50/p99.

Each person is an A01 with a ZMH s3 segment (two commands) and an A03 (one). Times are wall
clock on whatever else the machine is doing; compare runs on the same machine only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from hl7.client import MLLPClient
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from bench.core import AMQP, PG_ADMIN, prepare
from bench.memory import peak_mb
from queues import topology
from queues.connection import connect
from register.nhs_number import synthetic_numbers
from register.store.orm import InboxRow

S117 = str(Path(sys.executable).parent / "s117")


def message(nhs: str, control: str, event: str, visit: str) -> bytes:
    at = "20250110100000"
    pv1 = f"PV1|1|I|WARD1||||||||||||||||{visit}" + "|" * 25 + at
    extra = "ZMH|3|20250110100000||||N" if event == "A01" else ""
    if event == "A03":
        pv1 += "|20250301120000"
    segments = [f"MSH|^~\\&|PAS|RLQ|S117|S117|{at}||ADT^{event}^ADT_A01|{control}|P|2.4",
                f"EVN||{at}", f"PID|1||{nhs}^^^NHS^NH||BENCH^PERSON||19800501|||"
                              "1 HIGH ST^^HEREFORD^^HR1 1AA^GBR^H", pv1]
    return ("\r".join(segments + ([extra] if extra else [])) + "\r").encode()


def messages(first: int, people: int, tag: str) -> list[tuple[str, bytes]]:
    numbers = synthetic_numbers()
    for _ in range(first):
        next(numbers)
    out = []
    for i, nhs in zip(range(people), numbers, strict=False):
        out.append((f"{tag}A{i}", message(nhs, f"{tag}A{i}", "A01", f"{tag}V{i}")))
        out.append((f"{tag}D{i}", message(nhs, f"{tag}D{i}", "A03", f"{tag}V{i}")))
    return out


def ms(samples: list[float], q: int) -> float:
    if len(samples) < 2:
        return samples[0] * 1000 if samples else float("nan")
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1] * 1000


class Stack:
    """A throwaway database (and vhost) with `s117 mllp` and workers running against it."""

    def __init__(self, embedded: bool, workers: int, tmp: Path) -> None:
        self.tmp, self.processes, self.roles = tmp, [], []
        self.name = f"s117_bench_{uuid.uuid4().hex[:8]}"
        if embedded:
            self.url = f"sqlite:///{tmp / 's117.db'}"
            env = {"S117_DATABASE_URL": self.url}
        else:
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{self.name}"')
            self.url = PG_ADMIN.rsplit("/", 1)[0].replace(
                "postgresql://", "postgresql+psycopg://") + f"/{self.name}"
            subprocess.run(["rabbitmqctl", "-q", "add_vhost", self.name], check=True)
            subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", self.name, "guest",
                            ".*", ".*", ".*"], check=True)
            self.amqp = f"{AMQP}/{urllib.parse.quote(self.name, safe='')}"
            env = {"S117_DATABASE_URL": self.url, "S117_AMQP_URL": self.amqp,
                   "S117_AUTH": "jwt", "S117_MLLP_SENDERS": "127.0.0.1=*"}
            connection = connect(self.amqp, "bench declare", give_up_after=30)
            topology.declare(connection.channel())
            connection.close()
        _, self.sessions, _ = prepare(self.url)
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("S117_")},
                    **env}
        self.port = self._free_port()
        self._start(["mllp", "--port", str(self.port)], "listening")
        for index in range(0 if embedded else workers):
            self._start(["worker", "--index", str(index), "--of", str(workers)], "consuming")
        self.embedded = embedded

    @staticmethod
    def _free_port() -> int:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def _start(self, args: list[str], ready: str) -> None:
        log = self.tmp / f"{args[0]}-{len(self.processes)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen([S117, *args], env=self.env, cwd=self.tmp, stdout=out,
                                       stderr=subprocess.STDOUT)
        self.processes.append(process)
        self.roles.append(f"s117 {args[0]}")
        deadline = time.monotonic() + 60
        while ready not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"s117 {args[0]} did not start: {log.read_text()}")
            time.sleep(0.1)

    def applied(self) -> int:
        with self.sessions() as session:
            return session.scalar(select(func.count()).select_from(InboxRow))

    def watch(self, prefix: str, seen: dict[str, datetime], stop: threading.Event) -> None:
        """Record when each message's first command becomes visible (committed) in the
        inbox, polling every few milliseconds: naive UTC, by control id."""
        pattern = f"hl7v2:RLQ:{prefix}%:0"
        while not stop.is_set():
            with self.sessions() as session:
                found = session.scalars(select(InboxRow.command_id)
                                        .where(InboxRow.command_id.like(pattern))).all()
            now = datetime.now(UTC).replace(tzinfo=None)
            for command_id in found:
                seen.setdefault(command_id.split(":")[2], now)
            time.sleep(0.005)

    def peak_memory(self) -> dict[str, float]:
        """Each process role's largest peak resident memory, MB."""
        out: dict[str, float] = {}
        for args, process in zip(self.roles, self.processes, strict=True):
            out[args] = max(out.get(args, 0.0), peak_mb(process.pid))
        return out

    def close(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=30)
        if not self.embedded:
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            subprocess.run(["rabbitmqctl", "-q", "delete_vhost", self.name], check=False)


def send(port: int, batch: list[tuple[str, bytes]], acks: dict[str, tuple[float, datetime]],
         latencies: list[float], rate: float | None = None) -> None:
    with MLLPClient("127.0.0.1", port) as client:
        started = time.perf_counter()
        for n, (control, raw) in enumerate(batch):
            if rate:
                time.sleep(max(0.0, started + n / rate - time.perf_counter()))
            sent = time.perf_counter()
            reply = client.send_message(raw)
            latencies.append(time.perf_counter() - sent)
            if b"MSA|AA|" not in reply:
                raise RuntimeError(f"not accepted: {reply!r}")
            acks[control] = (time.perf_counter(), datetime.now(UTC).replace(tzinfo=None))


def wait_applied(stack: Stack, commands: int, timeout: float = 600) -> float:
    deadline = time.monotonic() + timeout
    while stack.applied() < commands:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {stack.applied()} of {commands} commands applied")
        time.sleep(0.02)
    return time.perf_counter()


def run(*, embedded: bool = False, messages_count: int = 4000, connections: int = 4,
        workers: int = 2, rate: float = 50.0, paced_seconds: float = 20.0) -> dict[str, Any]:
    """Both phases on a fresh stack; the measures, and each process's peak memory (MB)."""
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(embedded, workers, Path(tmp))
        try:
            people = messages_count // 2
            batch = messages(0, people, "T")
            acks: dict[str, tuple[float, datetime]] = {}
            latencies: list[float] = []
            shares = [batch[i::connections] for i in range(connections)]
            start = time.perf_counter()
            threads = [threading.Thread(target=send, args=(stack.port, share, acks, latencies))
                       for share in shares]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            sent = time.perf_counter()
            done = wait_applied(stack, people * 3)

            paced_people = int(rate * paced_seconds) // 2
            paced = messages(people + 10, paced_people, "P")
            paced_acks: dict[str, tuple[float, datetime]] = {}
            paced_latencies: list[float] = []
            seen: dict[str, datetime] = {}
            stop = threading.Event()
            watcher = threading.Thread(target=stack.watch, args=("P", seen, stop))
            watcher.start()
            send(stack.port, paced, paced_acks, paced_latencies, rate=rate)
            wait_applied(stack, people * 3 + paced_people * 3)
            time.sleep(0.05)
            stop.set()
            watcher.join()
            # Committed before the AA reached the sender (embedded mode always) counts as 0.
            lag = [max(0.0, (seen[c] - at).total_seconds())
                   for c, (_, at) in paced_acks.items() if c in seen]
            memory = stack.peak_memory()
        finally:
            stack.close()
    return {"mode": "embedded" if embedded else "networked", "messages": len(batch),
            "connections": connections, "workers": 0 if embedded else workers,
            "accepted_per_s": len(batch) / (sent - start),
            "applied_per_s": len(batch) / (done - start),
            "ack_p50_ms": ms(latencies, 50), "ack_p99_ms": ms(latencies, 99),
            "paced_rate": rate, "paced_seconds": paced_seconds,
            "paced_ack_p99_ms": ms(paced_latencies, 99),
            "paced_applied_p50_ms": ms(lag, 50), "paced_applied_p99_ms": ms(lag, 99),
            "peak_memory_mb": memory}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=4000, help="throughput phase size")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="s117 worker processes")
    parser.add_argument("--rate", type=float, default=50.0, help="paced phase, messages/s")
    parser.add_argument("--paced-seconds", type=float, default=20.0)
    parser.add_argument("--embedded", action="store_true", help="SQLite, no broker")
    args = parser.parse_args()
    found = run(embedded=args.embedded, messages_count=args.messages,
                connections=args.connections, workers=args.workers, rate=args.rate,
                paced_seconds=args.paced_seconds)
    mode = "embedded (SQLite, applied before AA)" if args.embedded else \
        "networked (RabbitMQ, PostgreSQL)"
    table = Table(title="HL7 v2 inbound: MLLP -> register")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in (
            ("mode", mode), ("messages (throughput phase)", f"{found['messages']:,}"),
            ("MLLP connections", str(args.connections)),
            ("s117 worker processes", "-" if args.embedded else str(args.workers)),
            ("MLLP -> AA (durable), messages/s", f"{found['accepted_per_s']:,.0f}"),
            ("MLLP -> applied, messages/s", f"{found['applied_per_s']:,.0f}"),
            ("ACK latency p50 ms", f"{found['ack_p50_ms']:.1f}"),
            ("ACK latency p99 ms", f"{found['ack_p99_ms']:.1f}"),
            ("paced rate, messages/s", f"{args.rate:g} for {args.paced_seconds:g} s"),
            ("paced ACK latency p99 ms", f"{found['paced_ack_p99_ms']:.1f}"),
            ("paced ACK -> applied p50 ms", f"{found['paced_applied_p50_ms']:.1f}"),
            ("paced ACK -> applied p99 ms", f"{found['paced_applied_p99_ms']:.1f}"),
            *((f"peak memory {name}, MB", f"{mb:,.0f}")
              for name, mb in found["peak_memory_mb"].items())):
        table.add_row(name, value)
    Console().print(table)


if __name__ == "__main__":
    main()
