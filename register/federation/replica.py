"""A replica update: the owning register's state of one person after one of its events, as
the peer applies it (read-only: the peer never derives anything itself, so there is one
writer per entitlement)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from register.events import EntitlementEvent
from register.model import Entitlement, PersonFacts


@dataclass(frozen=True)
class ReplicaUpdate:
    origin: str  # the owner's region
    event_number: int  # the owner's outbox id: rises with every event
    facts: PersonFacts
    entitlements: list[Entitlement]
    residence_la: str | None
    next_review_due: dict[str, date | None] = field(default_factory=dict)
    events: list[EntitlementEvent] = field(default_factory=list)

    @property
    def command_id(self) -> str:
        return f"federation:{self.origin}:{self.event_number}"


@dataclass(frozen=True)
class Forwarded:
    """A command written here on a replica, to be applied by the owner."""

    owner: str
    command_id: str
