"""The `s117` command: every process and tool of the register is a sub-command."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from adapter import config
from register.errors import RegisterError

app = typer.Typer(help="Shared regional register of Section 117 aftercare.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
refdata_app = typer.Typer(help="Reference data: geography, GP practices, postcodes.",
                          no_args_is_help=True)
queues_app = typer.Typer(help="RabbitMQ topology (networked mode).", no_args_is_help=True)
quarantine_app = typer.Typer(help="Inbound messages that could not be applied: list, show, "
                             "replay.", no_args_is_help=True)
mappings_app = typer.Typer(help="Per-trust HL7 v2 mapping profiles.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(refdata_app, name="refdata")
app.add_typer(queues_app, name="queues")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(mappings_app, name="mappings")
console = Console()
errors = Console(stderr=True)


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=False)


def _fail(exc: RegisterError) -> None:
    errors.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(2)


def _settings() -> config.Settings:
    try:
        return config.from_env()
    except RegisterError as exc:
        _fail(exc)
        raise


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply Alembic migrations to S117_DATABASE_URL."""
    from register.store import database

    settings = _settings()
    database.upgrade(settings.database_url)
    console.print("database at head revision")


@queues_app.command("declare")
def queues_declare(
    definitions: Annotated[Path, typer.Option(help="where to write the RabbitMQ definitions")]
    = Path("queues/definitions.json"),
) -> None:
    """Declare the exchanges, queues and bindings on S117_AMQP_URL (idempotent) and write
    them as a RabbitMQ definitions file."""
    from queues import topology
    from queues.connection import connect

    settings = _settings()
    if not settings.amqp_url:
        errors.print("[red]error:[/red] S117_AMQP_URL is not set: the embedded register has "
                     "no broker to declare on")
        raise typer.Exit(2)
    connection = connect(settings.amqp_url, "queues declare", give_up_after=30)
    try:
        declared = topology.declare(connection.channel())
    finally:
        connection.close()
    topology.write(definitions)
    console.print(f"declared {len(declared['exchanges'])} exchanges, "
                  f"{len(declared['queues'])} queues and {len(declared['bindings'])} "
                  f"bindings; wrote {definitions}")


@refdata_app.command("load")
def refdata_load(
    kind: Annotated[str, typer.Argument(help="geography | epraccur | postcodes")],
    file: Annotated[Path | None, typer.Argument(help="the file (not for geography)")] = None,
) -> None:
    """Load reference data: the shipped geography, an NHS ODS epraccur.csv, or an ONS
    postcode directory CSV (columns pcds, laua; optional sicbl/ccg)."""
    from adapter.bootstrap import build
    from register.refdata import load

    loaders = {"epraccur": load.load_epraccur, "postcodes": load.load_postcodes}
    if kind != "geography" and kind not in loaders:
        errors.print(f"[red]error:[/red] unknown reference data {kind!r}: "
                     "geography, epraccur or postcodes")
        raise typer.Exit(2)
    if kind != "geography" and (file is None or not file.exists()):
        errors.print(f"[red]error:[/red] {kind} needs an existing FILE")
        raise typer.Exit(2)
    register = build(_settings())
    try:
        with register.sessions() as session:
            if kind == "geography":
                count = load.load_geography(session)
            else:
                assert file is not None
                total = sum(1 for _ in file.open(encoding="utf-8-sig"))
                with progress_bar() as bar:
                    task = bar.add_task(f"loading {file.name}", total=total)
                    count = loaders[kind](session, file,
                                          progress=lambda n: bar.update(task, completed=n))
                    bar.update(task, completed=total)
            session.commit()
    except RegisterError as exc:
        _fail(exc)
    console.print(f"loaded {count} {kind} rows")


