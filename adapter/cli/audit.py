"""`s117 audit refused`: refused attempts by organisation, from the audit trail."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import typer
from rich.table import Table

from adapter.cli.console import console, fail, settings

audit_app = typer.Typer(help="The audit trail: who was refused what.", no_args_is_help=True)


@audit_app.command("refused")
def refused(
    since: Annotated[str | None, typer.Option(help="from YYYY-MM-DD (default: all)")] = None,
) -> None:
    """Requests refused for lack of authority (401, 403) by organisation, with how many
    different people they were about: an organisation probing records it may not see
    stands out. Admins see each attempt with `AuditEvent?agent=ORG&outcome=4`."""
    from adapter.bootstrap import build
    from register.store.audit_report import refused_by_org

    try:
        start = datetime.combine(date.fromisoformat(since), datetime.min.time()) \
            if since else None
    except ValueError:
        fail(f"--since {since!r} is not YYYY-MM-DD")
    rows = refused_by_org(build(settings()).sessions, start)
    most = max((r.refused for r in rows), default=0)
    table = Table(title="Refused attempts by organisation")
    for name in ("organisation", "kind", "refused", "people", "last", ""):
        table.add_column(name, justify="right" if name in ("refused", "people") else "left")
    for r in rows:
        bar = "█" * max(1, round(30 * r.refused / most)) if most else ""
        table.add_row(r.org, r.kind, f"{r.refused:,}", f"{r.people:,}",
                      r.last.strftime("%Y-%m-%d %H:%M"), f"[red]{bar}[/red]")
    console.print(table)
    console.print(f"{sum(r.refused for r in rows):,} refused request(s) from {len(rows)} "
                  "organisation(s)")
