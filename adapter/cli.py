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
import_app = typer.Typer(help="Batch files from other systems.", no_args_is_help=True)
export_app = typer.Typer(help="Extracts of the register.", no_args_is_help=True)
panel_app = typer.Typer(help="The funding and quality panel.", no_args_is_help=True)
reviews_app = typer.Typer(help="s117 reviews (R1-R3).", no_args_is_help=True)
subscriptions_app = typer.Typer(help="FHIR Subscriptions: who hears what, and how delivery "
                                "to them is going.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(refdata_app, name="refdata")
app.add_typer(queues_app, name="queues")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(mappings_app, name="mappings")
app.add_typer(import_app, name="import")
app.add_typer(export_app, name="export")
app.add_typer(panel_app, name="panel")
app.add_typer(reviews_app, name="reviews")
app.add_typer(subscriptions_app, name="subscriptions")
token_app = typer.Typer(help="Bearer tokens for development and tests (production tokens "
                        "come from the region's identity provider).", no_args_is_help=True)
app.add_typer(token_app, name="token")
pages_app = typer.Typer(help="The staff web pages.", no_args_is_help=True)
app.add_typer(pages_app, name="pages")
console = Console()
errors = Console(stderr=True)


def progress_bar(on: Console | None = None) -> Progress:
    """A progress bar, on stdout unless the command writes its result there."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=on or console, transient=False)


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


@db_app.command("reindex")
def db_reindex(
    changes_csv: Annotated[Path, typer.Option(
        "--csv", help="where to write the changed determinations")] = Path(
            "reindex-changes.csv"),
) -> None:
    """Derive every person's entitlements, holder timelines and casework again with the
    rules and locality policy now in force (after an upgrade or a policy change); prints how
    many determinations changed and by which rule, writes them as CSV for the councils and
    ICBs affected, and announces each change as a responsibility-changed event."""
    from rich.table import Table

    from adapter.bootstrap import build
    from adapter.casework import reindex, write_changes
    from register.rules.citations import CITATIONS

    register = build(_settings())
    with progress_bar() as bar:
        task = bar.add_task("re-deriving", total=None)
        report = reindex(register, progress=lambda n, total: bar.update(
            task, completed=n, total=total))
    write_changes(report, changes_csv)
    console.print(f"{report.people} people re-derived; {report.events} changes announced; "
                  f"{len(report.changes)} determinations changed")
    if report.changes:
        table = Table("rule", "determinations changed", "law", title="why (by rule)")
        for rule, count in report.by_rule().most_common():
            table.add_row(rule, str(count), CITATIONS.get(rule, ""))
        console.print(table)
    console.print(f"wrote {changes_csv}")


def _la(code: str, register) -> None:  # type: ignore[no-untyped-def]
    if register.refdata.name(code) is None:
        errors.print(f"[red]error:[/red] {code!r} is not a known council or ICB code")
        raise typer.Exit(2)


@import_app.command("council")
def import_council(
    file: Annotated[Path, typer.Argument(help="the council's CSV file (docs/council.md)")],
    la: Annotated[str, typer.Option("--la", help="the council sending it (GSS code)")],
    report: Annotated[Path | None, typer.Option(help="also write the per-row report as CSV")]
    = None,
) -> None:
    """Import a council batch file: each person's rows are applied together or not at all;
    every row is reported. Importing the same file again changes nothing. Exit status 1 if
    any row was refused, 2 if the file was."""
    from adapter.bootstrap import build
    from adapter.casework import print_import_report
    from adapter.council import apply, write_report
    from mappings.council import FileRefused, decode
    from register.commands import Agent

    if not file.exists():
        errors.print(f"[red]error:[/red] {file} does not exist")
        raise typer.Exit(2)
    register = build(_settings())
    _la(la, register)
    try:
        batch = decode(file.read_bytes(), la)
    except FileRefused as exc:
        errors.print(f"[red]error:[/red] {file.name}: {exc}; nothing was imported")
        raise typer.Exit(2) from None
    with progress_bar() as bar:
        task = bar.add_task(f"importing {file.name}", total=len(batch.groups))
        reports = apply(register.service, batch, Agent(la, "la", "s117 import council"),
                        progress=lambda n: bar.update(task, completed=n))
    print_import_report(console, batch, reports)
    if report:
        write_report(report, reports)
    if any(r.status in ("rejected", "not-applied") for r in reports):
        raise typer.Exit(1)


@export_app.command("register")
def export_register(
    la: Annotated[str | None, typer.Option("--la", help="responsible council (GSS)")] = None,
    icb: Annotated[str | None, typer.Option("--icb", help="responsible ICB (ODS)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv | xlsx | ndjson")] = "csv",
    output: Annotated[Path | None, typer.Option(help="file (csv, xlsx) or folder (ndjson); "
                                                     "csv and ndjson default to stdout")]
    = None,
    on: Annotated[str | None, typer.Option("--date", help="as of YYYY-MM-DD (default today)")]
    = None,
) -> None:
    """The joint register: who is entitled, since when, responsible bodies, services and
    funding split, last and next review, end date; or FHIR bulk-style NDJSON."""
    from adapter.bootstrap import build
    from adapter.export import FORMATS, export

    if (la is None) == (icb is None):
        errors.print("[red]error:[/red] give one of --la or --icb")
        raise typer.Exit(2)
    if fmt not in FORMATS:
        errors.print(f"[red]error:[/red] --format {fmt!r}: one of {', '.join(FORMATS)}")
        raise typer.Exit(2)
    if fmt == "xlsx" and output is None:
        errors.print("[red]error:[/red] an xlsx export needs --output FILE")
        raise typer.Exit(2)
    try:
        as_of = date.fromisoformat(on) if on else date.today()
    except ValueError:
        errors.print(f"[red]error:[/red] --date {on!r} is not YYYY-MM-DD")
        raise typer.Exit(2) from None
    register = build(_settings())
    _la(la or icb or "", register)
    with progress_bar(errors if output is None else console) as bar:
        task = bar.add_task("exporting", total=None)
        count = export(register, fmt, output, la=la, icb=icb, on=as_of,
                       progress=lambda n, total: bar.update(task, completed=n, total=total))
    errors.print(f"exported {count} entitlements" + (f" to {output}" if output else ""))


@panel_app.command("agenda")
def panel_agenda(
    la: Annotated[str | None, typer.Option("--la", help="responsible council (GSS)")] = None,
    icb: Annotated[str | None, typer.Option("--icb", help="responsible ICB (ODS)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Service lines waiting for a panel decision, oldest request first, with their age."""
    from adapter.bootstrap import build
    from adapter.casework import agenda, print_agenda

    register = build(_settings())
    items = agenda(register, la=la, icb=icb, on=date.today())
    if as_json:
        sys.stdout.write(json.dumps([i.to_json() for i in items], indent=2) + "\n")
    else:
        print_agenda(console, items)


@reviews_app.command("overdue")
def reviews_overdue(
    la: Annotated[str | None, typer.Option("--la", help="responsible council (GSS)")] = None,
    icb: Annotated[str | None, typer.Option("--icb", help="responsible ICB (ODS)")] = None,
    on: Annotated[str | None, typer.Option("--date", help="as of YYYY-MM-DD (default today)")]
    = None,
) -> None:
    """Entitlements whose s117 review is overdue (R3), the longest overdue first."""
    from adapter.bootstrap import build
    from adapter.casework import print_overdue
    from register.queries import overdue_reviews

    try:
        as_of = date.fromisoformat(on) if on else date.today()
    except ValueError:
        errors.print(f"[red]error:[/red] --date {on!r} is not YYYY-MM-DD")
        raise typer.Exit(2) from None
    register = build(_settings())
    print_overdue(console, register, overdue_reviews(register.uow(), as_of,
                                                     local_authority=la, icb=icb), as_of)


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
    kind: Annotated[str, typer.Argument(
        help="geography | epraccur | postcodes | succession | sub-icb-parents")],
    file: Annotated[Path | None, typer.Argument(help="the file (not for geography)")] = None,
) -> None:
    """Load reference data: the shipped geography, an NHS ODS epraccur.csv, an ONS
    postcode directory CSV (columns pcds, laua; optional sicbl/ccg), NHS ODS succession
    (org_code, target_code, type, legal_start_date; optional target_name for a new body) or
    dated sub-ICB parents (sub_icb_code, icb_code, valid_from). A bad row refuses the whole
    file, naming the row and field; nothing already loaded changes."""
    from adapter.bootstrap import build
    from register.refdata import load

    loaders = {"epraccur": load.load_epraccur, "postcodes": load.load_postcodes,
               "succession": load.load_succession, "sub-icb-parents": load.load_sub_icb_parents}
    if kind != "geography" and kind not in loaders:
        errors.print(f"[red]error:[/red] unknown reference data {kind!r}: "
                     "geography, epraccur, postcodes, succession or sub-icb-parents")
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
    from adapter import logs
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
    logs.configure("worker")
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
    """Validate a per-trust mapping profile against the schema (docs/inbound.md, "Trust
    profiles"), and optionally map a sample message with it."""
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


