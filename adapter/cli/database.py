"""`s117 db ...` (the schema, re-deriving everyone) and `s117 refdata load`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from adapter.cli.console import console, fail, progress_bar, settings
from register.errors import RegisterError

db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
refdata_app = typer.Typer(help="Reference data: geography, GP practices, postcodes, NHS "
                          "succession.",
                          no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply Alembic migrations to S117_DATABASE_URL."""
    from register.store import database

    database.upgrade(settings().database_url)
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

    from adapter.bootstrap import build, reindex
    from register.redeterminations import write_csv
    from register.rules.citations import CITATIONS

    register = build(settings())
    with progress_bar() as bar:
        task = bar.add_task("re-deriving", total=None)
        report = reindex(register.service, register.casework(),
                         progress=lambda n, total: bar.update(task, completed=n, total=total))
    write_csv(report, changes_csv)
    console.print(f"{report.people} people re-derived; {report.events} changes announced; "
                  f"{len(report.changes)} determinations changed")
    if report.changes:
        table = Table("rule", "determinations changed", "law", title="why (by rule)")
        for rule, count in report.by_rule().most_common():
            table.add_row(rule, str(count), CITATIONS.get(rule, ""))
        console.print(table)
    console.print(f"wrote {changes_csv}")


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
        fail(f"unknown reference data {kind!r}: geography, epraccur, postcodes, succession "
             "or sub-icb-parents")
    if kind != "geography" and (file is None or not file.exists()):
        fail(f"{kind} needs an existing FILE")
    register = build(settings())
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
        fail(exc)
    console.print(f"loaded {count} {kind} rows")
