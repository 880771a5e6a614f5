"""The casework commands of councils and ICBs: `s117 import council`, `s117 export
register`, `s117 panel agenda`, `s117 reviews overdue` and `s117 flags`; and the bulk load of
a trust's feed, `s117 import hl7v2` and `s117 import fhir` (adapter/bulk_import.py)."""

from __future__ import annotations

import csv
import json
import sys
from collections import Counter
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from adapter.cli.console import as_of, console, errors, fail, known_body, progress_bar, settings
from register.casework import OMBUDSMAN

if TYPE_CHECKING:
    from adapter.bootstrap import Register
    from mappings.council import CouncilBatch, RowReport
    from register.ports import EntitlementSummary
    from register.store.casework_views import AgendaRow, FlagRow

import_app = typer.Typer(help="Batch files from other systems.", no_args_is_help=True)
export_app = typer.Typer(help="Extracts of the register.", no_args_is_help=True)
panel_app = typer.Typer(help="The funding and quality panel.", no_args_is_help=True)
reviews_app = typer.Typer(help="s117 reviews (R1-R3).", no_args_is_help=True)


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
    from mappings.council import FileRefused, decode
    from queues.inbound.council import apply
    from register.commands import Agent

    if not file.exists():
        fail(f"{file} does not exist")
    register = build(settings())
    known_body(la, register)
    try:
        batch = decode(file.read_bytes(), la)
    except FileRefused as exc:
        fail(f"{file.name}: {exc}; nothing was imported")
    with progress_bar() as bar:
        task = bar.add_task(f"importing {file.name}", total=len(batch.groups))
        reports = apply(register.service, batch, Agent(la, "la", "s117 import council"),
                        progress=lambda n: bar.update(task, completed=n))
    print_import_report(console, batch, reports)
    if report:
        write_report(report, reports)
    if any(r.status in ("rejected", "not-applied") for r in reports):
        raise typer.Exit(1)


@import_app.command("hl7v2")
def import_hl7v2(
    file: Annotated[Path, typer.Argument(help="HL7 v2 batch file (FHS/BHS) or messages one "
                                          "after another")],
    trust: Annotated[str, typer.Option("--trust", help="the trust whose feed this is (ODS)")],
    unit: Annotated[int, typer.Option(help="messages per transaction")] = 500,
    restart: Annotated[bool, typer.Option(help="ignore the checkpoint of an interrupted "
                                          "import and start from the first message")] = False,
) -> None:
    """Bulk load a trust's HL7 v2 feed (a migration, or years replayed) through the same
    mappings, rules and quarantine as the live feed, many messages per transaction;
    resumable. Exit status 1 if any message was quarantined."""
    _bulk_import(file, "hl7v2", trust, unit, restart)


@import_app.command("fhir")
def import_fhir(
    file: Annotated[Path, typer.Argument(help="NDJSON: one FHIR message Bundle per line")],
    trust: Annotated[str, typer.Option("--trust", help="the trust whose feed this is (ODS)")],
    unit: Annotated[int, typer.Option(help="messages per transaction")] = 500,
    restart: Annotated[bool, typer.Option(help="ignore the checkpoint of an interrupted "
                                          "import and start from the first message")] = False,
) -> None:
    """Bulk load FHIR messages (NDJSON) through the same mappings, rules and quarantine as
    the live feed; resumable. Exit status 1 if any message was quarantined."""
    _bulk_import(file, "fhir", trust, unit, restart)


