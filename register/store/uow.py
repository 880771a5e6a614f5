"""Repositories and the unit of work over SQLAlchemy sessions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from functools import cache
from typing import Any

from sqlalchemy import delete, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql.dml import ReturningInsert

from register import access
from register.commands import Command
from register.errors import ConcurrencyConflict, InvalidData
from register.events import EntitlementEvent, EventType
from register.model import Entitlement, PersonFacts, Responsibility
from register.ports import EntitlementSummary, HeldCommand, PersonRecord
from register.store import codec, outbox
from register.store.base import Base
from register.store.casework_writes import SqlCasework
from register.store.dialect import dialect_of, utcnow
from register.store.dialect import insert as dialect_insert
from register.store.federation_tables import ReplicaRow
from register.store.orm import (
    DeterminationRow,
    EntitlementRow,
    EntitlementVersionRow,
    HeldRow,
    HolderSegmentRow,
    InboxRow,
    OutboxRow,
    PersonRow,
    PersonVersionRow,
    ProvenanceRow,
    StatusHistoryRow,
    name_key,
)
from register.store.replicas import SqlReplicas

_STATUS_EVENTS = {EventType.PLANNED, EventType.STARTED, EventType.ENDED, EventType.REINSTATED,
                  EventType.UPDATED}


def name_key_of(facts: PersonFacts) -> str | None:
    name = facts.current_name()
    return name_key(name.family) or None if name else None


def trusts_column(facts: PersonFacts) -> str:
    """The `person.trusts` column: ",R1A,RLQ," (register.store.visibility matches on it)."""
    codes = sorted(access.trusts_of(facts))
    return f",{','.join(codes)}," if codes else ""


class Appends:
    """Rows that are only ever inserted (versions, history, outbox), written at commit as one
    multi-row INSERT per table instead of one ORM insert each: most of a command's cost."""

    def __init__(self) -> None:
        self.rows: dict[type[Base], list[dict[str, Any]]] = {}

    def add(self, model: type[Base], **values: Any) -> None:
        self.rows.setdefault(model, []).append(values)

    def mark(self) -> dict[type[Base], int]:
        return {model: len(rows) for model, rows in self.rows.items()}

    def restore(self, mark: dict[type[Base], int]) -> None:
        """Forget the rows added since `mark` (their savepoint was rolled back)."""
        for model, rows in self.rows.items():
            del rows[mark.get(model, 0):]

    def write(self, session: Session) -> None:
        for model, rows in self.rows.items():
            if rows:
                # The table, not the ORM: an ORM bulk insert splits the rows wherever a
                # column's None comes and goes, down to one statement a row (issue 22).
                session.execute(insert(model.__table__), rows)
        self.rows.clear()


def flush(session: Session) -> None:
    """Flush where the code needs stored rows; a person another process created meanwhile
    (a new person's INSERT may wait until here, see SqlPeople.add) is a conflict to retry."""
    try:
        session.flush()
    except IntegrityError as exc:
        raise ConcurrencyConflict("the record was changed by someone else; retry") from exc


