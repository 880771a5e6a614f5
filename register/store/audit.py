"""The audit trail's store: write one record per request or message, and find them again by
what they touched, whose record it was, who asked and when (FHIR `AuditEvent` search, for
admins). Records are only ever inserted (the tables refuse anything else)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, func, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from register.store.audit_tables import AuditEntityRow, AuditEventRow


@dataclass(frozen=True)
class AuditRecord:
    recorded_at: datetime  # naive UTC
    request_id: str
    channel: str  # http | mllp
    action: str  # C R U D E
    subtype: str
    outcome: str  # 0 4 8 12
    method: str
    path: str
    status: int | None = None
    agent_org: str | None = None
    agent_type: str | None = None
    agent_who: str | None = None
    client_address: str | None = None
    query: str | None = None
    detail: str | None = None
    # (reference, role): role domain (a resource), patient (whose record), message (a
    # message id: HL7 v2 MSH-4 and MSH-10)
    entities: tuple[tuple[str, str], ...] = ()
    id: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class AuditFilter:
    """Every field given must hold."""

    entity: str | None = None  # any entity: `EpisodeOfCare/<id>`, `Patient/<id>`
    patient: str | None = None  # `Patient/<id>`
    agent_org: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: datetime | None = None  # recorded at or after
    before: datetime | None = None  # recorded before


class AuditLog:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def record(self, record: AuditRecord) -> int:
        return self.record_many([record])[0]

    def record_many(self, records: Sequence[AuditRecord]) -> list[int]:
        """One transaction for many records (the HTTP writer's batches): their ids, in order."""
        with self.sessions.begin() as session:
            if session.get_bind().dialect.name == "postgresql":
                # An audit row lost in a database crash (not a process crash) is the price of
                # not making every read wait for a disk flush.
                session.execute(text("SET LOCAL synchronous_commit = off"))
            ids = list(session.scalars(
                insert(AuditEventRow).returning(AuditEventRow.id,
                                                sort_by_parameter_order=True),
                [{k: v for k, v in r.__dict__.items() if k not in ("entities", "id")}
                 for r in records]))
            rows = []
            for audit_id, record in zip(ids, records, strict=True):
                entities: dict[str, str] = {}  # one row per reference, the first role wins
                for reference, role in record.entities:
                    entities.setdefault(reference, role)
                rows += [{"audit_id": audit_id, "reference": ref[:120], "role": role}
                         for ref, role in entities.items()]
            if rows:
                session.execute(insert(AuditEntityRow), rows)
        return ids

    def _filtered(self, query: Select, where: AuditFilter) -> Select:  # type: ignore[type-arg]
        a, e = AuditEventRow, AuditEntityRow
        for reference, role in ((where.entity, None), (where.patient, "patient")):
            if reference:
                touched = select(e.audit_id).where(e.reference == reference)
                if role:
                    touched = touched.where(e.role == role)
                query = query.where(a.id.in_(touched))
        for column, value in ((a.agent_org, where.agent_org), (a.action, where.action),
                              (a.outcome, where.outcome)):
            if value:
                query = query.where(column == value)
        if where.since:
            query = query.where(a.recorded_at >= where.since)
        if where.before:
            query = query.where(a.recorded_at < where.before)
        return query

    def search(self, where: AuditFilter, *, offset: int = 0, count: int | None = 50
               ) -> tuple[int, list[AuditRecord]]:
        """(total, one page), newest first."""
        with self.sessions() as session:
            total = session.scalar(self._filtered(select(func.count()).select_from(
                AuditEventRow), where)) or 0
            if count == 0:
                return total, []
            page = self._filtered(select(AuditEventRow), where).order_by(
                AuditEventRow.recorded_at.desc(), AuditEventRow.id.desc()).offset(offset)
            if count is not None:
                page = page.limit(count)
            rows = session.scalars(page).all()
            return total, self._records(session, rows)

    def get(self, audit_id: int) -> AuditRecord | None:
        with self.sessions() as session:
            row = session.get(AuditEventRow, audit_id)
            return self._records(session, [row])[0] if row else None

    def count(self) -> int:
        with self.sessions() as session:
            return session.scalar(select(func.count()).select_from(AuditEventRow)) or 0

    @staticmethod
    def _records(session: Session, rows: Sequence[AuditEventRow]) -> list[AuditRecord]:
        e = AuditEntityRow
        found: dict[int, list[tuple[str, str]]] = {}
        if rows:
            for audit_id, reference, role in session.execute(
                    select(e.audit_id, e.reference, e.role).where(
                        e.audit_id.in_([r.id for r in rows])).order_by(e.audit_id)):
                found.setdefault(audit_id, []).append((reference, role))
        columns = [c.name for c in AuditEventRow.__table__.columns if c.name != "id"]
        return [AuditRecord(**{c: getattr(r, c) for c in columns},
                            entities=tuple(found.get(r.id, ())), id=r.id) for r in rows]
