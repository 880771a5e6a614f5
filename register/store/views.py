"""Read models for the FHIR API: people and entitlements by their opaque ids, any stored
version of them, and paged entitlement searches. Reads go straight to the tables (the
cosmicpython "views" pattern); writes always go through the service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased, sessionmaker

from register.access import Viewer
from register.ports import StoredEntitlement, StoredPerson
from register.store import codec, visibility
from register.store.orm import (
    EntitlementRow,
    EntitlementVersionRow,
    HolderSegmentRow,
    PersonRow,
    PersonVersionRow,
    name_key,
)


@dataclass(frozen=True)
class EntitlementFilter:
    """Search criteria; every field given must hold (AND)."""

    ids: tuple[str, ...] = ()
    person_ids: tuple[int, ...] = ()
    nhs_numbers: tuple[str, ...] = ()
    local_authorities: tuple[str, ...] = ()
    icbs: tuple[str, ...] = ()
    residence_las: tuple[str, ...] = ()
    out_of_area: bool | None = None
    statuses: tuple[str, ...] = ()
    # Each (comparator, day) must hold of the entitlement's period [planned_on, ended_on].
    dates: tuple[tuple[str, date], ...] = ()
    updated_since: datetime | None = None
    visible_to: Viewer | None = None  # only what this organisation may see (None: all)
    # With local_authorities/icbs: the bodies holding the duty on this date (the holder
    # timeline, RULES.md N), not the current holders.
    held_on: date | None = None


def _person(row: PersonRow) -> StoredPerson:
    return StoredPerson(row.id, row.version, row.updated_at, codec.load_facts(row.facts))


def _entitlement(row: EntitlementRow) -> StoredEntitlement:
    return StoredEntitlement(codec.load_entitlement(row.snapshot), row.person_id, row.version,
                             row.updated_at, row.residence_la, row.next_review_due)


def _date_clause(comparator: str, day: date):  # type: ignore[no-untyped-def]
    """FHIR date search on a period: `eq` overlaps the day, `lt`/`le` started before,
    `gt`/`ge` still running after (search spec 3.1.1.4.2, periods)."""
    start, end = EntitlementRow.planned_on, EntitlementRow.ended_on
    open_or = {"gt": lambda: or_(end.is_(None), end > day),
               "ge": lambda: or_(end.is_(None), end >= day),
               "lt": lambda: start < day, "le": lambda: start <= day,
               "eq": lambda: and_(start <= day, or_(end.is_(None), end >= day)),
               "ne": lambda: or_(start > day, and_(end.is_not(None), end < day))}
    return open_or[comparator]()


def _held_on(where: EntitlementFilter) -> Select:  # type: ignore[type-arg]
    """Entitlements whose holder timeline names the bodies on `where.held_on`: the latest
    segment begun by then (as Entitlement.responsibility_on reads it, so an entitlement that
    ended before the date keeps its last holders)."""
    h, later, day = HolderSegmentRow, aliased(HolderSegmentRow), where.held_on
    query = select(h.entitlement_id).where(h.valid_from <= day, ~exists().where(
        later.entitlement_id == h.entitlement_id, later.valid_from > h.valid_from,
        later.valid_from <= day))
    if where.local_authorities:
        query = query.where(h.local_authority.in_(where.local_authorities))
    if where.icbs:
        query = query.where(h.icb.in_(where.icbs))
    return query


class RegisterViews:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def person(self, person_id: int) -> StoredPerson | None:
        with self.sessions() as session:
            row = session.get(PersonRow, person_id)
            return _person(row) if row else None

    def person_ids_by_nhs_number(self, nhs_numbers: tuple[str, ...]) -> list[int]:
        with self.sessions() as session:
            return list(session.scalars(select(PersonRow.id).where(
                PersonRow.nhs_number.in_(nhs_numbers)).order_by(PersonRow.id)))

    def person_ids_by_name(self, family: str, birth_date: date, limit: int = 50) -> list[int]:
        """People whose current family name (folded, uow.name_key) and date of birth match:
        the caller filters by what it may see. Merged-away records are left out."""
        with self.sessions() as session:
            return list(session.scalars(select(PersonRow.id).where(
                PersonRow.name_key == name_key(family), PersonRow.birth_date == birth_date,
                PersonRow.merged_into.is_(None)).order_by(PersonRow.id).limit(limit)))

    def person_version(self, person_id: int, version: int) -> StoredPerson | None:
        with self.sessions() as session:
            row = session.get(PersonVersionRow, (person_id, version))
            if row is None:
                return None
            return StoredPerson(person_id, version, row.recorded_at,
                                codec.load_facts(row.facts))

    def person_history(self, person_id: int) -> list[StoredPerson]:
        with self.sessions() as session:
            rows = session.scalars(select(PersonVersionRow).where(
                PersonVersionRow.person_id == person_id)
                .order_by(PersonVersionRow.version.desc())).all()
            return [StoredPerson(person_id, r.version, r.recorded_at, codec.load_facts(r.facts))
                    for r in rows]

    def entitlement(self, entitlement_id: str) -> StoredEntitlement | None:
        with self.sessions() as session:
            row = session.get(EntitlementRow, entitlement_id)
            return _entitlement(row) if row else None

    def entitlements_of(self, person_id: int) -> list[StoredEntitlement]:
        with self.sessions() as session:
            rows = session.scalars(select(EntitlementRow).where(
                EntitlementRow.person_id == person_id).order_by(EntitlementRow.planned_on)).all()
            return [_entitlement(r) for r in rows]

    def entitlement_version(self, entitlement_id: str, version: int
                            ) -> StoredEntitlement | None:
        with self.sessions() as session:
            row = session.get(EntitlementVersionRow, (entitlement_id, version))
            return self._version(row) if row else None

    def entitlement_history(self, entitlement_id: str | None = None, *,
                            since: datetime | None = None, limit: int = 100,
                            visible_to: Viewer | None = None) -> list[StoredEntitlement]:
        """Versions newest first: of one entitlement, or of all (type-level history), those
        recorded at or after `since` (naive UTC) if given; of the entitlements `visible_to`
        sees now, if given."""
        query = select(EntitlementVersionRow)
        if entitlement_id:
            query = query.where(EntitlementVersionRow.entitlement_id == entitlement_id)
        if since:
            query = query.where(EntitlementVersionRow.recorded_at >= since)
        if (visible := visibility.entitlement_ids(visible_to)) is not None:
            query = query.where(EntitlementVersionRow.entitlement_id.in_(visible))
        with self.sessions() as session:
            rows = session.scalars(query.order_by(EntitlementVersionRow.recorded_at.desc(),
                                                  EntitlementVersionRow.version.desc())
                                   .limit(limit)).all()
            return [self._version(r) for r in rows]

    @staticmethod
    def _version(row: EntitlementVersionRow) -> StoredEntitlement:
        return StoredEntitlement(codec.load_entitlement(row.snapshot), row.person_id,
                                 row.version, row.recorded_at, row.residence_la,
                                 row.next_review_due)

    def search_entitlements(self, where: EntitlementFilter, *, offset: int = 0,
                            count: int | None = 50) -> tuple[int, list[StoredEntitlement]]:
        """(total matches, one page in a stable order)."""
        query = self._filtered(select(EntitlementRow), where)
        with self.sessions() as session:
            total = session.scalar(self._filtered(
                select(func.count()).select_from(EntitlementRow), where)) or 0
            if count == 0:
                return total, []
            page = query.order_by(EntitlementRow.planned_on, EntitlementRow.id).offset(offset)
            if count is not None:
                page = page.limit(count)
            return total, [_entitlement(r) for r in session.scalars(page)]

    def page_entitlements(self, where: EntitlementFilter, *, offset: int = 0, count: int = 50
                          ) -> tuple[list[StoredEntitlement], bool]:
        """One page in a stable order, and whether more follow, without counting every
        match (one row more than the page is read to know)."""
        query = self._filtered(select(EntitlementRow), where).order_by(
            EntitlementRow.planned_on, EntitlementRow.id).offset(offset).limit(count + 1)
        with self.sessions() as session:
            rows = [_entitlement(r) for r in session.scalars(query)]
        return rows[:count], len(rows) > count

    @staticmethod
    def _filtered(query: Select, where: EntitlementFilter) -> Select:  # type: ignore[type-arg]
        e = EntitlementRow
        if where.ids:
            query = query.where(e.id.in_(where.ids))
        if where.person_ids:
            query = query.where(e.person_id.in_(where.person_ids))
        if where.nhs_numbers:
            query = query.where(e.person_id.in_(select(PersonRow.id).where(
                PersonRow.nhs_number.in_(where.nhs_numbers))))
        if where.held_on and (where.local_authorities or where.icbs):
            query = query.where(e.id.in_(_held_on(where)))
        elif where.local_authorities or where.icbs:
            if where.local_authorities:
                query = query.where(e.responsible_la.in_(where.local_authorities))
            if where.icbs:
                query = query.where(or_(e.responsible_icb.in_(where.icbs),
                                        e.paying_icb.in_(where.icbs)))
        if where.residence_las:
            query = query.where(e.residence_la.in_(where.residence_las))
        if where.out_of_area is True:
            query = query.where(e.residence_la != e.responsible_la)
        elif where.out_of_area is False:
            query = query.where(or_(e.residence_la.is_(None), e.responsible_la.is_(None),
                                    e.residence_la == e.responsible_la))
        if where.statuses:
            query = query.where(e.status.in_(where.statuses))
        for comparator, day in where.dates:
            query = query.where(_date_clause(comparator, day))
        if where.updated_since:
            query = query.where(e.updated_at >= where.updated_since)
        if (visible := visibility.entitlements(where.visible_to)) is not None:
            query = query.where(visible)
        return query
