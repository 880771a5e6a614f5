"""Read models of the casework (FHIR CarePlan, Task, Flag; the panel agenda; the joint
register): plans as stored with their versions, and a person's tasks and alerts derived
again from their facts, found across people through the task and alert indexes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from register import casework
from register.access import Viewer
from register.casework import OMBUDSMAN, AgendaItem, Casework, PlanState
from register.ports import StoredEntitlement, StoredPerson, StoredPlan
from register.rules.ports import LocalityPolicy
from register.store import codec, visibility
from register.store.casework_tables import CarePlanRow, CarePlanVersionRow, CaseworkIndexRow
from register.store.orm import EntitlementRow, PersonRow


@dataclass(frozen=True)
class PersonCasework:
    """A person with their entitlements as stored and the casework derived from them."""

    person: StoredPerson
    entitlements: list[StoredEntitlement]
    casework: Casework


@dataclass(frozen=True)
class PlanFilter:
    ids: tuple[str, ...] = ()
    person_ids: tuple[int, ...] = ()
    entitlement_ids: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    local_authorities: tuple[str, ...] = ()
    icbs: tuple[str, ...] = ()
    visible_to: Viewer | None = None  # only what this organisation may see (None: all)


@dataclass(frozen=True)
class TaskFilter:
    person_ids: tuple[int, ...] = ()
    codes: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    icbs: tuple[str, ...] = ()
    entitlement_ids: tuple[str, ...] = ()
    plan_ids: tuple[str, ...] = ()
    business_statuses: tuple[str, ...] = ()
    due_before: date | None = None  # due before this day (overdue on it)
    due_from: date | None = None  # due on or after this day
    visible_to: Viewer | None = None


@dataclass(frozen=True)
class AlertFilter:
    person_ids: tuple[int, ...] = ()
    codes: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    icbs: tuple[str, ...] = ()
    active_on: date | None = None  # only alerts in force on this day
    inactive_on: date | None = None  # only alerts not in force on this day
    begun_by: date | None = None  # only alerts that had begun by this day
    visible_to: Viewer | None = None


@dataclass(frozen=True)
class AgendaRow:
    """One service line on the panel agenda (the pages, `s117 panel agenda`; the FHIR API
    answers the same question as `Task?code=panel-decision&status=requested`)."""

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
    name: str = ""  # the person's current name (PID-5, Patient.name), for staff who see them

    def to_json(self) -> dict[str, Any]:
        data = dict(vars(self))
        data["requested_on"] = self.requested_on.isoformat()
        data["weekly_cost"] = str(self.weekly_cost) if self.weekly_cost is not None else None
        return data


@dataclass(frozen=True)
class FlagRow:
    """An Ombudsman flag (RULES.md O1-O4) in force on a caseload (`s117 flags`; the FHIR
    API answers the same question as `Flag?code=...&status=active`)."""

    rule: str  # O1-O4
    code: str
    since: date
    days: int  # how long it has been raised on the day asked about
    nhs_number: str
    local_authority: str | None
    icb: str | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {**vars(self), "since": self.since.isoformat()}


def _plan(row: CarePlanRow | CarePlanVersionRow, person_id: int, updated: datetime,
          la: str | None = None, icb: str | None = None) -> StoredPlan:
    return StoredPlan(codec.load(PlanState, row.snapshot), person_id, row.version, updated,
                      la, icb)


class CaseworkViews:
    def __init__(self, sessions: sessionmaker[Session], policy: LocalityPolicy) -> None:
        self.sessions = sessions
        self.policy = policy

    # -- plans -------------------------------------------------------------------------

    def plan(self, plan_id: str) -> StoredPlan | None:
        with self.sessions() as session:
            row = session.get(CarePlanRow, plan_id)
            return _plan(row, row.person_id, row.updated_at, row.responsible_la,
                         row.responsible_icb) if row else None

    def plan_history(self, plan_id: str) -> list[StoredPlan]:
        """Every stored version, newest first."""
        with self.sessions() as session:
            rows = session.scalars(select(CarePlanVersionRow).where(
                CarePlanVersionRow.plan_id == plan_id)
                .order_by(CarePlanVersionRow.version.desc())).all()
            return [_plan(r, r.person_id, r.recorded_at) for r in rows]

    def search_plans(self, where: PlanFilter, *, offset: int = 0,
                     count: int | None = 50) -> tuple[int, list[StoredPlan]]:
        query = self._plans(select(CarePlanRow), where)
        with self.sessions() as session:
            total = session.scalar(self._plans(select(func.count()).select_from(CarePlanRow),
                                               where)) or 0
            if count == 0:
                return total, []
            page = query.order_by(CarePlanRow.id).offset(offset)
            if count is not None:
                page = page.limit(count)
            return total, [_plan(r, r.person_id, r.updated_at, r.responsible_la,
                                 r.responsible_icb) for r in session.scalars(page)]

    @staticmethod
    def _plans(query: Select, where: PlanFilter) -> Select:  # type: ignore[type-arg]
        p = CarePlanRow
        for column, values in ((p.id, where.ids), (p.person_id, where.person_ids),
                               (p.entitlement_id, where.entitlement_ids),
                               (p.status, where.statuses),
                               (p.responsible_la, where.local_authorities),
                               (p.responsible_icb, where.icbs)):
            if values:
                query = query.where(column.in_(values))
        if (visible := visibility.casework_entitlement_ids(where.visible_to)) is not None:
            query = query.where(p.entitlement_id.in_(visible))
        return query

    # -- a person's casework -------------------------------------------------------------

    def people(self) -> list[str]:
        """Every NHS number on the register (merged-away records excluded)."""
        with self.sessions() as session:
            return list(session.scalars(select(PersonRow.nhs_number).where(
                PersonRow.merged_into.is_(None)).order_by(PersonRow.id)))

    def person_casework(self, person_id: int) -> PersonCasework | None:
        with self.sessions() as session:
            row = session.get(PersonRow, person_id)
            if row is None:
                return None
            ents = session.scalars(select(EntitlementRow).where(
                EntitlementRow.person_id == person_id).order_by(EntitlementRow.planned_on))
            stored = [StoredEntitlement(codec.load_entitlement(e.snapshot), e.person_id,
                                        e.version, e.updated_at, e.residence_la,
                                        e.next_review_due) for e in ents]
            person = StoredPerson(row.id, row.version, row.updated_at,
                                  codec.load_facts(row.facts))
        derived = casework.derive(person.facts, [e.entitlement for e in stored], self.policy)
        return PersonCasework(person, stored, derived)

    # -- across people -------------------------------------------------------------------

    def search_tasks(self, where: TaskFilter, *, offset: int = 0, count: int | None = 50
                     ) -> tuple[int, list[tuple[int, str]]]:
        """(total, one page of (person id, task key)), oldest request first."""
        t = CaseworkIndexRow
        query = select(t.person_id, t.key).where(t.kind == "task")
        for column, values in ((t.person_id, where.person_ids), (t.code, where.codes),
                               (t.status, where.statuses), (t.owner, where.owners),
                               (t.icb, where.icbs), (t.entitlement_id, where.entitlement_ids),
                               (t.plan_id, where.plan_ids),
                               (t.business_status, where.business_statuses)):
            if values:
                query = query.where(column.in_(values))
        if where.due_before:
            query = query.where(t.due_on < where.due_before)
        if where.due_from:
            query = query.where(t.due_on >= where.due_from)
        if (visible := visibility.casework_entitlement_ids(where.visible_to)) is not None:
            query = query.where(t.entitlement_id.in_(visible))
        return self._page(query, (t.authored_on, t.person_id, t.key), offset, count)

    def panel_agenda(self, *, la: str | None, icb: str | None, on: date) -> list[AgendaRow]:
        """Lines waiting for a panel decision for a council or ICB (or all), oldest first."""
        _, found = self.search_tasks(TaskFilter(
            codes=("panel-decision",), statuses=("requested",), owners=(la,) if la else (),
            icbs=(icb,) if icb else ()), count=None)
        rows, works = [], {}
        for person_id, key in found:
            if person_id not in works:
                works[person_id] = self.person_casework(person_id)
            work = works[person_id]
            task = work.casework.task(key) if work else None
            if work is None or task is None or not isinstance(task.record, AgendaItem):
                continue
            state = task.record.state
            plan = work.casework.plan(task.record.plan_id)
            line = state.line
            rows.append(AgendaRow(
                task.authored_on, (on - task.authored_on).days,
                work.person.facts.nhs_number, task.owner, task.icb,
                (plan.plan.external_id if plan else None) or task.record.plan_id, line.id,
                line.service_type.value, line.provider, line.weekly_cost,
                "; ".join(f"{s.funder} {s.percent.normalize():f}%" for s in line.funders),
                state.panel.value, state.panel_reason,
                name.text if (name := work.person.facts.current_name()) else ""))
        return rows

    def ombudsman_flags(self, *, la: str | None, icb: str | None, on: date,
                        codes: tuple[str, ...] = ()) -> list[FlagRow]:
        """Ombudsman flags in force on `on` for a council or ICB (or all), longest first."""
        rules = {code.value: rule for code, rule in OMBUDSMAN.items()}
        _, found = self.search_alerts(AlertFilter(
            codes=codes or tuple(rules), owners=(la,) if la else (),
            icbs=(icb,) if icb else (), active_on=on), count=None)
        rows, works = [], {}
        for person_id, key in found:
            if person_id not in works:
                works[person_id] = self.person_casework(person_id)
            work = works[person_id]
            alert = next((a for a in work.casework.alerts if a.key == key), None) \
                if work else None
            if work is None or alert is None or not alert.active_on(on):
                continue
            rows.append(FlagRow(rules[alert.code.value], alert.code.value, alert.since,
                                (on - alert.since).days, work.person.facts.nhs_number,
                                alert.owner, alert.icb, alert.reason))
        return sorted(rows, key=lambda r: (r.since, r.rule, r.nhs_number))

    def search_alerts(self, where: AlertFilter, *, offset: int = 0, count: int | None = 50
                      ) -> tuple[int, list[tuple[int, str]]]:
        a = CaseworkIndexRow
        query = select(a.person_id, a.key).where(a.kind == "alert")
        for column, values in ((a.person_id, where.person_ids), (a.code, where.codes),
                               (a.owner, where.owners), (a.icb, where.icbs)):
            if values:
                query = query.where(column.in_(values))
        if where.active_on:
            day = where.active_on
            query = query.where(a.since <= day, or_(a.until.is_(None), a.until > day))
        if where.inactive_on:
            query = query.where(a.until <= where.inactive_on)
        if where.begun_by:
            query = query.where(a.since <= where.begun_by)
        if (visible := visibility.casework_entitlement_ids(where.visible_to)) is not None:
            query = query.where(a.entitlement_id.in_(visible))
        return self._page(query, (a.since, a.person_id, a.key), offset, count)

    def _page(self, query: Select, order: tuple, offset: int,  # type: ignore[type-arg]
              count: int | None) -> tuple[int, list[tuple[int, str]]]:
        with self.sessions() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            if count == 0:
                return total, []
            page = query.order_by(*order).offset(offset)
            if count is not None:
                page = page.limit(count)
            return total, [(pid, key) for pid, key in session.execute(page)]
