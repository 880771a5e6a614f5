"""What the stack itself allows on this machine, measured in the same run as the register's
figures (issue 22), so each figure can be printed beside its limit with the ratio:

- `pg_commands`: pgbench running a command-shaped transaction (select the person for update,
  update it, insert a history row, insert an outbox row with 1 KB of JSON), one command per
  transaction and `per_transaction` commands per transaction, `clients` at once;
- `amqp_publish` / `amqp_consume`: pika publishing persistent 1 KB messages to a quorum queue
  with publisher confirms `window` at a time, and consuming them with prefetch 100;
- `bare_read` (bench/bare_read.py): the same rows read by key from the same database by a
  bare Flask + SQLAlchemy app under gunicorn with the register's worker count;
- `http_fanout`: the same notifications POSTed straight to the same subscribers, with a
  connection pool per subscriber.

    python -m bench.limits          # the database and broker limits alone, briefly
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

import pika
import psycopg
import requests
from rich.console import Console

from bench.core import AMQP, PG_ADMIN

BODY = b"x" * 1024
SCHEMA = """
CREATE TABLE IF NOT EXISTS limit_person (id int PRIMARY KEY, version int NOT NULL,
                                         facts jsonb NOT NULL);
CREATE TABLE IF NOT EXISTS limit_history (id bigserial PRIMARY KEY, person_id int NOT NULL,
                                          recorded_at timestamp NOT NULL, detail text);
CREATE TABLE IF NOT EXISTS limit_outbox (id bigserial PRIMARY KEY, person_id int NOT NULL,
                                         created_at timestamp NOT NULL, payload jsonb NOT NULL);
TRUNCATE limit_person, limit_history, limit_outbox;
INSERT INTO limit_person SELECT g, 1, jsonb_build_object('facts', repeat('f', 1000))
FROM generate_series(1, 100000) AS g;
"""
COMMAND = """\\set id{n} random(1, 100000)
SELECT version, facts FROM limit_person WHERE id = :id{n} FOR UPDATE;
UPDATE limit_person SET version = version + 1 WHERE id = :id{n};
INSERT INTO limit_history (person_id, recorded_at, detail) VALUES (:id{n}, now(), 'changed');
INSERT INTO limit_outbox (person_id, created_at, payload)
  VALUES (:id{n}, now(), jsonb_build_object('event', 'planned', 'body', repeat('x', 1000)));