class SqlPeople:
    def __init__(self, session: Session, appends: Appends,
                 owners: dict[int, tuple[str, int] | None] | None = None,
                 held: SqlHeld | None = None) -> None:
        self.session = session
        self.appends = appends
        self.held = held
        # SqlReplicas.owners: who owns each person read (None: this register).
        self.owners = owners if owners is not None else {}
        # Ids taken ahead from the person sequence for the people a batch creates.
        self.reserved: list[int] = []
        self.rows: dict[str, PersonRow] = {}
        self.entitlement_rows: dict[str, EntitlementRow] = {}  # every one loaded in this UoW
        self.absent: set[str] = set()  # NHS numbers read and not found
        self.wrote: set[str] = set()  # ids of the commands that made a new version
        # Holder timelines to store at commit, the latest per entitlement (several commands of
        # one batch may re-derive the same entitlement; only its last timeline is kept).
        self.segments_due: dict[str, list[Responsibility]] = {}

    def get(self, nhs_number: str) -> PersonRecord | None:
        """The person as this unit of work last saved them: read once (or by `preload`),
        then rebuilt from the loaded rows, which every save keeps current."""
        if nhs_number in self.absent:
            return None
        row = self.rows.get(nhs_number)
        if row is None:
            self._read([nhs_number])
            row = self.rows.get(nhs_number)
            if row is None:
                return None
        ents = sorted((e for e in self.entitlement_rows.values() if e.person_id == row.id),
                      key=lambda e: (e.planned_on, e.id))
        return PersonRecord(
            facts=codec.load_facts(row.facts),
            entitlements=[codec.load_entitlement(e.snapshot) for e in ents],
            residence_la=row.residence_la,
            next_review_due={e.id: e.next_review_due for e in ents}, id=row.id, held=row.held,
            version=row.version, entitlement_versions={e.id: e.version for e in ents})

    def preload(self, nhs_numbers: list[str]) -> None:
        """Read the people a batch of commands is about (and their entitlements) in one
        query instead of one each."""
        wanted = [n for n in dict.fromkeys(nhs_numbers)
                  if n not in self.rows and n not in self.absent]
        if wanted:
            self._read(wanted)
            if self.held is not None:  # those with held commands will retry them
                self.held.preload([n for n in wanted if n in self.rows and self.rows[n].held])
        new = sum(n in self.absent for n in wanted) - len(self.reserved)
        if new > 1 and dialect_of(self.session) == "postgresql":
            # The people this batch creates get their ids in one round trip, so `add` need
            # not insert each at once to learn its id (a round trip per new person).
            self.reserved += self.session.scalars(text(
                "SELECT nextval(pg_get_serial_sequence('person', 'id')) "
                "FROM generate_series(1, :n)"), {"n": new}).all()

    def _read(self, nhs_numbers: list[str]) -> None:
        # Each person, their entitlements and whether the person is a replica held for
        # another register, in one round trip (the identity map makes the repeated person
        # columns one object).
        found = self.session.execute(
            select(PersonRow, EntitlementRow, ReplicaRow.owner_region, ReplicaRow.owner_event)
            .outerjoin(EntitlementRow, EntitlementRow.person_id == PersonRow.id)
            .outerjoin(ReplicaRow, ReplicaRow.person_id == PersonRow.id)
            .where(PersonRow.nhs_number.in_(nhs_numbers))).all()
        for row, ent, owner, event in found:
            self.rows[row.nhs_number] = row
            self.owners[row.id] = (owner, event) if owner is not None else None
            if ent is not None:
                self.entitlement_rows[ent.id] = ent
        self.absent.update(n for n in nhs_numbers if n not in self.rows)

    def forget_loaded(self) -> None:
        """After a rollback to a savepoint the loaded rows may hold undone changes."""
        self.rows, self.entitlement_rows, self.absent = {}, {}, set()
        self.owners.clear()

    def add(self, record: PersonRecord) -> None:
        row = PersonRow(nhs_number=record.facts.nhs_number, facts=codec.dump(record.facts),
                        residence_la=record.residence_la, held=record.held, updated_at=utcnow(),
                        trusts=trusts_column(record.facts), version=1,
                        name_key=name_key_of(record.facts),
                        birth_date=record.facts.date_of_birth)
        if self.reserved:
            # Inserted at the next flush (at commit, with the others): someone else creating
            # the same person meanwhile is a ConcurrencyConflict there.
            row.id = self.reserved.pop()
            self.session.add(row)
        else:
            self.session.add(row)
            flush(self.session)
        record.id = row.id
        self.owners[row.id] = None  # created here: this register owns the record
        self.rows[record.facts.nhs_number] = row
        self.absent.discard(record.facts.nhs_number)

    def save(self, record: PersonRecord, events: list[EntitlementEvent],
             command_id: str) -> None:
        row = self.rows[record.facts.nhs_number]
        new = record.version == 0
        # Only this person's entitlements: a batch may have loaded hundreds of others'.
        before = {"": 0 if new else row.version,
                  **{e.id: self.entitlement_rows[e.id].version for e in record.entitlements
                     if e.id in self.entitlement_rows}}
        row.facts = codec.dump(record.facts)
        row.residence_la = record.residence_la
        row.merged_into = record.facts.merged_into
        row.trusts = trusts_column(record.facts)
        row.name_key = name_key_of(record.facts)
        row.birth_date = record.facts.date_of_birth
        row.held = record.held
        if not new and self.session.is_modified(row):
            row.version += 1
            row.updated_at = utcnow()
        by_id = {e.id: e for e in record.entitlements}
        for ent in record.entitlements:
            self._save_entitlement(self.entitlement_rows.get(ent.id), ent, row.id, record)
        # Not flushed here: a batch writes each changed row once, at commit (a version
        # conflict with another process is found there and the batch is retried).
        self._versions(row, before, record, command_id)
        self._history(events, by_id, command_id)

    def _versions(self, row: PersonRow, before: dict[str, int], record: PersonRecord,
                  command_id: str) -> None:
        """Keep every version that this save produced (the version column moved, or the
        row is new), so any earlier version can be read back (FHIR vread, history)."""
        now = utcnow()
        if row.version != before[""]:
            self.wrote.add(command_id)
            self.appends.add(PersonVersionRow, person_id=row.id, version=row.version,
                             facts=row.facts, recorded_at=now, command_id=command_id)
        for ent in record.entitlements:
            ent_row = self.entitlement_rows[ent.id]
            if ent_row.version != before.get(ent.id):
                self.wrote.add(command_id)
                self.appends.add(
                    EntitlementVersionRow,
                    entitlement_id=ent.id, version=ent_row.version, person_id=row.id,
                    snapshot=ent_row.snapshot, residence_la=ent_row.residence_la,
                    next_review_due=ent_row.next_review_due, recorded_at=now,
                    command_id=command_id)

    def _save_entitlement(self, row: EntitlementRow | None, ent: Entitlement, person_id: int,
                          record: PersonRecord) -> None:
        cur = ent.current
        values: dict[str, Any] = dict(
            person_id=person_id, status=ent.status.value, planned_on=ent.planned_on,
            started_on=ent.started_on, ended_on=ent.ended_on,
            responsible_la=cur.local_authority if cur else None,
            responsible_icb=cur.icb if cur else None,
            commissioning_body=cur.commissioning_body if cur else None,
            paying_body=cur.paying_body if cur else None,
            paying_icb=cur.paying_icb if cur else None,
            residence_la=record.residence_la,
            next_review_due=record.next_review_due.get(ent.id),
            needs_review=bool(ent.needs_review), snapshot=codec.dump(ent))
        if row is None:
            row = self.session.get(EntitlementRow, ent.id)
        self._check_owner(row, person_id, record)
        if row is None:
            row = EntitlementRow(id=ent.id, version=1, updated_at=utcnow(), **values)
            self.session.add(row)
            self.entitlement_rows[ent.id] = row
            self.segments_due[ent.id] = list(ent.responsibilities)
            return
        changed = {k: v for k, v in values.items() if getattr(row, k) != v}
        if changed:
            for key, value in changed.items():
                setattr(row, key, value)
            row.version += 1
            row.updated_at = utcnow()
            # The holder timeline rows follow the snapshot (it changes with any segment).
            self.segments_due[ent.id] = list(ent.responsibilities)

    def write_segments(self) -> None:
        """At commit: each re-derived entitlement's holder_segment rows replaced at once."""
        if not self.segments_due:
            return
        self.session.execute(delete(HolderSegmentRow).where(
            HolderSegmentRow.entitlement_id.in_(list(self.segments_due))))
        rows = [dict(entitlement_id=ent_id, seq=seq, valid_from=r.effective_from,
                     valid_to=r.effective_to, local_authority=r.local_authority, icb=r.icb,
                     original_body=r.original_body, nhs_rule=r.nhs_rule,
                     needs_review=bool(r.needs_review))
                for ent_id, segments in self.segments_due.items()
                for seq, r in enumerate(segments)]
        if rows:
            self.session.execute(insert(HolderSegmentRow), rows)
        self.segments_due.clear()

    def _check_owner(self, row: EntitlementRow | None, person_id: int,
                      record: PersonRecord) -> None:
        """An entitlement's id comes from its first stay (trust + visit number), so a row of
        another person with that id means the trust sent one visit number for two people.
        Only a merge may move an entitlement to another person."""
        if row is None or row.person_id == person_id:
            return
        owner = next((r for r in self.rows.values() if r.id == row.person_id), None)
        if owner is not None and owner.merged_into == record.facts.nhs_number:
            return
        raise InvalidData("this trust's stay reference is already recorded for another "
                          "person: check the visit number, or merge the two records",
                          field="stay_ref")

    def _history(self, events: list[EntitlementEvent], by_id: dict[str, Entitlement],
                 command_id: str) -> None:
        now = utcnow()
        for event in events:
            ent = by_id.get(event.entitlement_id)
            if ent is None:
                continue
            cur = ent.current
            if cur and event.event in (EventType.PLANNED, EventType.RESPONSIBILITY_CHANGED):
                self.appends.add(
                    DeterminationRow,
                    entitlement_id=ent.id, effective_from=cur.effective_from, recorded_at=now,
                    rule_set=cur.rule_set, local_authority=cur.local_authority, icb=cur.icb,
                    original_body=cur.original_body, commissioning_body=cur.commissioning_body,
                    paying_body=cur.paying_body, paying_icb=cur.paying_icb,
                    basis=[codec.dump(b) for b in cur.basis],
                    needs_review=list(cur.needs_review), command_id=command_id)
            if event.event in _STATUS_EVENTS:
                self.appends.add(
                    StatusHistoryRow,
                    entitlement_id=ent.id, status=event.status, effective=event.effective,
                    reason=event.detail, recorded_at=now, command_id=command_id)

    def find_entitlement(self, entitlement_id: str) -> str | None:
        flush(self.session)  # an entitlement saved earlier in this unit of work
        return self.session.scalar(
            select(PersonRow.nhs_number).join(EntitlementRow,
                                              EntitlementRow.person_id == PersonRow.id)
            .where(EntitlementRow.id == entitlement_id))

    def search(self, *, local_authority: str | None = None, icb: str | None = None,
               residence_la: str | None = None, out_of_area: bool = False,
               status: str | None = None, review_due_before: date | None = None,
               limit: int = 1000) -> list[EntitlementSummary]:
        query = select(EntitlementRow, PersonRow.nhs_number).join(
            PersonRow, EntitlementRow.person_id == PersonRow.id)
        if local_authority:
            query = query.where(EntitlementRow.responsible_la == local_authority)
        if icb:
            query = query.where(or_(EntitlementRow.responsible_icb == icb,
                                    EntitlementRow.paying_icb == icb))
        if residence_la:
            query = query.where(EntitlementRow.residence_la == residence_la)
        if out_of_area:
            query = query.where(EntitlementRow.residence_la != EntitlementRow.responsible_la)
        if status:
            query = query.where(EntitlementRow.status == status)
        if review_due_before:
            query = query.where(EntitlementRow.next_review_due < review_due_before)
        rows = self.session.execute(query.order_by(EntitlementRow.planned_on,
                                                   EntitlementRow.id).limit(limit))
        return [EntitlementSummary(
            entitlement_id=e.id, nhs_number=nhs, status=e.status, planned_on=e.planned_on,
            started_on=e.started_on, ended_on=e.ended_on, local_authority=e.responsible_la,
            icb=e.responsible_icb, residence_la=e.residence_la,
            next_review_due=e.next_review_due, needs_review=e.needs_review)
            for e, nhs in rows]


