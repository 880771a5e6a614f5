"""The whole benchmark in one run (issue 9): `python -m bench` or `s117 bench`.

For the networked register (PostgreSQL, RabbitMQ, the `s117` processes) and, for
comparison, the embedded one (SQLite, in-process bus), it measures and prints one table:

1. load: synthetic people with realistic histories through the register service
   (`bench.core`: admissions, legal status changes, leave, CTOs, discharges, moves,
   re-detentions, duplicates, out-of-order messages), people/s and commands/s, then the
   responsibility query p50/p95/p99 and the out-of-area caseload p95 in process;
2. HL7 v2 ADT from MLLP to applied (`bench.inbound`), ACK latency p50/p99;
3. change -> rest-hook subscriber p50/p99 and fan-out (`bench.outbound`);
4. the FHIR API under locust on a region of `--people` entitlements (`bench.fhir`: seeded
   through the service, copied in SQL up to the size): read p50/p99,
   `$s117-responsibility` p50/p95/p99, a council's caseload search p95, reads/s;
5. two regional registers linked by RabbitMQ federation (`bench.federation`): events/s
   across the link, lag p99 with the link up, catch-up time after an outage;
6. the peak memory of each process.

The results also go to `--json` (default bench-results.json) with the machine they ran on,
for tracking over time. Every phase starts on a fresh database and RabbitMQ virtual host.

    python -m bench                       # default sizes (about 25 minutes on 2 cores)
    python -m bench --quick               # small sizes, to check the harness (3 minutes)
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import core, federation, fhir, inbound, limits, outbound

TARGETS = {  # name or its start: (target text, met?)
    "load, people/s": (">= 2,000", lambda v: v >= 2000),
    "ADT MLLP -> applied, messages/s": (">= 1,000", lambda v: v >= 1000),
    "ACK latency p99 ms": ("< 100", lambda v: v < 100),
    "change -> subscriber p99 ms": ("< 1,000", lambda v: v < 1000),
    "fan-out, notifications/s": (">= 1,000", lambda v: v >= 1000),
    "FHIR read p50 ms (1 user)": ("< 5", lambda v: v < 5),
    "$s117-responsibility p95 ms (HTTP, 1 user)": ("< 20", lambda v: v < 20),
    "caseload search p95 ms (HTTP, 1 user)": ("< 50", lambda v: v < 50),
    "FHIR reads/s": (">= 300", lambda v: v >= 300),
}


# Each path beside its limit, measured in the same run (issue 22): (target text, met?) on
# the ratio; for latencies the ratio is the register's time over the limit's.
LIMIT_TARGETS = {
    "commands applied (bulk load)": (">= 50% of the limit", lambda r: r >= 0.5),
    "ADT MLLP -> applied": (">= 50% of the limit and >= 1,000/s", lambda r: r >= 0.5),
    "FHIR read p50 (1 user)": ("<= 1.5x the limit", lambda r: r <= 1.5),
    "FHIR reads/s": (">= 60% of the limit", lambda r: r >= 0.6),
    "fan-out, notifications/s": ("", None),
}
COMMANDS_PER_MESSAGE = 1.5  # bench.inbound: an A01 (two commands), an A03 (one)


def _locust(rows: list[dict[str, str]], name: str, column: str) -> float:
    row = next(r for r in rows if r["Name"] == name)
    return float(row[column])


def measure(args: argparse.Namespace, console: Console
            ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """{measure: {"networked": value, "embedded": value}}, and peak memory by process; and
    {path: {"register", "limit", "ratio", "limit_is"}}, networked, measured in the run."""
    out: dict[str, dict[str, Any]] = {}
    bounds: dict[str, dict[str, Any]] = {}
    pg: dict[str, float] = {}

    def put(name: str, mode: str, value: float | None) -> None:
        out.setdefault(name, {})[mode] = None if value is None else round(value, 1)

    def beside(path: str, register: float, limit: float, limit_is: str) -> None:
        bounds[path] = {"register": round(register, 1), "limit": round(limit, 1),
                        "ratio": round(register / limit, 2) if limit else None,
                        "limit_is": limit_is}

    def pg_limits(dsn: str) -> None:
        console.print("the database's limit: pgbench, command-shaped transactions")
        pg["single"] = limits.pg_commands(dsn, seconds=args.limit_seconds)
        pg["batched"] = limits.pg_commands(dsn, per_transaction=50, seconds=args.limit_seconds)

    for mode, database in (("networked", "postgresql"), ("embedded", "sqlite")):
        console.rule(f"1. load through the register service ({mode})")
        loaded = core.on_database(database, args.load_people,
                                  args.load_workers if mode == "networked" else 1,
                                  args.queries, args.load_unit,
                                  after=pg_limits if mode == "networked" else None)
        put("load, people/s", mode, loaded.people / loaded.load_seconds)
        put("load, commands/s", mode, loaded.commands_per_second)
        put("responsibility query p50 ms (in process)", mode, loaded.responsibility_p50_ms)
        put("responsibility query p95 ms (in process)", mode, loaded.responsibility_p95_ms)
        put("responsibility query p99 ms (in process)", mode, loaded.responsibility_p99_ms)
        put("out-of-area caseload p95 ms (in process)", mode, loaded.out_of_area_p95_ms)
        if mode == "networked":
            beside("commands applied (bulk load), commands/s", loaded.commands_per_second,
                   pg["batched"], f"pgbench, 50 commands (select for update, update, "
                   f"history and outbox inserts) per transaction, {args.load_workers} "
                   f"clients (one per transaction: {pg['single']:,.0f}/s)")

        console.rule(f"2. HL7 v2 over MLLP ({mode})")
        adt = inbound.run(embedded=mode == "embedded", messages_count=args.messages,
                          paced_seconds=args.paced_seconds)
        put("ADT MLLP -> applied, messages/s", mode, adt["applied_per_s"])
        put("ADT MLLP -> AA, messages/s", mode, adt["accepted_per_s"])
        put("ACK latency p50 ms", mode, adt["ack_p50_ms"])
        put("ACK latency p99 ms", mode, adt["ack_p99_ms"])
        put("ACK -> applied p99 ms (50 messages/s)", mode, adt["paced_applied_p99_ms"])
        if mode == "networked":
            console.print("the broker's limit: pika, confirmed publishes and consumes")
            published, consumed = limits.amqp_rates(f"{core.AMQP}/%2F", args.limit_messages)
            per_message = pg["batched"] / COMMANDS_PER_MESSAGE
            beside("ADT MLLP -> applied, messages/s", adt["applied_per_s"],
                   min(per_message, published, consumed),
                   f"the least of: the database, {per_message:,.0f} messages/s (pgbench "
                   f"batched / {COMMANDS_PER_MESSAGE} commands a message); pika confirmed "
                   f"publish {published:,.0f}/s; consume {consumed:,.0f}/s")
        for process, mb in adt["peak_memory_mb"].items():
            put(f"peak memory MB, {process}", mode, mb)

        console.rule(f"3. change -> subscriber ({mode})")
        phases, _ = outbound.measure(database, args.subscribers, 50, args.steady_seconds,
                                     args.burst, console=console)
        steady = phases[0]
        put("change -> subscriber p50 ms", mode, steady.p50_ms)
        put("change -> subscriber p99 ms", mode, steady.p99_ms)
        if len(phases) > 1 and phases[1].drained_seconds:
            put("fan-out, notifications/s", mode,
                phases[1].delivered / phases[1].drained_seconds)
        put("peak memory MB, s117 relay", mode, steady.relay_peak_mb)
        if mode == "networked" and len(phases) > 1 and phases[1].drained_seconds:
            beside("fan-out, notifications/s", phases[1].delivered / phases[1].drained_seconds,
                   steady.bare_fanout_per_s, f"the same {args.subscribers} subscribers "
                   "taking POSTs straight from a thread pool, a connection pool each")

    console.rule("4. the FHIR API under load (networked)")
    api = fhir.run(args.people, args.seed_people, args.http_workers, args.users,
                   args.http_seconds, args.port)
    one, busy = api.latency, api.throughput
    put("region, entitlements", "networked", api.entitlements)
    put("FHIR read p50 ms (1 user)", "networked", _locust(one, "read EpisodeOfCare", "50%"))
    put("FHIR read p99 ms (1 user)", "networked", _locust(one, "read EpisodeOfCare", "99%"))
    for q in ("50%", "95%", "99%"):
        put(f"$s117-responsibility p{q[:-1]} ms (HTTP, 1 user)", "networked",
            _locust(one, "$s117-responsibility", q))
    put("caseload search p95 ms (HTTP, 1 user)", "networked",
        _locust(one, "search responsible-la _count=50", "95%"))
    put(f"FHIR reads/s ({args.users} users)", "networked",
        _locust(busy, "Aggregated", "Requests/s"))
    put(f"FHIR read p99 ms ({args.users} users)", "networked",
        _locust(busy, "read EpisodeOfCare", "99%"))
    put("peak memory MB, s117 serve (largest gunicorn process)", "networked",
        api.serve_peak_mb)
    read = "read EpisodeOfCare"
    beside("FHIR read p50 (1 user), ms", _locust(api.reads, read, "50%"),
           _locust(api.bare, read, "50%"), "bare Flask + SQLAlchemy read of the same rows "
           f"under gunicorn, {args.http_workers} workers (bench/bare_read.py)")
    beside(f"FHIR reads/s ({args.users} users, reads only)",
           _locust(api.reads_busy, read, "Requests/s"),
           _locust(api.bare_busy, read, "Requests/s"), "the same bare read")

    console.rule("5. two regional registers over RabbitMQ federation (networked)")
    linked = federation.run(args.federation_rate, args.steady_seconds, args.burst,
                            args.outage_seconds, console)
    put("federation: events/s across the link", "networked",
        linked["events/s across the link"])
    put("federation: lag p50 ms (link up)", "networked", linked["lag p50 ms"])
    put("federation: lag p99 ms (link up)", "networked", linked["lag p99 ms"])
    put(f"federation: catch-up s after a {args.outage_seconds:g} s outage", "networked",
        linked["catch-up s"])
    return out, bounds


def table(results: dict[str, dict[str, Any]], machine: str) -> Table:
    shown = Table("measure", "networked (PostgreSQL, RabbitMQ)", "embedded (SQLite)",
                  "target (networked)", title=f"s117-register benchmark ({machine})")
    for name, values in results.items():
        target, met = next((t for start, t in TARGETS.items() if name.startswith(start)),
                           ("", None))
        value = values.get("networked")
        verdict = f"{target}: {'met' if met(value) else 'NOT met'}" \
            if met is not None and value is not None else target
        shown.add_row(name, *(f"{v:,}" if isinstance(v, int | float) else "-"
                              for v in (values.get("networked"), values.get("embedded"))),
                      verdict)
    return shown


def limits_table(bounds: dict[str, dict[str, Any]]) -> Table:
    shown = Table("path (networked)", "the register", "the stack's limit", "ratio", "target",
                  "the limit is", title="each path beside its limit, measured in the same run")
    for path, row in bounds.items():
        target, met = next((t for start, t in LIMIT_TARGETS.items() if path.startswith(start)),
                           ("", None))
        ratio = row["ratio"]
        verdict = f"{target}: {'met' if met(ratio) else 'NOT met'}" \
            if met is not None and ratio is not None else target
        shown.add_row(path, f"{row['register']:,}", f"{row['limit']:,}",
                      "-" if ratio is None else f"{ratio:.2f}", verdict, row["limit_is"])
    return shown


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="s117 bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=fhir.REGION,
                        help="entitlements in the region the FHIR API is read from")
    parser.add_argument("--load-people", type=int, default=20_000,
                        help="people loaded through the register service (each a history "
                             "of about 4.5 commands)")
    parser.add_argument("--load-workers", type=int, default=2)
    parser.add_argument("--load-unit", type=int, default=200,
                        help="people per transaction in the load (the bulk load path; 1: one "
                             "command per transaction)")
    parser.add_argument("--limit-seconds", type=int, default=10,
                        help="each pgbench run of the same-run limits")
    parser.add_argument("--limit-messages", type=int, default=10_000,
                        help="messages published and consumed for the broker's limit")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--paced-seconds", type=float, default=20)
    parser.add_argument("--subscribers", type=int, default=50)
    parser.add_argument("--steady-seconds", type=float, default=30)
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument("--seed-people", type=int, default=2000)
    parser.add_argument("--http-workers", type=int, default=2)
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--http-seconds", type=int, default=60)
    parser.add_argument("--port", type=int, default=18117)
    parser.add_argument("--federation-rate", type=float, default=20,
                        help="people a second London's register takes (federation)")
    parser.add_argument("--outage-seconds", type=float, default=60,
                        help="how long the federation link is down")
    parser.add_argument("--json", type=Path, default=Path("bench-results.json"))
    parser.add_argument("--quick", action="store_true",
                        help="small sizes: checks the harness, figures not comparable")
    args = parser.parse_args(argv)
    if args.quick:
        args.people, args.load_people, args.queries, args.messages = 20_000, 500, 200, 400
        args.paced_seconds, args.subscribers, args.steady_seconds = 4, 10, 5
        args.burst, args.seed_people, args.http_seconds = 200, 300, 10
        args.limit_seconds, args.limit_messages = 5, 3000
        args.federation_rate, args.outage_seconds = 5, 10
    console = Console(width=150)
    machine = core.machine()
    results, bounds = measure(args, console)
    console.print(table(results, machine))
    console.print(limits_table(bounds))
    args.json.write_text(json.dumps({
        "machine": machine, "platform": platform.platform(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "arguments": {k: str(v) for k, v in vars(args).items()},
        "results": results, "limits": bounds}, indent=2) + "\n")
    console.print(f"results written to {args.json}")


if __name__ == "__main__":
    main(sys.argv[1:])
