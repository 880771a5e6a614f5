"""`s117 db ...` (the schema, re-deriving everyone) and `s117 refdata load`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from adapter.cli.console import console, fail, progress_bar, settings
from register.errors import RegisterError

db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
refdata_app = typer.Typer(help="Reference data: geography, GP practices, postcodes.",
                          no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply Alembic migrations to S117_DATABASE_URL."""
    from register.store import database

    database.upgrade(settings().database_url)
    console.print("database at head revision")


@db_app.command("reindex")
def db_reindex() -> None:
    """Derive every person's entitlements and casework again with the rules and locality
    policy now in force (after an upgrade or a policy change); changes are announced."""
    from adapter.bootstrap import build, reindex

    register = build(settings())
    with progress_bar() as bar:
        task = bar.add_task("re-deriving", total=None)
        people, events = reindex(register.service, register.casework(),
                                 progress=lambda n, total: bar.update(
            task, completed=n, total=total))
    console.print(f"{people} people re-derived; {events} changes announced")


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
        fail(f"unknown reference data {kind!r}: geography, epraccur or postcodes")
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