@cache
def _claim_statement(dialect: str) -> ReturningInsert[tuple[str]]:
    """INSERT .. ON CONFLICT DO NOTHING RETURNING, built once: claiming is on every command."""
    table = InboxRow.__table__
    return dialect_insert(dialect, table).on_conflict_do_nothing(
        index_elements=["command_id"]).returning(table.c.command_id)


class SqlInbox:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.fresh: set[str] = set()  # claimed ahead by `preclaim`, not yet applied
        self.known: dict[str, str] = {}  # outcome of ids seen in this unit of work

    def preclaim(self, commands: list[tuple[str, str]]) -> None:
        """Claim a batch's command ids (id, kind) in one statement instead of one each, and
        read the outcome of those already recorded in one more. `claim` then answers from
        memory. Only for a batch applied all or nothing: an id claimed here and never
        applied is dropped again at commit."""
        wanted = {i: kind for i, kind in commands if i and i not in self.known
                  and i not in self.fresh}
        if not wanted:
            return
        now = utcnow()
        table = InboxRow.__table__
        claimed = set(self.session.scalars(
            dialect_insert(dialect_of(self.session), table).values([
                {"command_id": i, "kind": kind, "outcome": "applied", "detail": "",
                 "received_at": now} for i, kind in wanted.items()])
            .on_conflict_do_nothing(index_elements=["command_id"])
            .returning(table.c.command_id)))
        self.fresh |= claimed
        if len(claimed) < len(wanted):
            found = self.session.execute(
                select(InboxRow.command_id, InboxRow.outcome)
                .where(InboxRow.command_id.in_([i for i in wanted if i not in claimed])))
            self.known.update((i, outcome) for i, outcome in found)

    def claim(self, command_id: str, kind: str) -> str | None:
        if command_id in self.fresh:
            self.fresh.discard(command_id)
            self.known[command_id] = "applied"
            return None
        if command_id in self.known:
            return self.known[command_id]
        claimed = self.session.execute(_claim_statement(dialect_of(self.session)), {
            "command_id": command_id, "kind": kind, "outcome": "applied", "detail": "",
            "received_at": utcnow()}).scalar()
        if claimed is not None:
            return None
        return self.session.scalar(select(InboxRow.outcome)
                                   .where(InboxRow.command_id == command_id))

    def record(self, command_id: str, kind: str, outcome: str, detail: str = "") -> None:
        self.session.execute(update(InboxRow).where(InboxRow.command_id == command_id)
                             .values(kind=kind, outcome=outcome, detail=detail))
        if command_id in self.known:
            self.known[command_id] = outcome

    def forget(self, command_id: str) -> None:
        self.session.execute(delete(InboxRow).where(InboxRow.command_id == command_id))
        self.known.pop(command_id, None)
        self.fresh.discard(command_id)

    def outcome_of(self, command_id: str) -> str | None:
        if command_id in self.known:
            return self.known[command_id]
        return self.session.scalar(select(InboxRow.outcome)
                                   .where(InboxRow.command_id == command_id))

    def drop_unused(self) -> None:
        """Claimed ahead but never applied: not to be kept as applied."""
        if self.fresh:
            self.session.execute(delete(InboxRow).where(InboxRow.command_id.in_(self.fresh)))
            self.fresh.clear()


