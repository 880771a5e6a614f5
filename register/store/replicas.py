"""`register.ports.Replicas` on SQL: the `replica` table and forwarded commands."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from register.commands import Command
from register.store import codec
from register.store.dialect import utcnow
from register.store.federation_tables import FederationCommandRow, ReplicaRow

FORWARDED, APPLIED, REFUSED = "forwarded", "applied", "refused"


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

    def forward(self, owner: str, command: Command) -> None:
        self.session.add(FederationCommandRow(
            command_id=command.command_id, owner_region=owner, kind=type(command).__name__,
            payload=codec.dump(command), state=FORWARDED, detail="", created_at=utcnow()))


def replica_owners(session: Session, person_ids: list[int]) -> dict[int, str]:
    """The owning register of each of these people held here as a replica."""
    found: dict[int, str] = {}
    for start in range(0, len(person_ids), 1000):
        rows = session.execute(select(ReplicaRow.person_id, ReplicaRow.owner_region)
                               .where(ReplicaRow.person_id.in_(person_ids[start:start + 1000])))
        found.update({person_id: owner for person_id, owner in rows})
    return found
