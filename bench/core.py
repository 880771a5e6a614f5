"""Register core benchmark (issue 2): load N synthetic people, each with a realistic
event history, through the register service, then time the responsibility query and the
out-of-area caseload query; on SQLite and on PostgreSQL. Prints one table.

    python -m bench.core --people 100000
    python -m bench.core --people 5000 --databases sqlite

Single process, one command per transaction, as the worker will run. Times are wall clock
on whatever else the machine is doing; compare runs on the same machine only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import psycopg
from rich.console import Console
from rich.table import Table

from adapter.cli import progress_bar
from adapter.synthetic import Generator, fixture_areas, fixture_path
from register.queries import caseload, responsibility
from register.refdata.load import load_epraccur, load_geography, load_postcodes
from register.refdata.sql import SqlRefData
from register.rules.ports import LocalityPolicy
from register.service import RegisterService
from register.store import database
from register.store.uow import SqlUnitOfWork

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass
class Result:
    database: str
    people: int
    commands: int
    load_seconds: float
    commands_per_second: float
    responsibility_p50_ms: float
    responsibility_p95_ms: float
    out_of_area_p95_ms: float


def percentile(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[int(q) - 1] * 1000


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def run(name: str, url: str, people: int, queries: int, console: Console) -> Result:
    database.upgrade(url)
    engine = database.make_engine(url)
    sessions = database.session_factory(engine)
    with sessions() as session:
        load_geography(session)
        load_epraccur(session, fixture_path("epraccur.csv"))
        load_postcodes(session, fixture_path("postcodes.csv"))
        session.commit()
    refdata = SqlRefData(sessions)
    policy = LocalityPolicy()
    service = RegisterService(lambda: SqlUnitOfWork(sessions), refdata, policy)
    numbers: list[str] = []
    commands = 0
    elapsed = 0.0
    with progress_bar() as bar:
        task = bar.add_task(f"{name}: loading people", total=people)
        for nhs, cmds in Generator(117, fixture_areas()).people(people):
            numbers.append(nhs)
            start = time.perf_counter()
            for cmd in cmds:
                service.handle(cmd)
            elapsed += time.perf_counter() - start
            commands += len(cmds)
            bar.advance(task)
    rng = random.Random(1)
    today = date.today()
    resp = timed(lambda: responsibility(SqlUnitOfWork(sessions), refdata, policy,
                                        rng.choice(numbers), today), queries)
    ooa = timed(lambda: caseload(SqlUnitOfWork(sessions), residence_la="E06000030",
                                 out_of_area=True, status="active", limit=100),
                max(20, queries // 10))
    engine.dispose()
    return Result(name, people, commands, round(elapsed, 1), round(commands / elapsed, 1),
                  round(percentile(resp, 50), 2), round(percentile(resp, 95), 2),
                  round(percentile(ooa, 95), 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    console = Console()
    results: list[Result] = []
    for name in args.databases.split(","):
        if name == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                results.append(run(name, f"sqlite:///{tmp}/bench.db", args.people,
                                   args.queries, console))
        else:
            db = f"s117_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{db}"')
            try:
                results.append(run(name, f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}",
                                   args.people, args.queries, console))
            finally:
                with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    machine = (f"{platform.python_implementation()} {platform.python_version()}, "
               f"{os.cpu_count()} CPUs, {platform.machine()}")
    table = Table("database", "people", "commands", "load s", "commands/s",
                  "responsibility p50 ms", "responsibility p95 ms", "out-of-area p95 ms",
                  title=f"s117 register core ({machine}); target >= 500 commands/s, "
                        "p95 < 10 ms")
    for r in results:
        table.add_row(r.database, f"{r.people:,}", f"{r.commands:,}", str(r.load_seconds),
                      str(r.commands_per_second), str(r.responsibility_p50_ms),
                      str(r.responsibility_p95_ms), str(r.out_of_area_p95_ms))
    console.print(table)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine,
                                         "results": [asdict(r) for r in results]}, indent=2))


if __name__ == "__main__":
    main()
