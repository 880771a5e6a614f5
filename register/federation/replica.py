"""A replica update: the owning register's state of one person after one of its events, as
the peer applies it (read-only: the peer never derives anything itself, so there is one
writer per entitlement)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from register.errors import RuleViolation
from register.events import EntitlementEvent, EventType
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
    handover_rule: str | None = None  # on a handover: the rule that moved the duty (L3, N6)

    @property
    def command_id(self) -> str:
        return f"federation:{self.origin}:{self.event_number}"


@dataclass(frozen=True)
class Forwarded:
    """A command written here on a replica, to be applied by the owner."""

    owner: str
    command_id: str


def announced_owner(update: ReplicaUpdate) -> str | None:
    """The owner an update's owner-changed event names (the last, if several)."""
    moved = [e.owner for e in update.events if e.event is EventType.OWNER_CHANGED and e.owner]
    return moved[-1] if moved else None


def judge(owner: tuple[str, int] | None, is_new: bool, update: ReplicaUpdate) -> str:
    """Whether a replica update is applied (`apply`) or was overtaken (`stale`); refused
    (RuleViolation) when it comes from a register that does not own the record.

    An owner changes hands with an owner-changed event, which every replica holder hears
    from both sides on different links, in either order: the new owner's first update
    (announcing itself) is taken from it, and the old owner's notice naming the owner
    already known is stale."""
    if is_new:
        return "apply"
    if owner is None:
        raise RuleViolation(f"this register owns this record: an update from "
                            f"{update.origin} is refused", field="origin")
    region, applied = owner
    named = announced_owner(update)
    if region == update.origin:
        return "stale" if applied >= update.event_number else "apply"
    if named == update.origin:
        return "apply"  # the new owner's first word: the handover reached it
    if named == region:
        return "stale"  # the old owner's notice of a handover already known here
    raise RuleViolation(f"this record is owned by {region}, not {update.origin}",
                        field="origin")
