"""What the casework CLI commands show: the panel agenda, overdue reviews, an import's
report, and re-deriving every person (`s117 db reindex`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from adapter.bootstrap import Register
from adapter.council import summary
from mappings.council import CouncilBatch, RowReport
from register.casework import AgendaItem
from register.ports import EntitlementSummary
from register.store.casework_views import CaseworkViews, TaskFilter


def views(register: Register) -> CaseworkViews:
    return CaseworkViews(register.sessions, register.settings.policy)


def reindex(register: Register, progress: Callable[[int, int], None] | None = None
            ) -> tuple[int, int]:
    """Re-derive every person; (people, changes announced)."""
    numbers = views(register).people()
    events = 0
    for done, nhs in enumerate(numbers, start=1):
        events += len(register.service.refresh(nhs))
        if progress:
            progress(done, len(numbers))
    return len(numbers), events


@dataclass(frozen=True)
class AgendaRow:
    """One service line on the panel agenda."""

    requested_on: date
    age_days: int
    nhs_number: str
    local_authority: str | None
    icb: str | None
    plan: str  # the council's own plan id where known
    line: str
    service_type: str
    provider: str
    weekly_cost: Decimal | None
    funders: str
    status: str  # pending | deferred
    reason: str

    def to_json(self) -> dict[str, Any]:
        data = dict(vars(self))
        data["requested_on"] = self.requested_on.isoformat()
        data["weekly_cost"] = str(self.weekly_cost) if self.weekly_cost is not None else None
        return data


def agenda(register: Register, *, la: str | None, icb: str | None, on: date) -> list[AgendaRow]:
    """Lines waiting for a panel decision for a council or ICB (or all), oldest first."""
    casework = views(register)
    _, found = casework.search_tasks(TaskFilter(
        codes=("panel-decision",), statuses=("requested",), owners=(la,) if la else (),
        icbs=(icb,) if icb else ()), count=None)
    rows, works = [], {}
    for person_id, key in found:
        if person_id not in works:
            works[person_id] = casework.person_casework(person_id)
        work = works[person_id]
        task = work.casework.task(key) if work else None
        if task is None or not isinstance(task.record, AgendaItem):
            continue
        state = task.record.state
        plan = work.casework.plan(task.record.plan_id)  # type: ignore[union-attr]
        line = state.line
        rows.append(AgendaRow(
            task.authored_on, (on - task.authored_on).days,
            work.person.facts.nhs_number, task.owner, task.icb,  # type: ignore[union-attr]
            (plan.plan.external_id if plan else None) or task.record.plan_id, line.id,
            line.service_type.value, line.provider, line.weekly_cost,
            "; ".join(f"{s.funder} {s.percent.normalize():f}%" for s in line.funders),
            state.panel.value, state.panel_reason))
    return rows


def print_agenda(console: Console, rows: list[AgendaRow]) -> None:
    """Fits 100 columns: related values share a column and long text folds; the NHS number
    never wraps or is cut."""
    table = Table(title=f"panel agenda: {len(rows)} lines waiting")
    table.add_column("requested", no_wrap=True)
    table.add_column("NHS number", no_wrap=True, min_width=10)
    table.add_column("council / ICB", overflow="fold")
    table.add_column("plan / line", overflow="fold", max_width=14)
    table.add_column("service, cost a week", overflow="fold")
    table.add_column("funders", overflow="fold")
    table.add_column("status: why the panel", overflow="fold", ratio=1)
    for r in rows:
        cost = f"£{r.weekly_cost:,.2f}" if r.weekly_cost is not None else "-"
        table.add_row(f"{r.requested_on.isoformat()}\n{r.age_days} days", r.nhs_number,
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
    counts = summary(reports)
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