class SqlOutbox:
    def __init__(self, session: Session, appends: Appends) -> None:
        self.session = session
        self.appends = appends

    def add(self, events: list[EntitlementEvent]) -> None:
        now = utcnow()
        for event in events:
            self.appends.add(OutboxRow, **outbox.row_values(event, now))


class SqlProvenance:
    def __init__(self, appends: Appends, people: SqlPeople) -> None:
        self.appends = appends
        self.people = people

    def add(self, command: Command) -> None:
        """Only a command that wrote a new version of something is a write to account for:
        one that changed nothing (a repeated council row) leaves no trace but its inbox id."""
        if command.command_id not in self.people.wrote:
            return
        agent = command.agent
        self.appends.add(ProvenanceRow, command_id=command.command_id,
                         kind=type(command).__name__, agent_org=agent.org if agent else None,
                         agent_type=agent.kind if agent else None,
                         agent_who=agent.who if agent else None, recorded_at=utcnow())


class SqlHeld:
    def __init__(self, session: Session) -> None:
        self.session = session
        # Each person's held commands as this unit of work last left them, in the order they
        # were held: every command applied to a person with held commands retries them, and
        # reading them each time was a query per command (issue 22).
        self.by_person: dict[str, list[HeldCommand]] = {}

    def preload(self, nhs_numbers: list[str]) -> None:
        """The held commands of these people (a batch's, who have some), in one query."""
        wanted = [n for n in dict.fromkeys(nhs_numbers) if n not in self.by_person]
        if not wanted:
            return
        rows = self.session.scalars(select(HeldRow).where(HeldRow.nhs_number.in_(wanted))
                                    .order_by(HeldRow.id))
        for nhs in wanted:
            self.by_person[nhs] = []
        for r in rows:
            self.by_person[r.nhs_number].append(
                HeldCommand(codec.load_command(r.kind, r.payload), r.reason, r.received_at))

    def add(self, nhs_number: str, command: Command, reason: str) -> None:
        row = HeldRow(nhs_number=nhs_number, command_id=command.command_id,
                      kind=type(command).__name__, payload=codec.dump(command), reason=reason,
                      received_at=utcnow())
        self.session.add(row)
        flush(self.session)  # the statements below (remove, rekey) act on stored rows
        if nhs_number in self.by_person:
            self.by_person[nhs_number].append(HeldCommand(command, reason, row.received_at))

    def for_person(self, nhs_number: str) -> list[HeldCommand]:
        if nhs_number not in self.by_person:
            self.preload([nhs_number])
        return list(self.by_person[nhs_number])

    def find(self, command_id: str) -> tuple[str, HeldCommand] | None:
        row = self.session.scalar(select(HeldRow).where(HeldRow.command_id == command_id))
        if row is None:
            return None
        return row.nhs_number, HeldCommand(codec.load_command(row.kind, row.payload),
                                           row.reason, row.received_at)

    def remove(self, command_id: str) -> None:
        self.session.execute(delete(HeldRow).where(HeldRow.command_id == command_id))
        for waiting in self.by_person.values():
            waiting[:] = [h for h in waiting if h.command.command_id != command_id]

    def rekey(self, old_nhs_number: str, new_nhs_number: str) -> None:
        self.session.execute(update(HeldRow).where(HeldRow.nhs_number == old_nhs_number)
                             .values(nhs_number=new_nhs_number))
        self.by_person.pop(old_nhs_number, None)  # read again, in the stored order
        self.by_person.pop(new_nhs_number, None)


