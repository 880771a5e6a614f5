"""Refused attempts by organisation (issue 20): from the audit trail, who was refused how
often, and about how many different people, so an operator sees an organisation probing
records it may not see. `s117 audit refused`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session, sessionmaker

from register.store.audit_tables import AuditEntityRow, AuditEventRow


@dataclass(frozen=True)
class Refusals:
    org: str  # the token's organisation, or "(no token)"
    kind: str  # trust | la | icb | admin | ""
    refused: int  # requests answered 4xx for lack of authority (401, 403, 404 on a record)
    people: int  # distinct people those requests were about
    last: datetime


def refused_by_org(sessions: sessionmaker[Session], since: datetime | None = None
                   ) -> list[Refusals]:
    """Most refused first."""
    e = AuditEventRow
    query = (select(e.agent_org, e.agent_type, func.count(), func.max(e.recorded_at))
             .where(e.status.in_((401, 403)))
             .group_by(e.agent_org, e.agent_type).order_by(func.count().desc()))
    if since is not None:
        query = query.where(e.recorded_at >= since)
    with sessions() as session:
        rows = session.execute(query).all()
        out = []
        for org, kind, count, last in rows:
            who = (AuditEventRow.agent_org == org) if org is not None \
                else AuditEventRow.agent_org.is_(None)
            distinct_people = select(func.count(distinct(AuditEntityRow.reference))).join(
                AuditEventRow, AuditEventRow.id == AuditEntityRow.audit_id).where(
                AuditEntityRow.role == "patient", AuditEventRow.status.in_((401, 403)), who)
            if since is not None:
                distinct_people = distinct_people.where(AuditEventRow.recorded_at >= since)
            out.append(Refusals(org or "(no token)", kind or "", count,
                                session.scalar(distinct_people) or 0, last))
        return out
