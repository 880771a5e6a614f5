"""FHIR API benchmark (issue 3): PostgreSQL holding N entitlements, `s117 serve` (gunicorn,
one worker per core), and locust driving the three commonest reads: read EpisodeOfCare,
`Patient/$s117-responsibility`, and a council's caseload page
(`EpisodeOfCare?responsible-la=...&_count=50`). Prints one table.

    python -m bench.fhir --entitlements 1000000
    python -m bench.fhir --entitlements 50000 --seconds 20

How the data is made: a seed of synthetic people goes through the register service (so every
row is one the rules produced), then the person and entitlement rows are copied in SQL, with new
ids and new test-range NHS numbers, until there are N entitlements. Copies share their seed's
history, so they are realistic for read load but are not re-derived; loading through the
service is what `bench.core` measures. The load generator runs on the same machine as the
server and takes CPU from it, so the figures are a lower bound.

Two runs: latency with one locust user (each request's own time, nothing queued behind
another) and then throughput with `--users` at once (reads/s with every core busy; latency
there is mostly waiting for a free worker, by Little's law users / throughput).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import psycopg
from rich.console import Console
from rich.table import Table

from adapter.auth.issue import ensure_key_pair, mint
from adapter.cli.console import progress_bar
from adapter.synthetic import Generator, fixture_areas
from bench import limits
from bench.core import AMQP, PG_ADMIN, prepare
from bench.memory import peak_mb
from register.nhs_number import synthetic_numbers

TARGETS = {"read EpisodeOfCare": ("p50", 5.0), "$s117-responsibility": ("p95", 20.0),
           "search responsible-la _count=50": ("p95", 50.0)}
ENTITLED = "EXISTS (SELECT 1 FROM entitlement e WHERE e.person_id = person.id)"
PERSON_COLUMNS = "facts, residence_la, merged_into, held, version, updated_at"
ENTITLEMENT_COLUMNS = ("status, planned_on, started_on, ended_on, responsible_la, "
                       "responsible_icb, commissioning_body, paying_body, paying_icb, "
                       "residence_la, next_review_due, needs_review, version, updated_at")

# The 999 test range holds 909,091 valid NHS numbers (a stem whose check digit would be 10 is
# no number), so a region of a million synthetic people cannot exist without numbers that
# could be real; 900,000 entitlements is the largest round size it allows.
REGION = 900_000


def seed(url: str, people: int) -> None:
    service, _, _ = prepare(url)
    with progress_bar() as bar:
        task = bar.add_task("seeding through the register service", total=people)
        for _, commands in Generator(117, fixture_areas()).people(people):
            for command in commands:
                service.handle(command)
            bar.advance(task)


def copy_rows(dsn: str, target: int) -> int:
    """Copy every seed person with their entitlements until there are `target` entitlements."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        # Only people with an entitlement are copied: the test range has ~909,000 numbers.
        seed_people = conn.execute(
            f"SELECT count(*), (SELECT max(id) FROM person) FROM person WHERE {ENTITLED}"
        ).fetchone()
        per_copy = conn.execute("SELECT count(*) FROM entitlement").fetchone()[0]
        assert seed_people and per_copy, "the seed produced no entitlements"
        count, top = seed_people
        copies = max(0, -(-target // per_copy) - 1)
        used = {r[0] for r in conn.execute("SELECT nhs_number FROM person")}
        fresh = (n for n in synthetic_numbers() if n not in used)
        with progress_bar() as bar:
            task = bar.add_task("copying rows in PostgreSQL", total=copies)
            for k in range(1, copies + 1):
                numbers = list(islice(fresh, count))
                if len(numbers) < count:
                    raise SystemExit("ran out of test-range NHS numbers: ask for fewer")
                conn.execute("CREATE TEMP TABLE IF NOT EXISTS nhs (rn int, nhs text)")
                conn.execute("TRUNCATE nhs")
                with conn.cursor().copy("COPY nhs (rn, nhs) FROM STDIN") as copy:
                    for i, number in enumerate(numbers, 1):
                        copy.write_row((i, number))
                offset = k * top
                conn.execute(f"""
                    INSERT INTO person (id, nhs_number, {PERSON_COLUMNS})
                    SELECT p.id + {offset}, n.nhs,
                           jsonb_set(p.facts, '{{nhs_number}}', to_jsonb(n.nhs)),
                           p.residence_la, p.merged_into, p.held, p.version, p.updated_at
                    FROM (SELECT *, row_number() OVER (ORDER BY id) AS rn FROM person
                          WHERE id <= {top} AND {ENTITLED}) p JOIN nhs n USING (rn)""")
                conn.execute(f"""
                    INSERT INTO entitlement (id, person_id, snapshot, {ENTITLEMENT_COLUMNS})
                    SELECT md5(e.id || ':{k}')::uuid::text, e.person_id + {offset},
                           jsonb_set(e.snapshot, '{{id}}', to_jsonb(md5(e.id || ':{k}')
                                                                  ::uuid::text)),
                           {ENTITLEMENT_COLUMNS}
                    FROM entitlement e WHERE e.person_id <= {top}""")
                bar.advance(task)
        # As autovacuum leaves a table at rest: statistics, and the visibility map that lets
        # a caseload total be counted from its index alone.
        conn.execute("VACUUM ANALYZE")
        return conn.execute("SELECT count(*) FROM entitlement").fetchone()[0]


AUDIENCE, ISSUER = "http://127.0.0.1/fhir", "s117-bench"


def sample_ids(dsn: str, path: Path, keys: Path) -> None:
    """Ids to read, and bearer tokens: an admin's for the reads of random entitlements (no
    council sees them all), and each sampled council's own for its caseload search, which
    then pays for the visibility filter as a council's would."""
    with psycopg.connect(dsn) as conn:
        ids = [r[0] for r in conn.execute(
            "SELECT id FROM entitlement TABLESAMPLE SYSTEM (5) LIMIT 20000")]
        numbers = [r[0] for r in conn.execute(
            "SELECT nhs_number FROM person TABLESAMPLE SYSTEM (5) LIMIT 20000")]
        las = [r[0] for r in conn.execute(
            "SELECT DISTINCT responsible_la FROM entitlement WHERE responsible_la IS NOT NULL "
            "LIMIT 200")]
    random.Random(1).shuffle(ids)
    def signed(org: str, kind: str) -> str:
        return mint(keys, org=org, org_type=kind, scope="system/*.rs",
                    audience=AUDIENCE, issuer=ISSUER, minutes=600)

    path.write_text(json.dumps({"entitlements": ids, "nhs_numbers": numbers, "las": las,
                                "admin": signed("bench", "admin"),
                                "councils": {la: signed(la, "la") for la in las}}))


def serve(url: str, port: int, workers: int, keys: Path) -> subprocess.Popen[str]:
    s117 = shutil.which("s117") or str(Path(sys.executable).parent / "s117")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("S117_")},
           "S117_DATABASE_URL": url, "S117_JWT_PUBLIC_KEY": str(ensure_key_pair(keys)),
           "S117_JWT_AUDIENCE": AUDIENCE, "S117_JWT_ISSUER": ISSUER, "S117_RATE_LIMIT": "off",
           # Networked, as in production: a broker set, so the relay and the scheduler are
           # processes of their own (not started here) rather than threads of every worker.
           "S117_AMQP_URL": f"{AMQP}/"}
    server = subprocess.Popen([s117, "serve", "--port", str(port), "--workers", str(workers)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              text=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).close()
            return server
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("s117 serve did not start") from None
            time.sleep(0.5)


def load(port: int, ids: Path, users: int, seconds: int, out: Path,
         user_class: str = "Council") -> list[dict[str, str]]:
    """locust's summary rows of one headless run (CSV files in `out`): the mixed load of a
    caseload screen (`Council`) or reads only (`Reads`)."""
    out.mkdir(exist_ok=True)
    locust = shutil.which("locust") or str(Path(sys.executable).parent / "locust")
    subprocess.run([locust, "-f", str(Path(__file__).with_name("locustfile.py")), user_class,
                    "--headless",
                    "-u", str(users), "-r", str(users), "-t", f"{seconds}s",
                    "--host", f"http://127.0.0.1:{port}", "--csv", str(out / "load"),
                    "--only-summary", "--loglevel", "WARNING"],
                   env={**os.environ, "BENCH_FHIR_IDS": str(ids)}, check=True,
                   stdout=subprocess.DEVNULL)
    with open(out / "load_stats.csv", encoding="utf-8") as stats:
        return list(csv.DictReader(stats))


@dataclass(frozen=True)
class Measured:
    entitlements: int
    latency: list[dict[str, str]]  # locust's rows, one user
    throughput: list[dict[str, str]]  # locust's rows, `users` at once
    serve_peak_mb: float
    # Reads only, the register and then the bare read of the same rows (bench.limits):
    # locust's rows with one user and with `users`.
    reads: list[dict[str, str]] = field(default_factory=list)
    reads_busy: list[dict[str, str]] = field(default_factory=list)
    bare: list[dict[str, str]] = field(default_factory=list)
    bare_busy: list[dict[str, str]] = field(default_factory=list)


def run(entitlements: int, seed_people: int, workers: int, users: int, seconds: int,
        port: int, *, keep: bool = False) -> Measured:
    """A fresh database of `entitlements`, served and loaded."""
    db = f"s117_fhirbench_{uuid.uuid4().hex[:8]}"
    dsn = f"postgresql://postgres@127.0.0.1:5432/{db}"
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{db}"')
    try:
        seed(url, seed_people)
        total = copy_rows(dsn, entitlements)
        with tempfile.TemporaryDirectory() as tmp:
            ids, keys = Path(tmp) / "ids.json", Path(tmp) / "bench-key.pem"
            ensure_key_pair(keys)
            sample_ids(dsn, ids, keys)
            server = serve(url, port, workers, keys)
            short = max(10, seconds // 2)
            try:
                latency = load(port, ids, 1, short, Path(tmp) / "latency")
                rows = load(port, ids, users, seconds, Path(tmp) / "throughput")
                reads = load(port, ids, 1, short, Path(tmp) / "reads", "Reads")
                reads_busy = load(port, ids, users, short, Path(tmp) / "reads-busy", "Reads")
                memory = peak_mb(server.pid)
            finally:
                server.terminate()
                server.wait(timeout=30)
            bare_server = limits.serve_bare(url, port, workers)
            try:
                bare = load(port, ids, 1, short, Path(tmp) / "bare", "Reads")
                bare_busy = load(port, ids, users, short, Path(tmp) / "bare-busy", "Reads")
            finally:
                bare_server.terminate()
                bare_server.wait(timeout=30)
    finally:
        if not keep:
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    return Measured(total, latency, rows, memory, reads, reads_busy, bare, bare_busy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entitlements", type=int, default=REGION)
    parser.add_argument("--seed-people", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                        help="gunicorn workers (default one per core)")
    parser.add_argument("--users", type=int, default=16, help="concurrent locust users")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--port", type=int, default=18117)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    found = run(args.entitlements, args.seed_people, args.workers, args.users, args.seconds,
                args.port, keep=args.keep)
    table = Table("run", "request", "count", "failures", "req/s", "p50 ms", "p95 ms", "p99 ms",
                  "target", title=f"s117 FHIR API on PostgreSQL: {found.entitlements:,} "
                                  f"entitlements, {args.workers} gunicorn workers, "
                                  f"{args.seconds} s, {os.cpu_count()} CPUs")
    for run_name, rows in (("1 user", found.latency), (f"{args.users} users", found.throughput)):
        for row in rows:
            name = row["Name"]
            target = TARGETS.get(name)
            verdict = ""
            if target and rows is found.latency:
                value = float(row["50%" if target[0] == "p50" else "95%"])
                verdict = (f"{target[0]} < {target[1]:g} ms: "
                           f"{'met' if value < target[1] else 'NOT met'}")
            elif name == "Aggregated" and rows is found.throughput:
                rps = float(row["Requests/s"])
                verdict = f">= 300 reads/s: {'met' if rps >= 300 else 'NOT met'}"
            table.add_row(run_name, name, row["Request Count"], row["Failure Count"],
                          f"{float(row['Requests/s']):.0f}", row["50%"], row["95%"],
                          row["99%"], verdict)
    Console(width=170).print(table)


if __name__ == "__main__":
    main()
