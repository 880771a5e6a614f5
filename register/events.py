"""Domain events: what changed in an entitlement, written to the outbox in the same
transaction as the change (DESIGN.md "AMQP topology" lists the event names)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class EventType(StrEnum):
    PLANNED = "planned"
    STARTED = "started"
    UPDATED = "updated"
    RESPONSIBILITY_CHANGED = "responsibility-changed"
    ENDED = "ended"
    REINSTATED = "reinstated"
    REVIEW_DUE = "review-due"
    REVIEW_OVERDUE = "review-overdue"
    PLACEMENT_OUT_OF_AREA = "placement-out-of-area"
    NEEDS_REVIEW = "needs-review"


@dataclass(frozen=True)
class EntitlementEvent:
    """No patient identifiers: subscribers fetch the entitlement by id if allowed to."""

    event: EventType
    entitlement_id: str
    status: str
    local_authority: str | None
    icb: str | None
    residence_la: str | None
    effective: date
    detail: str
    command_id: str
