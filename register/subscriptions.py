"""Subscription topics and their filters (DESIGN.md "Subscriptions"): which events a topic
carries, which filters a subscriber may set, and the one function that decides whether an
event reaches a subscription. Pure: the relay calls `matches` for every event and every
subscription, so the filters are always the register's, never the subscriber's own."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from register.errors import InvalidData
from register.events import EntitlementEvent, EventType


class Topic(StrEnum):
    ENTITLEMENT_CHANGE = "s117-entitlement-change"
    REVIEW_OVERDUE = "s117-review-overdue"


# Filter names are the EpisodeOfCare search parameters a caseload query uses, plus `event`.
RESPONSIBLE_ICB = "responsible-icb"
RESPONSIBLE_LA = "responsible-la"
RESIDENCE_LA = "residence-la"
EVENT = "event"

TOPIC_EVENTS: dict[Topic, frozenset[EventType]] = {
    Topic.ENTITLEMENT_CHANGE: frozenset(EventType),
    Topic.REVIEW_OVERDUE: frozenset({EventType.REVIEW_OVERDUE}),
}
TOPIC_FILTERS: dict[Topic, tuple[str, ...]] = {
    Topic.ENTITLEMENT_CHANGE: (RESPONSIBLE_ICB, RESPONSIBLE_LA, RESIDENCE_LA, EVENT),
    Topic.REVIEW_OVERDUE: (RESPONSIBLE_ICB, RESPONSIBLE_LA, RESIDENCE_LA),
}


@dataclass(frozen=True)
class Criteria:
    """A topic narrowed by filters: every filter must hold (AND), and a filter holds when the
    event has any of its values (OR), as in FHIR search."""

    topic: Topic
    filters: tuple[tuple[str, frozenset[str]], ...] = ()

    def __post_init__(self) -> None:
        allowed = TOPIC_FILTERS[self.topic]
        events = {e.value for e in TOPIC_EVENTS[self.topic]}
        for name, values in self.filters:
            if name not in allowed:
                raise InvalidData(f"topic {self.topic.value} filters by {', '.join(allowed)}, "
                                  f"not {name!r}", field=name)
            if not values or not all(values):
                raise InvalidData(f"filter {name} needs a value", field=name)
            if name == EVENT and not values <= events:
                raise InvalidData(f"unknown event {', '.join(sorted(values - events))}: one of "
                                  f"{', '.join(sorted(events))}", field=name)

    def as_json(self) -> list[tuple[str, list[str]]]:
        return [(name, sorted(values)) for name, values in self.filters]

    @classmethod
    def from_json(cls, topic: str, filters: Iterable[tuple[str, list[str]]]) -> Criteria:
        return cls(Topic(topic), tuple((str(name), frozenset(map(str, values)))
                                       for name, values in filters))


def event_values(name: str, event: EntitlementEvent) -> set[str]:
    """What an event offers a filter. The ICB filter sees the paying ICB under rule N4 (as
    the `responsible-icb` search does) and, when responsibility moved, the bodies it moved
    from: a council or ICB hears that it is no longer responsible."""
    found: tuple[str | None, ...]
    if name == RESPONSIBLE_ICB:
        found = (event.icb, event.paying_icb, event.previous_icb)
    elif name == RESPONSIBLE_LA:
        found = (event.local_authority, event.previous_local_authority)
    elif name == RESIDENCE_LA:
        found = (event.residence_la,)
    else:
        found = (event.event.value,)
    return {v for v in found if v}


def matches(criteria: Criteria, event: EntitlementEvent) -> bool:
    """Does this event reach a subscription with these criteria? The one place filters are
    evaluated; what the subscription's owner may hear at all is `register.access.hears`."""
    if event.event not in TOPIC_EVENTS[criteria.topic]:
        return False
    return all(event_values(name, event) & values for name, values in criteria.filters)


@dataclass(frozen=True)
class Subscription:
    """A subscription as stored: what the subscriber asked for and where delivery stands.
    `events_since_start` is the number of the last event recorded for it (0: none yet);
    `delivered_through` the last one the subscriber acknowledged."""

    id: str
    status: str  # requested | active | error | off
    criteria: Criteria
    channel: str  # rest-hook | amqp
    endpoint: str | None
    headers: tuple[str, ...]
    content: str  # empty | id-only | full-resource
    heartbeat_seconds: int | None
    timeout_seconds: int | None
    max_count: int | None
    end_at: datetime | None
    resource: dict[str, Any]
    version: int
    updated_at: datetime
    events_since_start: int = 0
    delivered_through: int = 0
    handshake_at: datetime | None = None
    last_sent_at: datetime | None = None
    next_attempt_at: datetime | None = None
    failing_since: datetime | None = None
    failures: int = 0
    last_error: str | None = None
    amqp_queue: str | None = None
    amqp_user: str | None = None
    owner_org: str | None = None  # the organisation that made it (None: made by an admin,
    owner_type: str | None = None  # or before access control)


@dataclass(frozen=True)
class RecordedEvent:
    """One event as recorded for one subscription, with its number there."""

    number: int
    event: EntitlementEvent
    occurred_at: datetime  # when the change was committed (naive UTC)
    outbox_id: int


@dataclass(frozen=True)
class Attempt:
    """One delivery attempt (handshake, heartbeat or notification) and how it went."""

    kind: str
    first_event: int | None
    last_event: int | None
    attempted_at: datetime
    duration_ms: int
    outcome: str  # delivered | failed
    http_status: int | None
    error: str | None
