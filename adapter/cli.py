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
subscriptions_app = typer.Typer(help="FHIR Subscriptions: who hears what, and how delivery "
                                "to them is going.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(refdata_app, name="refdata")
app.add_typer(queues_app, name="queues")
app.add_typer(subscriptions_app, name="subscriptions")
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
def serve(
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8080,
    workers: Annotated[int, typer.Option(help="gunicorn worker processes")] = 1,
) -> None:
    """Run the HTTP server (gunicorn). On an empty SQLite file the schema is created."""
    from adapter.http.server import run

    run(_settings(), host=host, port=port, workers=workers)


@app.command()
def relay(
    deliver: Annotated[bool, typer.Option(help="also deliver to Subscriptions (rest-hook, "
                                                "amqp) from this process")] = True,
) -> None:
    """The outbox relay: publish every committed event to RabbitMQ (s117.events) with
    publisher confirms, in commit order, record it for the Subscriptions it matches, and
    deliver to them. Safe to run on several machines. Runs until SIGTERM."""
    from adapter.bootstrap import build
    from adapter.outbound import RELAY_POOL
    from adapter.outbound import relay as run_relay

    run_relay(build(_settings(), pool_size=RELAY_POOL, max_overflow=0), deliver=deliver)


@app.command()
def scheduler(
    once: Annotated[bool, typer.Option(help="raise what is due now and exit")] = False,
    interval: Annotated[float, typer.Option(help="seconds between runs")] = 60.0,
) -> None:
    """Raise review-due and review-overdue events (rules R1-R3), once per entitlement and
    due date, however many schedulers run. Runs until SIGTERM unless --once."""
    from adapter.bootstrap import build
    from adapter.outbound import scheduler as run_scheduler

    raised = run_scheduler(build(_settings()), once=once, interval=interval)
    if once:
        console.print(f"raised {raised} review events")


@subscriptions_app.command("list")
def subscriptions_list() -> None:
    """Every Subscription: status, topic, filters, where it goes, events and delivery."""
    from adapter.bootstrap import build
    from adapter.outbound import print_list

    print_list(console, build(_settings()))


@subscriptions_app.command("show")
def subscriptions_show(
    subscription_id: Annotated[str, typer.Argument(help="the Subscription id")],
    attempts: Annotated[int, typer.Option(help="how many of the latest delivery attempts "
                                               "to list")] = 20,
) -> None:
    """One Subscription: its delivery state and its latest delivery attempts."""
    from adapter.bootstrap import build
    from adapter.outbound import print_show

    if not print_show(console, build(_settings()), subscription_id, attempts):
        errors.print(f"[red]error:[/red] no Subscription {subscription_id}")
        raise typer.Exit(1)


def main() -> None:
    app()