@app.command()
def report(
    name: Annotated[str, typer.Argument(help="review-compliance | overdue-reviews | "
                                        "entitlement-flows | entitled-by-body | out-of-area "
                                        "| spend")],
    fmt: Annotated[str, typer.Option("--format", help="png | svg | csv")] = "csv",
    out: Annotated[Path | None, typer.Option("--out", help="file to write (csv: default "
                                             "standard output)")] = None,
    la: Annotated[str | None, typer.Option("--la", help="as this council sees it (GSS)")]
    = None,
    icb: Annotated[str | None, typer.Option("--icb", help="as this ICB sees it (ODS)")] = None,
    on: Annotated[str | None, typer.Option("--date", help="as of YYYY-MM-DD (default today)")]
    = None,
    period: Annotated[str, typer.Option(help="month | quarter (review-compliance)")]
    = "month",
) -> None:
    """A monitoring report offline, as the pages show it (/reports/NAME): the chart (PNG or
    SVG) or its figures (CSV)."""
    from adapter.bootstrap import build
    from adapter.reports import render
    from adapter.reports import report as build_report
    from register.access import EVERYONE, OrgType, Viewer
    from register.reports.catalogue import PERIODS, REPORTS

    problems = [] if name in REPORTS else [f"NAME must be one of {', '.join(REPORTS)}"]
    problems += ["--format must be png, svg or csv"] if fmt not in ("png", "svg", "csv") else []
    problems += ["--period must be month or quarter"] if period not in PERIODS else []
    problems += ["give --la or --icb, not both"] if la and icb else []
    problems += [f"--format {fmt} needs --out FILE"] if fmt == "png" and out is None else []
    try:
        as_of = date.fromisoformat(on) if on else date.today()
    except ValueError:
        problems.append(f"--date {on!r} is not YYYY-MM-DD")
    if problems:
        errors.print(f"[red]error:[/red] {'; '.join(problems)}")
        raise typer.Exit(2)
    viewer = Viewer(la, OrgType.LA) if la else Viewer(icb, OrgType.ICB) if icb else EVERYONE
    built = build_report(build(_settings()), name, viewer, as_of, period)
    if fmt == "png":
        assert out is not None
        out.write_bytes(render.png(built))
    else:
        text = render.svg(built) if fmt == "svg" else render.csv_text(built)
        if out is None:
            sys.stdout.write(text)
        else:
            out.write_text(text, encoding="utf-8")
    if out is not None:
        errors.print(f"wrote {built.title} ({len(built.rows)} rows) to {out}")