@app.command()
def responsibility(
    nhs_number: Annotated[str, typer.Argument(help="10-digit NHS number")],
    on: Annotated[str | None, typer.Option("--date", help="as of YYYY-MM-DD (default today)")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Who is responsible for this person's s117 aftercare, and why (rule ids, citations)."""
    from adapter.bootstrap import build
    from adapter.render import answer_json, print_answer
    from register.queries import responsibility as query

    try:
        as_of = date.fromisoformat(on) if on else date.today()
    except ValueError:
        errors.print(f"[red]error:[/red] --date {on!r} is not YYYY-MM-DD")
        raise typer.Exit(2) from None
    register = build(_settings())
    try:
        answer = query(register.uow(), register.refdata, register.settings.policy,
                       nhs_number, as_of)
    except RegisterError as exc:
        _fail(exc)
        return
    if as_json:
        sys.stdout.write(json.dumps(answer_json(answer), indent=2) + "\n")
    else:
        print_answer(console, answer)
    if not answer.known:
        raise typer.Exit(1)


@app.command()
def demo(
    people: Annotated[int, typer.Option(help="background people in the synthetic region")]
    = 300,
    seed: Annotated[int, typer.Option(help="random seed")] = 117,
) -> None:
    """Build an embedded register for a synthetic region, play realistic histories through
    the service, and print the register with the named cases explained."""
    from adapter.demo import run_demo

    run_demo(_settings(), console, people=people, seed=seed)


@app.command()
def mllp(
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 2575,
) -> None:
    """The HL7 v2 MLLP listener: ACK AA once a message is durable (RabbitMQ confirm, or
    committed in embedded mode), AE/AR with an ERR segment otherwise."""
    from adapter.mllp.server import run

    run(_settings(), host=host, port=port)


@app.command()
def worker(
    index: Annotated[int, typer.Option(help="this worker's number, 0 to --of minus 1")] = 0,
    of: Annotated[int, typer.Option("--of", help="how many workers share the partitions")]
    = 1,
    prefetch: Annotated[int, typer.Option(help="unacknowledged messages per partition")]
    = 50,
    batch: Annotated[int, typer.Option(help="waiting messages applied per transaction")]
    = 20,
) -> None:
    """Consume the inbound partition queues and apply each message once, in order per
    person (networked mode)."""
    import logging

    from queues.inbound.worker import Worker

    settings = _settings()
    if not settings.amqp_url:
        errors.print("[red]error:[/red] S117_AMQP_URL is not set: in embedded mode "
                     "`s117 serve` and `s117 mllp` apply messages themselves")
        raise typer.Exit(2)
    if not 0 <= index < of or prefetch < 2 or batch < 1:
        errors.print("[red]error:[/red] --index must be 0 to --of minus 1, --prefetch at "
                     "least 2, --batch at least 1")
        raise typer.Exit(2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("pika").setLevel(logging.WARNING)
    Worker(settings, index=index, count=of, prefetch=prefetch, batch=batch).run()


@quarantine_app.command("list")
def quarantine_list(
    state: Annotated[str, typer.Option(help="quarantined | held | replaying | resolved | all")]
    = "quarantined",
    limit: Annotated[int, typer.Option(help="at most this many rows")] = 100,
) -> None:
    """Inbound messages by state (default: quarantined), oldest first."""
    from adapter.inbound_cli import quarantine_table, register_for
    from queues.inbound import holds, store

    if state not in ("quarantined", "held", "replaying", "resolved", "all"):
        errors.print(f"[red]error:[/red] --state {state!r}: quarantined, held, replaying, "
                     "resolved or all")
        raise typer.Exit(2)
    settings = _settings()
    register = register_for(settings)
    if not settings.amqp_url:  # networked: the workers sweep (and dead-letter) expired holds
        holds.sweep(register.service, register.sessions, settings.hold_seconds)
    rows = store.listing(register.sessions, None if state == "all" else state, limit)
    console.print(quarantine_table(rows))
    console.print(f"{len(rows)} message(s)")


@quarantine_app.command("show")
def quarantine_show(message_id: Annotated[int, typer.Argument(help="the id in the list")]
                    ) -> None:
    """One inbound message: sender, reason, times, and the raw message."""
    from adapter.inbound_cli import register_for, show_row
    from queues.inbound import store

    row = store.find(register_for(_settings()).sessions, message_id)
    if row is None:
        errors.print(f"[red]error:[/red] no inbound message {message_id}")
        raise typer.Exit(1)
    show_row(console, row)


@quarantine_app.command("replay")
def quarantine_replay(
    ids: Annotated[list[int] | None, typer.Argument(help="ids to replay")] = None,
    every: Annotated[bool, typer.Option("--all", help="replay every quarantined message")]
    = False,
) -> None:
    """Put quarantined messages through again (after a mapping fix, or once the missing
    message has been sent). Each is applied once."""
    from adapter.inbound_cli import register_for
    from queues.inbound import quarantine
    from queues.inbound.amqp import Unavailable
    from queues.inbound.bus import build as build_inbound

    if bool(ids) == every:
        errors.print("[red]error:[/red] give message ids or --all (not both)")
        raise typer.Exit(2)
    settings = _settings()
    register = register_for(settings)
    chosen = quarantine.all_ids(register.sessions) if every else list(ids or [])
    inbound = build_inbound(settings, name="quarantine replay", register=register)
    try:
        with progress_bar() as bar:
            task = bar.add_task("replaying", total=len(chosen))
            done = []
            for row_id in chosen:
                done += quarantine.replay(inbound, register.sessions, [row_id])
                bar.advance(task)
    except Unavailable as exc:
        errors.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        inbound.bus.close()
    skipped = sorted(set(chosen) - {r.id for r in done})
    for r in done:
        if r.result is None:
            console.print(f"{r.id}: published; s117 worker applies it")
        elif r.result.status == "quarantined":
            console.print(f"{r.id}: [red]still quarantined[/red]: {r.result.reason}")
        else:
            console.print(f"{r.id}: [green]{r.result.status}[/green]")
    if skipped:
        console.print(f"not quarantined (nothing to replay): {', '.join(map(str, skipped))}")
    if any(r.result is not None and r.result.status == "quarantined" for r in done):
        raise typer.Exit(1)


@mappings_app.command("check")
def mappings_check(
    file: Annotated[Path, typer.Argument(help="a trust profile (YAML)")],
    sample: Annotated[Path | None, typer.Option(help="an HL7 v2 message to map with it")]
    = None,
) -> None:
    """Validate a per-trust mapping profile against the schema (docs/hl7v2.md), and
    optionally map a sample message with it."""
    from adapter.inbound_cli import check_profile

    for path in (file, sample):
        if path is not None and not path.is_file():
            errors.print(f"[red]error:[/red] {path} is not a file")
            raise typer.Exit(2)
    if not check_profile(console, file, sample):
        raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8080,
    workers: Annotated[int, typer.Option(help="gunicorn worker processes")] = 1,
    mllp_port: Annotated[int | None, typer.Option(
        help="also run the MLLP listener on this port (0: off). Default: 2575 in embedded "
             "mode, off in networked mode (run `s117 mllp` there)")] = None,
) -> None:
    """Run the HTTP server (gunicorn): the FHIR API, POST /hl7v2, /healthz; in embedded mode
    also the MLLP listener. On an empty SQLite file the schema is created."""
    from adapter.http.server import run

    settings = _settings()
    if mllp_port is None:
        mllp_port = 0 if settings.amqp_url else 2575
    run(settings, host=host, port=port, workers=workers, mllp_port=mllp_port)


def main() -> None:
    app()
