"""Register core benchmark (issue 2): load N synthetic people, each with a realistic
event history, through the register service, then time the responsibility query and the
out-of-area caseload query; on SQLite and on PostgreSQL. Prints one table.

    python -m bench.core --people 100000
    python -m bench.core --people 5000 --databases sqlite

Worker processes each take the people whose NHS number falls in their partition and
apply their commands one per transaction, as `s117 worker` processes will. Times are wall clock
on whatever else the machine is doing; compare runs on the same machine only.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import date
from itertools import islice
from pathlib import Path
from queue import Queue

import psycopg
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from adapter.cli.console import progress_bar
from adapter.synthetic import Generator, fixture_areas, fixture_path
from register.nhs_number import synthetic_numbers
from register.queries import caseload, responsibility
from register.refdata.load import load_epraccur, load_geography, load_postcodes
from register.refdata.sql import SqlRefData
from register.rules.ports import LocalityPolicy
from register.service import RegisterService
from register.store import database
from register.store.uow import SqlUnitOfWork

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
AMQP = "amqp://guest:guest@127.0.0.1:5672"  # the local RabbitMQ; benches add a vhost


@dataclass
class Result:
    database: str
    people: int
    workers: int
    commands: int
    load_seconds: float
    commands_per_second: float
    responsibility_p50_ms: float
    responsibility_p95_ms: float
    out_of_area_p95_ms: float
    responsibility_p99_ms: float = 0.0


def percentile(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[int(q) - 1] * 1000


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def service_for(url: str) -> tuple[RegisterService, sessionmaker[Session], SqlRefData]:
    engine = database.make_engine(url)
    sessions = database.session_factory(engine)
    refdata = SqlRefData(sessions)
    return RegisterService(lambda: SqlUnitOfWork(sessions), refdata), sessions, refdata


def load_partition(url: str, people: int, workers: int, part: int,
                   done: Queue, unit: int = 1) -> tuple[int, float]:
    """One worker process: the people whose NHS number hashes to `part`, in order (the
    worker of the inbound issue partitions by person the same way), one command per
    transaction, or (`unit` > 1, the bulk load path) the commands of `unit` people per
    transaction, each command as if alone. Only applying the commands is timed, not
    generating them."""
    service, _, _ = service_for(url)
    mine = [cmds for nhs, cmds in Generator(117, fixture_areas()).people(people)
            if int(nhs) % workers == part]
    commands, start = 0, time.perf_counter()
    for first in range(0, len(mine), unit):
        group = mine[first:first + unit]
        if unit == 1:
            for cmd in group[0]:
                service.handle(cmd)
        else:
            service.handle_each([[cmd] for cmds in group for cmd in cmds])
        commands += sum(len(cmds) for cmds in group)
        for _ in group:
            done.put(1)
    return commands, time.perf_counter() - start


def prepare(url: str) -> tuple[RegisterService, sessionmaker[Session], SqlRefData]:
    """Migrate an empty database and load the fixture geography, practices and postcodes."""
    database.upgrade(url)
    service, sessions, refdata = service_for(url)
    with sessions() as session:
        load_geography(session)
        load_epraccur(session, fixture_path("epraccur.csv"))
        load_postcodes(session, fixture_path("postcodes.csv"))
        session.commit()
    return service, sessions, refdata


def run(name: str, url: str, people: int, workers: int, queries: int,
        unit: int = 1) -> Result:
    _, sessions, refdata = prepare(url)
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(workers, mp_context=context) as pool:
        done = manager.Queue()
        futures = [pool.submit(load_partition, url, people, workers, part, done, unit)
                   for part in range(workers)]
        with progress_bar() as bar:
            task = bar.add_task(f"{name}: loading people ({workers} workers)", total=people)
            for _ in range(people):
                done.get()
                bar.advance(task)
        commands = sum(f.result()[0] for f in futures)
        elapsed = max(f.result()[1] for f in futures)
    numbers = list(islice(synthetic_numbers(), people))  # the Generator's numbers, in order
    rng = random.Random(1)
    today = date.today()
    policy = LocalityPolicy()
    resp = timed(lambda: responsibility(SqlUnitOfWork(sessions), refdata, policy,
                                        rng.choice(numbers), today), queries)
    ooa = timed(lambda: caseload(SqlUnitOfWork(sessions), residence_la="E06000030",
                                 out_of_area=True, status="active", limit=100),
                max(20, queries // 10))
    return Result(name, people, workers, commands, round(elapsed, 1),
                  round(commands / elapsed, 1), round(percentile(resp, 50), 2),
                  round(percentile(resp, 95), 2), round(percentile(ooa, 95), 2),
                  round(percentile(resp, 99), 2))


def on_database(name: str, people: int, workers: int, queries: int, unit: int = 1,
                after: Callable[[str], object] | None = None) -> Result:
    """`run` on a fresh SQLite file or PostgreSQL database, dropped afterwards; `after` is
    given the PostgreSQL database's libpq URL before it is dropped (the same-run limits)."""
    if name == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            return run(name, f"sqlite:///{tmp}/bench.db", people, 1, queries, unit)
    db = f"s117_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{db}"')
    try:
        result = run(name, f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}", people,
                     workers, queries, unit)
        if after is not None:
            after(f"postgresql://postgres@127.0.0.1:5432/{db}")
        return result
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def machine() -> str:
    return (f"{platform.python_implementation()} {platform.python_version()}, "
            f"{os.cpu_count()} CPUs, {platform.machine()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2,
                        help="PostgreSQL worker processes, each taking a partition of the "
                             "people (SQLite, the embedded mode, has one writer process)")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--unit", type=int, default=1,
                        help="people per transaction (1: one command per transaction; more: "
                             "the bulk load path)")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    console = Console(width=150)
    results = [on_database(name, args.people, args.workers, args.queries, args.unit)
               for name in args.databases.split(",")]
    table = Table("database", "people", "workers", "commands", "load s", "commands/s",
                  "responsibility p50 ms", "responsibility p95 ms", "out-of-area p95 ms",
                  title=f"s117 register core ({machine()}); target >= 500 commands/s, "
                        "p95 < 10 ms")
    for r in results:
        table.add_row(r.database, f"{r.people:,}", str(r.workers), f"{r.commands:,}",
                      str(r.load_seconds), str(r.commands_per_second), str(r.responsibility_p50_ms),
                      str(r.responsibility_p95_ms), str(r.out_of_area_p95_ms))
    console.print(table)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(),
                                         "results": [asdict(r) for r in results]}, indent=2))


if __name__ == "__main__":
    main()