@pages_app.command("assets")
def pages_assets(
    version: Annotated[str | None, typer.Option(help="nhsuk-frontend version")] = None,
) -> None:
    """Vendor the NHS.UK frontend's CSS, JavaScript and images into the package with npm
    (they are committed; run this to change version, docs/pages.md)."""
    from adapter.http.pages.assets import VERSION, vendor

    try:
        written = vendor(version or VERSION)
    except RuntimeError as exc:
        errors.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    errors.print(f"wrote {len(written)} files of nhsuk-frontend {version or VERSION}")


def main() -> None:
    app()


@app.command(add_help_option=False,
             context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def bench(ctx: typer.Context) -> None:
    """Measure the whole register in one run and print one table (networked and embedded;
    also written as JSON); `s117 bench --help` lists its options. Needs PostgreSQL, RabbitMQ
    and the bench extra (pip install -e '.[bench]')."""
    from bench.__main__ import main as run_bench

    run_bench(list(ctx.args))


@token_app.command("issue")
def token_issue(
    org: Annotated[str, typer.Option(help="the organisation: a council's GSS code, an ICB's "
                                          "or trust's ODS code")],
    org_type: Annotated[str, typer.Option(help="trust | la | icb | admin")],
    scope: Annotated[str, typer.Option(help="SMART scopes, space-separated")]
    = "system/*.cruds",
    sub: Annotated[str | None, typer.Option(help="the subject (a user or system); default "
                                                 "<org-type>:<org>")] = None,
    minutes: Annotated[int, typer.Option(help="lifetime")] = 60,
) -> None:
    """Print a signed token (RS256) for this organisation. The key pair is S117_JWT_PRIVATE_KEY
    (made on first use) and its .pub.pem; start the register with S117_JWT_PUBLIC_KEY set to
    the public key to accept these tokens."""
    from adapter.auth.issue import mint, public_path
    from adapter.auth.tokens import Caller, TokenRefused, caller_of

    settings = _settings()
    try:
        checked: Caller = caller_of({"org": org, "org_type": org_type, "scope": scope,
                                     "sub": sub or org})
    except TokenRefused as exc:
        errors.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    private = Path(settings.jwt_private_key)
    token = mint(private, org=org, org_type=checked.viewer.kind.value, scope=scope,
                 audience=settings.audience, issuer=settings.jwt_issuer, subject=sub,
                 minutes=minutes)
    print(token)
    errors.print(f"verify with S117_JWT_PUBLIC_KEY={public_path(private).resolve()} "
                 f"(aud {settings.audience}, iss {settings.jwt_issuer})")


@token_app.command("jwks")
def token_jwks() -> None:
    """Print the development key as a JWKS document (to serve for S117_JWKS_URL)."""
    from adapter.auth.issue import jwks

    print(jwks(Path(_settings().jwt_private_key)))
