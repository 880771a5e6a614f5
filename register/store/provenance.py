"""Provenance read model: who asked for each applied command (`provenance`), and what it
wrote, found by its command id in the version tables: the person, the entitlements and the
aftercare plans whose new versions it made (FHIR Provenance.target)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, sessionmaker

from register.access import OrgType, Viewer
from register.store import visibility
from register.store.casework_tables import CarePlanVersionRow
from register.store.orm import EntitlementVersionRow, PersonRow, PersonVersionRow, ProvenanceRow


@dataclass(frozen=True)
class ProvenanceRecord:
    id: int
    command_id: str
    kind: str
    agent_org: str | None
    agent_type: str | None
    agent_who: str | None
    recorded_at: datetime
    person_id: int | None
    targets: tuple[str, ...]  # "EpisodeOfCare/<id>/_history/<version>", ...


@dataclass(frozen=True)
class ProvenanceFilter:
    target: str | None = None  # "Patient/<id>", "EpisodeOfCare/<id>", "CarePlan/<id>"
    patient: int | None = None  # a person id
    agent_org: str | None = None
    since: datetime | None = None
    visible_to: Viewer | None = None


class ProvenanceViews:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    @staticmethod
    def _writing(target: str) -> Select[tuple[str]] | None:
        """Ids of the commands that wrote a version of this resource."""
        kind, _, ident = target.partition("/")
        if kind == "Patient" and ident.isdigit():
            return select(PersonVersionRow.command_id).where(
                PersonVersionRow.person_id == int(ident))
        if kind == "EpisodeOfCare":
            return select(EntitlementVersionRow.command_id).where(
                EntitlementVersionRow.entitlement_id == ident)
        if kind == "CarePlan":
            return select(CarePlanVersionRow.command_id).where(
                CarePlanVersionRow.plan_id == ident)
        return None

    def _filtered(self, query: Select, where: ProvenanceFilter) -> Select:  # type: ignore[type-arg]
        p = ProvenanceRow
        if where.target:
            writing = self._writing(where.target)
            query = query.where(p.command_id.in_(writing) if writing is not None
                                else p.id.is_(None))
        if where.patient is not None:
            query = query.where(p.command_id.in_(select(PersonVersionRow.command_id).where(
                PersonVersionRow.person_id == where.patient)))
        if where.agent_org:
            query = query.where(p.agent_org == where.agent_org)
        if where.since:
            query = query.where(p.recorded_at >= where.since)
        people = visibility.people(where.visible_to)
        if where.visible_to is not None and where.visible_to.kind is OrgType.TRUST:
            # A trust sees its own writes, not the councils' casework or other trusts'.
            query = query.where(p.agent_org == where.visible_to.org)
        if people is not None:
            query = query.where(p.command_id.in_(select(PersonVersionRow.command_id).where(
                PersonVersionRow.person_id.in_(select(PersonRow.id).where(people)))))
        return query

    def search(self, where: ProvenanceFilter, *, offset: int = 0, count: int | None = 50
               ) -> tuple[int, list[ProvenanceRecord]]:
        """(total, one page), newest first."""
        with self.sessions() as session:
            total = session.scalar(self._filtered(select(func.count()).select_from(
                ProvenanceRow), where)) or 0
            if count == 0:
                return total, []
            page = self._filtered(select(ProvenanceRow), where).order_by(
                ProvenanceRow.id.desc()).offset(offset)
            if count is not None:
                page = page.limit(count)
            return total, [self._record(session, r) for r in session.scalars(page)]

    def get(self, provenance_id: int) -> ProvenanceRecord | None:
        with self.sessions() as session:
            row = session.get(ProvenanceRow, provenance_id)
            return self._record(session, row) if row else None

    @staticmethod
    def _record(session: Session, row: ProvenanceRow) -> ProvenanceRecord:
        people = session.execute(select(PersonVersionRow.person_id, PersonVersionRow.version)
                                 .where(PersonVersionRow.command_id == row.command_id)).all()
        e = EntitlementVersionRow
        ents = session.execute(select(e.entitlement_id, e.version, e.person_id)
                               .where(e.command_id == row.command_id)).all()
        plans = session.execute(select(CarePlanVersionRow.plan_id, CarePlanVersionRow.version,
                                       CarePlanVersionRow.person_id).where(
            CarePlanVersionRow.command_id == row.command_id)).all()
        targets = ([f"Patient/{p}/_history/{v}" for p, v in people]
                   + [f"EpisodeOfCare/{e}/_history/{v}" for e, v, _ in ents]
                   + [f"CarePlan/{c}/_history/{v}" for c, v, _ in plans])
        person = next(iter([p for p, _ in people] + [p for _, _, p in ents]
                           + [p for _, _, p in plans]), None)
        return ProvenanceRecord(row.id, row.command_id, row.kind, row.agent_org,
                                row.agent_type, row.agent_who, row.recorded_at, person,
                                tuple(targets))
