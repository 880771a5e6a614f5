"""`register.ports.Replicas` on SQL: the `replica` table and forwarded commands."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from register.commands import Command
from register.store import codec
from register.store.dialect import utcnow
from register.store.federation_tables import FederationCommandRow, HandoverRow, ReplicaRow

FORWARDED, APPLIED, REFUSED = "forwarded", "applied", "refused"
OFFERED, ACCEPTED, TAKEN = "offered", "accepted", "taken"


class SqlReplicas:
    def __init__(self, session: Session) -> None:
        self.session = session
        # Owners already known in this unit of work (None: held here as the owner). Filled by
        # SqlPeople when it reads people, in the same query: asking for each command was a
        # round trip each (issue 22), as `session.get` always asks about an absent row.
        self.owners: dict[int, tuple[str, int] | None] = {}

    def owner_of(self, person_id: int | None) -> tuple[str, int] | None:
        if person_id is None:
            return None
        if person_id not in self.owners:
            row = self.session.get(ReplicaRow, person_id)
            self.owners[person_id] = (row.owner_region, row.owner_event) if row else None
        return self.owners[person_id]

    def save(self, person_id: int, owner: str, event_number: int) -> None:
        self.owners[person_id] = (owner, event_number)
        row = self.session.get(ReplicaRow, person_id)
        if row is None:
            self.session.add(ReplicaRow(person_id=person_id, owner_region=owner,
                                        owner_event=event_number, updated_at=utcnow()))
        else:
            row.owner_region, row.owner_event, row.updated_at = owner, event_number, utcnow()

    def forward(self, owner: str, command: Command, reply_to: str | None = None) -> None:
        # The same command again (it came back after a handover and goes on): one row, sent
        # again to its owner now.
        row = self.session.get(FederationCommandRow, command.command_id)
        if row is None:
            row = FederationCommandRow(command_id=command.command_id, detail="",
                                       created_at=utcnow())
            self.session.add(row)
        row.owner_region, row.kind, row.payload = owner, type(command).__name__, \
            codec.dump(command)
        row.state, row.reply_to, row.sent_at, row.answered_at = FORWARDED, reply_to, None, None

    def hand_over(self, person_id: int, to: str, rule: str, detail: str) -> None:
        row = self.session.get(ReplicaRow, person_id)
        if row is None:
            row = ReplicaRow(person_id=person_id)
            self.session.add(row)
        row.owner_region, row.owner_event, row.owned_until = to, 0, 0
        row.updated_at = utcnow()
        self.session.add(HandoverRow(person_id=person_id, direction="out", peer=to, rule=rule,
                                     detail=detail, state=OFFERED, created_at=utcnow()))

    def take_over(self, person_id: int, origin: str, event_number: int, rule: str,
                  detail: str) -> None:
        self.session.execute(delete(ReplicaRow).where(ReplicaRow.person_id == person_id))
        self.session.add(HandoverRow(person_id=person_id, direction="in", peer=origin,
                                     rule=rule, detail=detail, state=TAKEN,
                                     event_number=event_number, created_at=utcnow(),
                                     answered_at=utcnow()))


def replica_owners(session: Session, person_ids: list[int]) -> dict[int, str]:
    """The owning register of each of these people held here as a replica."""
    found: dict[int, str] = {}
    for start in range(0, len(person_ids), 1000):
        rows = session.execute(select(ReplicaRow.person_id, ReplicaRow.owner_region)
                               .where(ReplicaRow.person_id.in_(person_ids[start:start + 1000])))
        found.update({person_id: owner for person_id, owner in rows})
    return found
