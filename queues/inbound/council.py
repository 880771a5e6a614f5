"""Applying a council batch file (mappings.council) through the register service, one
person at a time, all or nothing per person, and reporting every row: accepted, unchanged
(already imported), rejected (with the row's reason), or not applied (another row of the
same person was refused). Used by the inbound processor (a council file from the bus) and
`s117 import council`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from mappings.council import CouncilBatch, RowReport
from register.commands import Agent
from register.errors import CommandRefused, RegisterError
from register.service import RegisterService


def apply(service: RegisterService, batch: CouncilBatch, agent: Agent,
          progress: Callable[[int], None] | None = None) -> list[RowReport]:
    """Apply each person's commands in one transaction, `agent` (the council that sent the
    file) as their Provenance; a report line for every row."""
    reports = list(batch.rejected)
    for done, group in enumerate(batch.groups, start=1):
        try:
            outcomes = service.handle_all([replace(c, agent=agent) for c in group.commands])
        except CommandRefused as exc:
            cause = exc.cause
            row = group.row_of(exc.index, cause.field)
            reports.append(RowReport(row, "rejected", str(cause),
                                     group.column_of(exc.index, cause.field)))
            reports += [RowReport(r, "not-applied", f"row {row} of the same person was "
                                  "refused: a person's rows are applied together or not at "
                                  "all") for r in group.all_rows if r != row]
        except RegisterError as exc:  # a conflict with a concurrent writer: nothing applied
            reports += [RowReport(r, "rejected", str(exc)) for r in group.all_rows]
        else:
            applied_rows = {r for o, rows in zip(outcomes, group.rows, strict=True)
                            if o.status != "duplicate" for r in rows}
            reports += [RowReport(r, "accepted" if r in applied_rows else "unchanged",
                                  "" if r in applied_rows else "already imported")
                        for r in group.all_rows]
        if progress:
            progress(done)
    return sorted(reports, key=lambda r: r.row)