class SqlUnitOfWork:
    """One transaction: repositories share the session; leaving without commit rolls back."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._factory = session_factory

    def __enter__(self) -> SqlUnitOfWork:
        # Flushes happen where the code asks (new person ids) and at commit: fewer round trips.
        self.session = self._factory(autoflush=False)
        self.appends = Appends()
        self.replicas = SqlReplicas(self.session)
        self.held = SqlHeld(self.session)
        self.people = SqlPeople(self.session, self.appends, self.replicas.owners, self.held)
        self.inbox = SqlInbox(self.session)
        self.outbox = SqlOutbox(self.session, self.appends)
        self.casework = SqlCasework(self.session)
        self.provenance = SqlProvenance(self.appends, self.people)
        return self

    def __exit__(self, *args: object) -> None:
        self.session.rollback()
        self.session.close()

    def commit(self) -> None:
        try:
            self.inbox.drop_unused()
            flush(self.session)
            self.people.write_segments()
            self.casework.write()
            self.appends.write(self.session)
            self.session.commit()
        except (StaleDataError, IntegrityError) as exc:
            raise ConcurrencyConflict("the record was changed by someone else; retry") from exc

    def rollback(self) -> None:
        self.session.rollback()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """One message of a batch: if it raises, the database and everything this unit of
        work keeps for the commit (multi-row inserts, casework, loaded rows) go back to how
        they were before it, and the batch's other messages stay."""
        people = self.people
        mark = (self.appends.mark(), dict(self.casework.pending), set(people.wrote),
                dict(people.segments_due))
        flush(self.session)  # earlier messages are kept (a conflict is the whole batch's)
        nested = self.session.begin_nested()
        try:
            yield
            nested.commit()
        except BaseException:
            if nested.is_active:
                nested.rollback()
            # Rows loaded before the savepoint may hold its changes: read them again.
            self.session.expire_all()
            people.forget_loaded()
            self.held.by_person.clear()
            appends, pending, wrote, segments = mark
            self.appends.restore(appends)
            self.casework.pending = pending
            people.wrote = wrote
            people.segments_due = segments
            raise
