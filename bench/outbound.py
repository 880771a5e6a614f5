"""Outbound benchmark (issue 5): how soon a committed change reaches rest-hook subscribers,
and how many notifications the relay and delivery worker fan out per second. Prints a table.

    python -m bench.outbound                                   # PostgreSQL + RabbitMQ
    python -m bench.outbound --database sqlite                 # embedded (no broker)
    python -m bench.outbound --subscribers 50 --rate 50 --seconds 30 --burst 2000

What runs is what production runs: `s117 relay` as its own process (outbox -> RabbitMQ with
publisher confirms -> Subscriptions -> rest-hook POSTs), a subscriber process serving every
subscriber's endpoint (werkzeug, threaded, HTTP/1.1 keep-alive), and this process applying
register commands through the service at a steady rate, one per transaction. Every
subscriber takes every event (no filter), the worst case for fan-out.

Phase 1 (latency): `--rate` changes per second for `--seconds`; for each event delivered,
commit (the outbox row's time) to the subscriber receiving it. Phase 2 (fan-out): `--burst`
changes committed as fast as the service goes, then events delivered per second until
every subscriber has every event. Times are wall clock on whatever else the machine does.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from adapter.cli.console import progress_bar
from bench import limits
from bench.core import AMQP, PG_ADMIN, prepare
from bench.memory import cpu_seconds, peak_mb
from mappings.fhir import subscription as mapping
from queues.outbound.endpoints import AllowList
from queues.outbound.manage import SubscriptionManager
from register import commands as c
from register.model import Address
from register.nhs_number import synthetic_numbers
from register.store.orm import OutboxRow
from register.store.subscription_tables import SubscriptionEventRow
from register.store.subscriptions import SubscriptionStore

S117 = str(Path(sys.executable).parent / "s117")
TOPIC = "https://fhir.s117-register.uk/SubscriptionTopic/s117-entitlement-change"
CONTENT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/" \
          "backport-payload-content"
AREAS = {"QGH": ("HR1 1AA", "Z10001"), "QOX": ("SN1 1AA", "Z20001"),
         "QR1": ("GL1 1AA", "Z30001")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def subscription(endpoint: str) -> dict[str, Any]:
    """Every event of the entitlement-change topic, id-only, to one endpoint."""
    return {"resourceType": "Subscription", "status": "requested", "reason": "benchmark",
            "criteria": TOPIC, "channel": {
                "type": "rest-hook", "endpoint": endpoint, "payload": "application/fhir+json",
                "_payload": {"extension": [{"url": CONTENT, "valueCode": "id-only"}]}}}


def detention(nhs: str, icb: str, ref: str) -> list[c.Command]:
    postcode, practice = AREAS[icb]
    admitted, left = datetime(2024, 2, 1, 10), datetime(2024, 5, 10, 15)
    return [c.Admit(command_id=f"bench-admit-{ref}", nhs_number=nhs, occurred_at=admitted,
                    trust_ods="R1A", stay_ref=ref, admitted_at=admitted, legal_status="03",
                    residence_before=Address(postcode=postcode), gp_practice=practice),
            c.Discharge(command_id=f"bench-discharge-{ref}", nhs_number=nhs,
                        occurred_at=left, trust_ods="R1A", stay_ref=ref, discharged_at=left)]


# -- the subscribers: one process, one endpoint per subscriber -----------------------------

def _serve(port: int, log_path: str) -> None:
    import logging

    from werkzeug.serving import WSGIRequestHandler, make_server
    from werkzeug.wrappers import Request, Response

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per POST otherwise
    WSGIRequestHandler.protocol_version = "HTTP/1.1"  # keep-alive, as real endpoints do
    lock = threading.Lock()
    log = open(log_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - process-long

    @Request.application
    def app(request: Request) -> Response:
        received = time.time()
        status = json.loads(request.get_data())["entry"][0]["resource"]
        numbers = [int(p["valueString"]) for item in status["parameter"]
                   if item["name"] == "notification-event" for p in item["part"]
                   if p["name"] == "event-number"]
        if numbers:
            with lock:
                log.write(json.dumps([request.path.rsplit("/", 1)[1], received, numbers])
                          + "\n")
        return Response("", status=200)

    make_server("127.0.0.1", port, app, threaded=True).serve_forever()


@dataclass
class Phase:
    name: str
    changes: int
    seconds: float
    events: int
    delivered: int  # event notifications received, counted per subscriber
    requests: int
    p50_ms: float
    p99_ms: float
    drained_seconds: float
    relay_peak_mb: float = 0.0
    relay_cpu_seconds: float = 0.0  # CPU the `s117 relay` process used in this phase
    # The limit (bench.limits): the same subscribers taking notifications POSTed straight
    # to them, a connection pool per subscriber, in the same run.
    bare_fanout_per_s: float = 0.0


def _percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _received(log_path: Path) -> list[tuple[str, float, list[int]]]:
    if not log_path.exists():
        return []
    return [tuple(json.loads(line)) for line in log_path.read_text().splitlines()  # type: ignore[misc]
            if line.strip()]


def run(url: str, amqp_url: str | None, subscribers: int, rate: float, seconds: float,
        burst: int, console: Console) -> list[Phase]:
    service, sessions, refdata = prepare(url)
    store = SubscriptionStore(sessions)
    # The bench's receiver is on 127.0.0.1: allow-listed, as an operator would for a
    # subscriber inside the network (queues/outbound/endpoints.py).
    manager = SubscriptionManager(store, amqp_url=None, users=None,
                                  kind_of=lambda c: o.kind if (o := refdata.orgs.get(c))
                                  else None, allowed=AllowList.parse("127.0.0.1"))
    workdir = Path(tempfile.mkdtemp(prefix="s117-bench-outbound-"))
    log_path = workdir / "received.jsonl"
    port = free_port()
    context = multiprocessing.get_context("spawn")
    receiver = context.Process(target=_serve, args=(port, str(log_path)), daemon=True)
    receiver.start()
    ids = {}
    for i in range(subscribers):
        spec = mapping.from_fhir(subscription(f"http://127.0.0.1:{port}/s/{i}"),
                                 datetime.now(UTC).replace(tzinfo=None))
        ids[manager.create(spec).subscription.id] = str(i)
    env = {k: v for k, v in os.environ.items() if not k.startswith("S117_")}
    env.update({"S117_DATABASE_URL": url, "S117_AUTH": "off" if url.startswith("sqlite")
                else "jwt", "S117_DELIVERY_THREADS": str(max(64, subscribers + 8)),
                "S117_SUBSCRIPTION_ALLOWED_HOSTS": "127.0.0.1"})
    if amqp_url:
        env["S117_AMQP_URL"] = amqp_url
        subprocess.run([S117, "queues", "declare", "--definitions",
                        str(workdir / "definitions.json")], env=env, check=True,
                       capture_output=True)
    relay = subprocess.Popen([S117, "relay"], env=env, stdout=subprocess.DEVNULL,
                             stderr=open(workdir / "relay.log", "w"))  # noqa: SIM115
    numbers = iter(synthetic_numbers())
    people = 0

    def commands(count: int) -> list[c.Command]:
        """Detentions then discharges (planned, started, ...) for new people."""
        nonlocal people
        made: list[c.Command] = []
        while len(made) < count:
            made += detention(next(numbers), ("QGH", "QOX", "QR1")[people % 3], f"B{people}")
            people += 1
        return made[:count]

    def wait_handshakes() -> None:
        deadline = time.monotonic() + 60
        while any(s.status != "active" for s in store.all()):
            if time.monotonic() > deadline:
                raise SystemExit("the subscribers' handshakes did not complete in 60 s")
            time.sleep(0.2)

    def phase(name: str, count: int, per_second: float | None) -> Phase:
        with sessions() as session:
            first_outbox = (session.scalar(select(OutboxRow.id).order_by(
                OutboxRow.id.desc()).limit(1)) or 0) + 1
        already = len(_received(log_path))
        cpu_before = cpu_seconds(relay.pid)
        started = time.perf_counter()
        with progress_bar() as bar:
            task = bar.add_task(f"{name}: committing {count} changes", total=count)
            for i, command in enumerate(commands(count)):
                if per_second:
                    pause = started + i / per_second - time.perf_counter()
                    if pause > 0:
                        time.sleep(pause)
                service.handle(command)
                bar.advance(task)
        committed = time.perf_counter()
        with sessions() as session:
            events = session.scalar(select(OutboxRow.id).order_by(OutboxRow.id.desc())
                                    .limit(1)) - first_outbox + 1
        wanted = events * subscribers
        with progress_bar() as bar:
            task = bar.add_task(f"{name}: delivering", total=wanted)
            while True:
                got = sum(len(n) for _, _, n in _received(log_path)[already:])
                bar.update(task, completed=min(got, wanted))
                if got >= wanted:
                    break
                if relay.poll() is not None:
                    raise SystemExit(f"s117 relay stopped; see {workdir / 'relay.log'}")
                time.sleep(0.2)
        drained = time.perf_counter()
        relay_cpu = cpu_seconds(relay.pid) - cpu_before
        received = _received(log_path)[already:]
        with sessions() as session:
            committed_at = {(sid, n): created.replace(tzinfo=UTC).timestamp()
                            for sid, n, created in session.execute(
                                select(SubscriptionEventRow.subscription_id,
                                       SubscriptionEventRow.event_number,
                                       OutboxRow.created_at)
                                .join(OutboxRow, OutboxRow.id == SubscriptionEventRow.outbox_id)
                                .where(OutboxRow.id >= first_outbox))}
        by_path = {v: k for k, v in ids.items()}
        latencies = [(at - committed_at[(by_path[path], n)]) * 1000
                     for path, at, ns in received for n in ns
                     if (by_path[path], n) in committed_at]
        return Phase(name, count, round(committed - started, 1), events,
                     sum(len(n) for _, _, n in received), len(received),
                     round(_percentile(latencies, 50), 1), round(_percentile(latencies, 99), 1),
                     round(drained - started, 1), relay_cpu_seconds=round(relay_cpu, 1))

    try:
        wait_handshakes()
        results = [phase(f"steady {rate:g}/s", int(rate * seconds), rate)]
        if burst:
            results.append(phase("burst", burst, None))
        relay_mb = peak_mb(relay.pid)
        # A notification's size without event numbers (the receiver logs none of these).
        blank = json.dumps({"resourceType": "Bundle", "type": "history", "entry": [
            {"resource": {"resourceType": "Parameters", "parameter": [],
                          "padding": "x" * 900}}]}).encode()
        bare, _ = limits.http_fanout([f"http://127.0.0.1:{port}/s/{i}"
                                      for i in range(subscribers)],
                                     max(10, burst // 10), blank)
        return [replace(r, relay_peak_mb=relay_mb, bare_fanout_per_s=round(bare, 1))
                for r in results]
    finally:
        relay.send_signal(signal.SIGTERM)
        try:
            relay.wait(timeout=30)
        except subprocess.TimeoutExpired:
            relay.kill()
        receiver.terminate()


def measure(database: str, subscribers: int, rate: float, seconds: float, burst: int, *,
            broker: bool = True, console: Console) -> tuple[list[Phase], str | None]:
    """`run` on a fresh database (and RabbitMQ virtual host), dropped afterwards; the
    phases and the broker URL used (None: no broker)."""
    amqp_url, vhost = None, None
    if database == "postgresql" and broker:
        vhost = f"s117_bench_{uuid.uuid4().hex[:8]}"
        subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True)
        subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*",
                        ".*", ".*"], check=True)
        amqp_url = f"{AMQP}/{vhost}"
    db = f"s117_bench_{uuid.uuid4().hex[:8]}"
    try:
        if database == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                return run(f"sqlite:///{tmp}/bench.db", None, subscribers, rate, seconds,
                           burst, console), None
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{db}"')
        return run(f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}", amqp_url,
                   subscribers, rate, seconds, burst, console), amqp_url
    finally:
        if database == "postgresql":
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        if vhost:
            subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--subscribers", type=int, default=50)
    parser.add_argument("--rate", type=float, default=50, help="changes per second")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--burst", type=int, default=2000, help="changes for phase 2 (0: skip)")
    parser.add_argument("--no-broker", action="store_true",
                        help="PostgreSQL without RabbitMQ (the relay records and delivers "
                             "only)")
    args = parser.parse_args()
    console = Console(width=160)
    phases, amqp_url = measure(args.database, args.subscribers, args.rate, args.seconds,
                               args.burst, broker=not args.no_broker, console=console)
    machine = (f"{platform.python_implementation()} {platform.python_version()}, "
               f"{os.cpu_count()} CPUs")
    mode = args.database + (" + RabbitMQ" if amqp_url else "")
    table = Table("phase", "changes", "commit s", "events", "notifications (events x "
                  "subscribers)", "POSTs", "commit -> delivered p50 ms", "p99 ms",
                  "all delivered after s", "notifications/s",
                  "limit: bare POST fan-out /s", "relay CPU s per 1,000 notifications",
                  title=f"s117 outbound, {mode}, {args.subscribers} rest-hook subscribers "
                        f"({machine}); target p99 < 1000 ms at 50 changes/s, >= 1,000 "
                        "notifications/s")
    for p in phases:
        table.add_row(p.name, f"{p.changes:,}", str(p.seconds), f"{p.events:,}",
                      f"{p.delivered:,}", f"{p.requests:,}", str(p.p50_ms), str(p.p99_ms),
                      str(p.drained_seconds),
                      f"{p.delivered / p.drained_seconds:,.0f}" if p.drained_seconds else "-",
                      f"{p.bare_fanout_per_s:,.0f}",
                      f"{1000 * p.relay_cpu_seconds / p.delivered:.2f}" if p.delivered else "-")
    console.print(table)


if __name__ == "__main__":
    main()