def _bulk_import(file: Path, channel: str, trust: str, unit: int, restart: bool) -> None:
    from adapter import bulk_import
    from adapter.bootstrap import build, decoders
    from queues.inbound.processor import Processor

    if not file.exists():
        fail(f"{file} does not exist")
    if unit < 1:
        fail("--unit must be at least 1")
    config = settings()
    register = build(config)
    processor = Processor(register.service, register.sessions, decoders(config))
    with progress_bar() as bar:
        task = bar.add_task(f"importing {file.name}", total=None)
        report = bulk_import.run(processor, file, channel, trust, unit=unit, restart=restart,
                                 progress=lambda n, total: bar.update(task, completed=n,
                                                                      total=total))
    if report.resumed_from:
        console.print(f"resumed after message {report.resumed_from:,} (an earlier import "
                      "of this file stopped there)")
    counts = ", ".join(f"{n:,} {status}" for status, n in sorted(report.statuses.items()))
    console.print(f"{report.total - report.resumed_from:,} messages in "
                  f"{report.seconds:.1f} s ({report.messages_per_second:,.0f}/s): {counts}")
    for number, kind in report.quarantined[:20]:
        console.print(f"message {number}: [red]quarantined[/red] ({kind}); "
                      "s117 quarantine list shows why")
    if len(report.quarantined) > 20:
        console.print(f"... and {len(report.quarantined) - 20} more quarantined")
    if report.quarantined:
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
    from adapter.reports.joint_register import FORMATS, export

    if (la is None) == (icb is None):
        fail("give one of --la or --icb")
    if fmt not in FORMATS:
        fail(f"--format {fmt!r}: one of {', '.join(FORMATS)}")
    if fmt == "xlsx" and output is None:
        fail("an xlsx export needs --output FILE")
    day = as_of(on)
    register = build(settings())
    known_body(la or icb or "", register)
    with progress_bar(errors if output is None else console) as bar:
        task = bar.add_task("exporting", total=None)
        count = export(register, fmt, output, la=la, icb=icb, on=day,
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

    items = build(settings()).casework().panel_agenda(la=la, icb=icb, on=date.today())
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
    from register.queries import overdue_reviews

    day = as_of(on)
    register = build(settings())
    print_overdue(console, register, overdue_reviews(register.uow(), day,
                                                     local_authority=la, icb=icb), day)


# The Ombudsman flags by code (RULES.md O1-O4), for --code.
FLAG_CODES = tuple(code.value for code in OMBUDSMAN)


def flags(
    la: Annotated[str | None, typer.Option("--la", help="responsible council (GSS)")] = None,
    icb: Annotated[str | None, typer.Option("--icb", help="responsible ICB (ODS)")] = None,
    code: Annotated[list[str] | None, typer.Option(
        "--code", help="only these flags: no-aftercare-plan (O1), no-assessment (O2), "
                       "entitlement-not-acknowledged (O3), charged-for-s117 (O4)")] = None,
    on: Annotated[str | None, typer.Option("--date", help="as of YYYY-MM-DD (default today)")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """The Ombudsman flags (O1-O4) in force on a caseload, the longest raised first."""
    from adapter.bootstrap import build

    unknown = [c for c in code or [] if c not in FLAG_CODES]
    if unknown:
        fail(f"--code {unknown[0]!r}: one of {', '.join(FLAG_CODES)}")
    day = as_of(on)
    register = build(settings())
    rows = register.casework().ombudsman_flags(la=la, icb=icb, on=day,
                                                codes=tuple(code or ()))
    if as_json:
        sys.stdout.write(json.dumps([r.to_json() for r in rows], indent=2) + "\n")
    else:
        print_flags(console, register, rows, day)


def print_flags(console: Console, register: Register, rows: list[FlagRow], on: date) -> None:
    table = Table("rule", "flag", "since", "days", "NHS number", "council", "ICB", "why",
                  title=f"Ombudsman flags in force on {on} (O1-O4): {len(rows)}")
    for r in rows:
        council = r.local_authority or "-"
        table.add_row(r.rule, r.code, r.since.isoformat(), str(r.days), r.nhs_number,
                      register.refdata.name(council) or council, r.icb or "-", r.reason)
    console.print(table)


def print_agenda(console: Console, rows: list[AgendaRow]) -> None:
    """Fits 100 columns: related values share a column and long text folds; the NHS number
    never wraps or is cut (its column is at least 10 wide), the name folds beneath it."""
    table = Table(title=f"panel agenda: {len(rows)} lines waiting")
    table.add_column("requested", no_wrap=True)
    table.add_column("NHS number, name", overflow="fold", min_width=10)
    table.add_column("council / ICB", overflow="fold")
    table.add_column("plan / line", overflow="fold")
    table.add_column("service, cost a week", overflow="fold")
    table.add_column("funders", overflow="fold")
    table.add_column("status: why the panel", overflow="fold", ratio=1)
    for r in rows:
        cost = f"£{r.weekly_cost:,.2f}" if r.weekly_cost is not None else "-"
        table.add_row(f"{r.requested_on.isoformat()}\n{r.age_days} days",
                      f"{r.nhs_number}\n{r.name}" if r.name else r.nhs_number,
                      f"{r.local_authority or '-'}\n{r.icb or '-'}", f"{r.plan}\n{r.line}",
                      f"{r.service_type}\n{cost}", r.funders, f"{r.status}: {r.reason}")
    console.print(table)


def print_overdue(console: Console, register: Register, rows: list[EntitlementSummary],
                  on: date) -> None:
    table = Table("NHS number", "council", "ICB", "review due", "days overdue",
                  title=f"s117 reviews overdue on {on} (R3): {len(rows)}")
    for row in sorted(rows, key=lambda r: r.next_review_due or on):
        due = row.next_review_due
        table.add_row(row.nhs_number, register.refdata.name(row.local_authority or "") or
                      (row.local_authority or "-"), row.icb or "-",
                      due.isoformat() if due else "-", str((on - due).days) if due else "-")
    console.print(table)


def print_import_report(console: Console, batch: CouncilBatch,
                        reports: list[RowReport]) -> None:
    counts = Counter(r.status for r in reports)
    console.print(f"{batch.row_count} rows, {len(batch.groups)} people: "
                  f"{counts['accepted']} accepted, {counts['unchanged']} unchanged (already "
                  f"imported), {counts['rejected']} rejected, {counts['not-applied']} not "
                  "applied")
    refused = [r for r in reports if r.status in ("rejected", "not-applied")]
    if refused:
        table = Table("row", "status", "field", "reason", title="rows not imported")
        for r in refused:
            table.add_row(str(r.row), r.status, r.field or "", r.reason)
        console.print(table)


def write_report(path: Path, reports: list[RowReport]) -> None:
    """The per-row report as CSV (`--report`)."""
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["row", "status", "field", "reason"])
        writer.writerows([r.row, r.status, r.field or "", r.reason] for r in reports)
