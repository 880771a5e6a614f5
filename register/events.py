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
    # The joint workflows between the two bodies (D1, L5): the other body must act.
    END_PROPOSED = "end-proposed"
    END_DECLINED = "end-declined"
    END_WITHDRAWN = "end-withdrawn"
    DISPUTE_OPENED = "dispute-opened"
    FLAG_RAISED = "flag-raised"  # an Ombudsman flag (RULES.md O1-O4) raised ...
    FLAG_CLEARED = "flag-cleared"  # ... and cleared
    # Federation (docs/federation.md): the law moved the duty and another regional register
    # owns the record now (the new owner's region in `owner`). Recorded on both sides.
    OWNER_CHANGED = "owner-changed"


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
    # What subscribers' filters also need: the paying ICB under rule N4 (a `responsible-icb`
    # search finds it too), and on responsibility-changed the bodies it moved away from, so
    # the council and ICB that stop being responsible hear about it as well.
    paying_icb: str | None = None
    previous_local_authority: str | None = None
    previous_icb: str | None = None
    flag: str | None = None  # on flag-raised/-cleared: the s117-flag code
    owner: str | None = None  # on owner-changed: the owning register's region (Y60 ...)