"""


def pg_commands(dsn: str, *, per_transaction: int = 1, clients: int = 2,
                seconds: int = 10) -> float:
    """Command-shaped transactions by pgbench on the database `dsn`: commands/s."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
    script = "BEGIN;\n" + "".join(COMMAND.format(n=i) for i in range(per_transaction)) + \
        "END;\n"
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as file:
        file.write(script)
    try:
        out = subprocess.run(
            [shutil.which("pgbench") or "pgbench", "-n", "-M", "prepared", "-c", str(clients),
             "-j", str(clients), "-T", str(seconds), "-f", file.name, dsn],
            capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(file.name)
    found = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    if found is None:
        raise RuntimeError(f"pgbench printed no rate: {out[-500:]}")
    return float(found.group(1)) * per_transaction


def _queue(channel: pika.channel.Channel | pika.adapters.blocking_connection.BlockingChannel,
           name: str) -> None:
    channel.queue_declare(name, durable=True, arguments={"x-queue-type": "quorum"})


def amqp_publish(url: str, queue: str, messages: int, window: int = 100) -> float:
    """Persistent messages with publisher confirms, at most `window` unconfirmed: msgs/s.
    (The asynchronous adapter: pika's blocking channel waits for each confirm in turn.)"""
    state = {"sent": 0, "confirmed": 0, "started": 0.0, "finished": 0.0}
    props = pika.BasicProperties(delivery_mode=2)

    def send(channel: pika.channel.Channel) -> None:
        while state["sent"] - state["confirmed"] < window and state["sent"] < messages:
            channel.basic_publish("", queue, BODY, props)
            state["sent"] += 1

    def on_confirm(frame: pika.frame.Method, channel: pika.channel.Channel,
                   connection: pika.SelectConnection) -> None:
        method = frame.method
        tag = method.delivery_tag
        state["confirmed"] = tag if method.multiple else max(state["confirmed"], tag)
        if state["confirmed"] >= messages:
            state["finished"] = time.perf_counter()
            connection.close()
        else:
            send(channel)

    def on_channel(channel: pika.channel.Channel, connection: pika.SelectConnection) -> None:
        def start(_: object) -> None:
            state["started"] = time.perf_counter()
            send(channel)
        channel.confirm_delivery(lambda frame: on_confirm(frame, channel, connection),
                                 callback=lambda _: start(None))

    connection = pika.SelectConnection(
        pika.URLParameters(url),
        on_open_callback=lambda c: c.channel(on_open_callback=lambda ch: on_channel(ch, c)),
        on_close_callback=lambda c, reason: c.ioloop.stop())
    connection.ioloop.start()
    if not state["finished"]:
        raise RuntimeError("the broker closed the connection before confirming everything")
    return messages / (state["finished"] - state["started"])


def amqp_consume(url: str, queue: str, messages: int, prefetch: int = 100) -> float:
    """Consuming with manual acks (every 50, `multiple`), prefetch 100: msgs/s."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.basic_qos(prefetch_count=prefetch)
    started, taken = time.perf_counter(), 0
    for method, _, _ in channel.consume(queue, inactivity_timeout=10):
        if method is None:
            break
        taken += 1
        if taken % 50 == 0 or taken == messages:
            channel.basic_ack(method.delivery_tag, multiple=True)
        if taken == messages:
            break
    elapsed = time.perf_counter() - started
    channel.cancel()
    connection.close()
    return taken / elapsed


def amqp_rates(vhost_url: str, messages: int = 10_000) -> tuple[float, float]:
    """(publish msgs/s, consume msgs/s) on a queue of its own, deleted after."""
    queue = f"s117.bench.limit.{uuid.uuid4().hex[:8]}"
    connection = pika.BlockingConnection(pika.URLParameters(vhost_url))
    _queue(connection.channel(), queue)
    try:
        published = amqp_publish(vhost_url, queue, messages)
        consumed = amqp_consume(vhost_url, queue, messages)
    finally:
        connection.channel().queue_delete(queue)
        connection.close()
    return published, consumed


def serve_bare(url: str, port: int, workers: int) -> subprocess.Popen[str]:
    """bench/bare_read.py under gunicorn, as `s117 serve` runs the register."""
    gunicorn = shutil.which("gunicorn") or str(Path(sys.executable).parent / "gunicorn")
    server = subprocess.Popen(
        [gunicorn, "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
         "--chdir", str(Path(__file__).parent.parent), "bench.bare_read:app"],
        env={**os.environ, "BENCH_BARE_DATABASE_URL": url}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).close()
            return server
        except requests.RequestException:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the bare read app did not start") from None
            time.sleep(0.5)


def http_fanout(endpoints: list[str], notifications: int, payload: bytes,
                concurrency: int = 64) -> tuple[float, float]:
    """POST `notifications` to every endpoint, a session (connection pool) per endpoint,
    `concurrency` at once: (notifications/s, p99 ms of one POST)."""
    local = threading.local()

    def post(endpoint: str) -> float:
        sessions = local.__dict__.setdefault("sessions", {})
        session = sessions.get(endpoint) or sessions.setdefault(endpoint, requests.Session())
        started = time.perf_counter()
        session.post(endpoint, data=payload, timeout=10,
                     headers={"Content-Type": "application/fhir+json"}).close()
        return time.perf_counter() - started

    work = [e for _ in range(notifications) for e in endpoints]
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        times = sorted(pool.map(post, work))
    elapsed = time.perf_counter() - started
    return len(work) / elapsed, times[int(len(times) * 0.99) - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    console = Console()
    db = f"s117_limits_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{db}"')
    try:
        dsn = f"postgresql://postgres@127.0.0.1:5432/{db}"
        single = pg_commands(dsn, seconds=args.seconds)
        batched = pg_commands(dsn, per_transaction=50, seconds=args.seconds)
        console.print(f"pgbench command-shaped: {single:,.0f} commands/s one per transaction, "
                      f"{batched:,.0f} commands/s fifty per transaction")
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    published, consumed = amqp_rates(f"{AMQP}/{urllib.parse.quote('/', safe='')}",
                                     args.messages)
    console.print(f"pika: {published:,.0f} confirmed publishes/s (100 in flight), "
                  f"{consumed:,.0f} consumed/s (prefetch 100)")


if __name__ == "__main__":
    main()
