"""What the casework CLI commands show: the panel agenda, overdue reviews, an import's
report, and re-deriving every person (`s117 db reindex`)."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from rich.console import Console
from rich.table import Table

from adapter.bootstrap import Register
from adapter.council import summary
from mappings.council import CouncilBatch, RowReport
from register.casework import AgendaItem
from register.events import EventType
from register.model import Entitlement
from register.ports import EntitlementSummary
from register.rules.citations import CITATIONS
from register.store.casework_views import CaseworkViews, TaskFilter
from register.store.views import RegisterViews


def views(register: Register) -> CaseworkViews:
    return CaseworkViews(register.sessions, register.settings.policy)


@dataclass(frozen=True)
class Redetermination:
    """One entitlement whose holders changed on re-derivation (`s117 db reindex`)."""

    nhs_number: str
    entitlement_id: str
    changed_from: date
    previous_local_authority: str | None
    previous_icb: str | None
    local_authority: str | None
    icb: str | None
    rule: str  # the rule that now decides the holder from `changed_from`
    citation: str
    needs_review: str

    FIELDS: ClassVar[tuple[str, ...]] = (
        "nhs_number", "entitlement_id", "changed_from", "previous_local_authority",
        "previous_icb", "local_authority", "icb", "rule", "citation", "needs_review")


@dataclass
class ReindexReport:
    people: int = 0
    events: int = 0
    changes: list[Redetermination] = field(default_factory=list)

    def by_rule(self) -> Counter[str]:
        return Counter(c.rule for c in self.changes)


def _why(ent: Entitlement, day: date) -> tuple[str, str]:
    """The rule (and its law) that decides the holder from `day`: the segment's N rule, or
    the local authority rule when only the council moved."""
    seg = ent.responsibility_on(day)
    if seg is None:
        return "-", ""
    if seg.icb and seg.original_body and seg.icb != seg.original_body:
        rule = "N6"  # the body named is unchanged; its duty passed to a successor
    else:
        rule = seg.nhs_rule or next((b.rule_id for b in seg.basis if b.rule_id[0] == "L"),
                                    "-")
    return rule, CITATIONS.get(rule, "")


def reindex(register: Register, progress: Callable[[int, int], None] | None = None
            ) -> ReindexReport:
    """Re-derive every person with the rules in force; what changed and why."""
    numbers = views(register).people()
    entitlements = RegisterViews(register.sessions)
    report = ReindexReport(people=len(numbers))
    for done, nhs in enumerate(numbers, start=1):
        events = register.service.refresh(nhs)
        report.events += len(events)
        for event in events:
            if event.event is not EventType.RESPONSIBILITY_CHANGED:
                continue
            stored = entitlements.entitlement(event.entitlement_id)
            if stored is None:
                continue
            rule, citation = _why(stored.entitlement, event.effective)
            report.changes.append(Redetermination(
                nhs, event.entitlement_id, event.effective, event.previous_local_authority,
                event.previous_icb, event.local_authority, event.icb, rule, citation,
                "; ".join(stored.entitlement.needs_review)))
        if progress:
            progress(done, len(numbers))
    return report


def write_changes(report: ReindexReport, path: Path) -> None:
    """The re-determinations as CSV, for the councils and ICBs affected."""
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(Redetermination.FIELDS)
        for change in report.changes:
            writer.writerow([getattr(change, name) or "" for name in Redetermination.FIELDS])


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
    table = Table("age (days)", "requested", "NHS number", "council", "ICB", "plan", "line",
                  "service", "weekly cost", "funders", "status", "why the panel",
                  title=f"panel agenda: {len(rows)} lines waiting")
    for r in rows:
        table.add_row(str(r.age_days), r.requested_on.isoformat(), r.nhs_number,
                      r.local_authority or "-", r.icb or "-", r.plan, r.line, r.service_type,
                      f"£{r.weekly_cost:,.2f}" if r.weekly_cost is not None else "-",
                      r.funders, r.status, r.reason)
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
