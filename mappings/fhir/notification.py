"""Subscription notifications (Subscriptions R5 Backport IG 1.1, R4): a Bundle of type
`history` whose first entry is a Parameters (backport-subscription-status-r4) with the
subscription's status, the number of events since it started and one `notification-event`
per event (its number, when it happened, the EpisodeOfCare it is about). The same Bundle
goes to rest-hook subscribers, to `amqp` subscribers' queues, and answers `$events`; the
register's AMQP event stream carries the same shape. Pure: the caller supplies the
resources for `full-resource`.

Each notification-event also carries what happened (`started`, `ended`, ...) in the
extension Extension-S117-EntitlementEvent, because a subscriber filtering on `event` needs
it and a history Bundle has nowhere else to say it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from fhir_profiles import canonical as url
from mappings.fhir.common import day, ext, instant
from register.subscriptions import RecordedEvent, Subscription, Topic

Resource = dict[str, Any]
ResourceAt = Callable[[RecordedEvent], Resource | None]
"""The EpisodeOfCare as it stood just after an event (full-resource payloads)."""

CONTENTS = ("empty", "id-only", "full-resource")


def event_extension(recorded: RecordedEvent) -> Resource:
    event = recorded.event
    parts = [ext("code", valueCoding={"system": url.CS_ENTITLEMENT_EVENT,
                                      "code": event.event.value}),
             ext("effective", valueDate=day(event.effective))]
    if event.detail:
        parts.append(ext("detail", valueString=event.detail))
    return ext(url.EXT_ENTITLEMENT_EVENT, extension=parts)


def focus(base: str, recorded: RecordedEvent) -> str:
    return f"{base}/EpisodeOfCare/{recorded.event.entitlement_id}"


def event_parts(recorded: RecordedEvent, base: str, content: str) -> Resource:
    """What a notification-event says that does not depend on the subscription (all but
    its number): built once per event and shared by every subscriber's Bundle (the
    delivery worker caches it; a Bundle only reads it)."""
    parts: list[Resource] = [{"name": "timestamp", "valueInstant": instant(recorded.occurred_at)}]
    if content != "empty":  # an empty payload names no resource at all (IG "Payload Types")
        parts.append({"name": "focus", "valueReference": {"reference": focus(base, recorded)}})
    return {"extension": [event_extension(recorded)], "part": parts}


EventParts = Callable[[RecordedEvent, str], Resource]
"""`event_parts` for this base, perhaps cached: (event, content) -> parts."""


def notification_event(recorded: RecordedEvent, base: str, content: str,
                       number: int | None = None, parts: EventParts | None = None
                       ) -> Resource:
    shared = parts(recorded, content) if parts else event_parts(recorded, base, content)
    return {"name": "notification-event", "extension": shared["extension"],
            "part": [{"name": "event-number", "valueString": str(number or recorded.number)},
                     *shared["part"]]}


def status_parameters(subscription: Subscription, kind: str, base: str, *,
                      events: Sequence[RecordedEvent] = (), content: str | None = None,
                      errors: Sequence[str] = (), extra: Sequence[Resource] = (),
                      parts: EventParts | None = None) -> Resource:
    """backport-subscription-status-r4 for a handshake, heartbeat, event-notification,
    query-status or query-event."""
    content = content or subscription.content
    params: list[Resource] = [
        {"name": "subscription",
         "valueReference": {"reference": f"{base}/Subscription/{subscription.id}"}}]
    if content != "empty":
        params.append({"name": "topic",
                       "valueCanonical": url.topic(subscription.criteria.topic.value)})
    params += [{"name": "status", "valueCode": subscription.status},
               {"name": "type", "valueCode": kind},
               {"name": "events-since-subscription-start",
                "valueString": str(subscription.events_since_start)}]
    params += [notification_event(e, base, content, parts=parts) for e in events]
    params += [{"name": "error", "valueCodeableConcept": {"text": e}} for e in errors]
    params += extra
    return {"resourceType": "Parameters", "id": str(uuid4()),
            "meta": {"profile": [url.BACKPORT_STATUS]}, "parameter": list(params)}


def _history(status: Resource, request_url: str) -> Resource:
    # A history Bundle needs request and response on every entry (R4 bdl-3, bdl-4).
    return {"fullUrl": f"urn:uuid:{status['id']}", "resource": status,
            "request": {"method": "GET", "url": request_url}, "response": {"status": "200"}}


def _resource_entry(base: str, resource: Resource) -> Resource:
    where = f"{resource['resourceType']}/{resource['id']}"
    version = (resource.get("meta") or {}).get("versionId", "1")
    first = version == "1"
    return {"fullUrl": f"{base}/{where}", "resource": resource,
            "request": {"method": "POST" if first else "PUT", "url": where},
            "response": {"status": "201" if first else "200", "etag": f'W/"{version}"'}}


def bundle(subscription: Subscription, kind: str, base: str, *,
           events: Sequence[RecordedEvent] = (), content: str | None = None,
           resource_at: ResourceAt | None = None, errors: Sequence[str] = (),
           parts: EventParts | None = None) -> Resource:
    """The notification Bundle (backport-subscription-notification-r4)."""
    content = content or subscription.content
    status = status_parameters(subscription, kind, base, events=events, content=content,
                               errors=errors, parts=parts)
    entries = [_history(status, f"{base}/Subscription/{subscription.id}/$status")]
    if content == "full-resource" and resource_at is not None:
        for recorded in events:
            resource = resource_at(recorded)
            if resource is not None:
                entries.append(_resource_entry(base, resource))
    return {"resourceType": "Bundle", "id": str(uuid4()),
            "meta": {"profile": [url.BACKPORT_NOTIFICATION]}, "type": "history",
            "timestamp": instant_now(), "entry": entries}


def stream_bundle(recorded: RecordedEvent, base: str, exchange: str) -> Resource:
    """The body of a message on the `s117.events` exchange: the same notification shape,
    for the register's whole event stream rather than one Subscription (so the reference
    names the exchange), always `id-only`: the stream is shared, so it carries no clinical
    content. Its event number is the register-wide one (the outbox id): it rises with
    every event but may skip numbers; per-subscription numbers have no gaps."""
    status = {"resourceType": "Parameters", "id": str(uuid4()),
              "meta": {"profile": [url.BACKPORT_STATUS]}, "parameter": [
                  {"name": "subscription", "valueReference": {
                      "identifier": {"system": url.AMQP_EXCHANGE_ID, "value": exchange},
                      "display": "the register's AMQP event stream"}},
                  {"name": "topic",
                   "valueCanonical": url.topic(Topic.ENTITLEMENT_CHANGE.value)},
                  {"name": "status", "valueCode": "active"},
                  {"name": "type", "valueCode": "event-notification"},
                  notification_event(recorded, base, "id-only", recorded.outbox_id)]}
    return {"resourceType": "Bundle", "id": str(uuid4()),
            "meta": {"profile": [url.BACKPORT_NOTIFICATION]}, "type": "history",
            "timestamp": instant_now(),
            "entry": [_history(status, f"{base}/Subscription/$status")]}


def instant_now() -> str:
    return instant(datetime.now(UTC))
