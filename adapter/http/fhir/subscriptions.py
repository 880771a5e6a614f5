"""FHIR Subscriptions (R4, Subscriptions R5 Backport IG 1.1): create, read, update, delete
and search `Subscription`; `Subscription/$status` (type and instance level) and
`Subscription/{id}/$events` (how a subscriber that was down recovers what it missed); the
topics as `Basic`. Delivery itself is the outbound processes' work (queues/outbound)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from flask import Response, current_app, request
from werkzeug.datastructures import MultiDict

from adapter.http import policy
from adapter.http.fhir import incoming, search
from adapter.http.fhir.errors import FhirError, Issue, invalid, not_found, outcome
from adapter.http.fhir.reader import FhirReader
from adapter.http.fhir.responses import base_url, bundle, fhir_json, resource_response
from adapter.http.fhir.routes import blueprint
from adapter.http.fhir.writes import if_match
from fhir_profiles import canonical as url
from fhir_profiles import registry
from mappings.fhir import notification, subscription
from mappings.fhir.common import instant, local_id
from queues.outbound.credentials import public_endpoint
from queues.outbound.manage import Created, SubscriptionManager
from queues.outbound.notifications import Notifications
from register import access
from register.errors import InvalidData
from register.store.dialect import utcnow
from register.subscriptions import Attempt, Subscription

MAX_EVENTS = 1000  # per $events call; the subscriber asks again from the next number
STATUS_ATTEMPTS = 20  # latest delivery attempts shown by $status


def _manager() -> SubscriptionManager:
    return current_app.extensions["s117.subscriptions"]


def _owns(sub: Subscription) -> bool:
    """A Subscription is its maker's: another organisation neither sees nor changes it."""
    who = policy.viewer()
    return who.is_admin or (sub.owner_org == who.org and sub.owner_type == who.kind.value)


def _found(subscription_id: str) -> Subscription:
    found = _manager().store.get(subscription_id)
    if found is None:
        raise not_found(f"Subscription/{subscription_id}")
    if not _owns(found):
        raise policy.forbidden(f"Subscription/{subscription_id} belongs to another "
                               "organisation")
    return found


def _mine(found: list[Subscription]) -> list[Subscription]:
    return [s for s in found if _owns(s)]


def _json(created: Subscription | Created) -> dict[str, Any]:
    sub, password = (created.subscription, created.password) \
        if isinstance(created, Created) else (created, None)
    amqp = _manager().amqp_url
    return subscription.to_fhir(sub, amqp_endpoint=public_endpoint(amqp) if amqp else None,
                                password=password)


def _refused(exc: InvalidData) -> FhirError:
    """A Subscription the register cannot honour is 422, naming the element."""
    return FhirError(422, Issue("error", "invalid", exc.message,
                                [exc.field] if exc.field else []))


def _spec(data: dict[str, Any]) -> subscription.SubscriptionSpec:
    try:
        spec = subscription.from_fhir(incoming.checked(data), utcnow())
    except InvalidData as exc:
        raise _refused(exc) from None
    who = policy.viewer()
    if not access.could_hear(who, spec.criteria):
        # Filters only narrow what an organisation hears (register.access.hears).
        raise FhirError(422, Issue(
            "error", "invalid", f"these filters name only other bodies: {who.org} hears "
            f"only events of the people it is responsible for or who live in its area, so "
            "this Subscription would never carry anything", ["Subscription.criteria"]))
    return spec


@blueprint.post("/Subscription")
def create_subscription() -> Response:
    spec = _spec(incoming.body("Subscription"))
    try:
        created = _manager().create(spec, owner=policy.viewer())
    except InvalidData as exc:
        raise _refused(exc) from None
    response = resource_response(_json(created), 201)
    response.headers["Location"] = f"{base_url()}/Subscription/{created.subscription.id}"
    return response


@blueprint.get("/Subscription/<subscription_id>")
def read_subscription(subscription_id: str) -> Response:
    return resource_response(_json(_found(subscription_id)))


@blueprint.put("/Subscription/<subscription_id>")
def update_subscription(subscription_id: str) -> Response:
    data = incoming.body("Subscription")
    if data.get("id") != subscription_id:
        raise invalid(f"the body's id {data.get('id')!r} must equal the URL's "
                      f"{subscription_id!r}", "Subscription.id")
    _found(subscription_id)  # ids are the server's: no update-as-create
    spec = _spec(data)
    try:
        updated = _manager().replace(subscription_id, spec,
                                     if_match(request.headers.get("If-Match")))
    except InvalidData as exc:
        raise _refused(exc) from None
    return resource_response(_json(updated))


@blueprint.delete("/Subscription/<subscription_id>")
def delete_subscription(subscription_id: str) -> Response:
    _found(subscription_id)
    if _manager().delete(subscription_id) is None:
        raise not_found(f"Subscription/{subscription_id}")
    return fhir_json(outcome(Issue("information", "informational",
                                   f"Subscription/{subscription_id} deleted, with its events "
                                   "and delivery record")))


@blueprint.route("/Subscription", methods=["GET"])
@blueprint.route("/Subscription/_search", methods=["POST"])
def search_subscriptions() -> Response:
    query = _query()
    issues = search.unknown(query, {"_id", "status"}, "handling=strict" in
                            request.headers.get("Prefer", "").replace(" ", ""))
    page = search.paging(query)
    found = _mine(_manager().store.all(ids=search.values(query, "_id"),
                                       statuses=search.values(query, "status")))
    window = found[page.offset:page.offset + (0 if page.summary_count else page.count)]
    entries = [{"fullUrl": f"{base_url()}/Subscription/{s.id}", "resource": _json(s),
                "search": {"mode": "match"}} for s in window]
    if issues:
        entries.append({"fullUrl": f"urn:uuid:{uuid4()}",
                        "resource": {**outcome(*issues), "id": "search-issues"},
                        "search": {"mode": "outcome"}})
    return fhir_json(bundle("searchset", entries, total=len(found)))


def _query() -> MultiDict[str, str]:
    """URL parameters, and for POST the form body or a Parameters resource."""
    if request.method != "POST":
        return request.args
    if request.mimetype in incoming.JSON_TYPES:
        data = incoming.body("Parameters")
        pairs = [(p.get("name", ""), str(next((v for k, v in p.items()
                                               if k.startswith("value")), "")))
                 for p in data.get("parameter") or []]
        return MultiDict(list(request.args.items(multi=True)) + pairs)
    return MultiDict(list(request.args.items(multi=True)) + list(request.form.items(multi=True)))


# -- $status -----------------------------------------------------------------------------

def _attempt(a: Attempt) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [
        {"name": "time", "valueInstant": instant(a.attempted_at)},
        {"name": "kind", "valueCode": a.kind}, {"name": "outcome", "valueCode": a.outcome},
        {"name": "duration-ms", "valueInteger": a.duration_ms}]
    if a.first_event is not None:
        parts.append({"name": "events", "valueString": f"{a.first_event}-{a.last_event}"})
    if a.http_status is not None:
        parts.append({"name": "http-status", "valueInteger": a.http_status})
    if a.error:
        parts.append({"name": "error", "valueString": a.error})
    return {"name": "s117-delivery-attempt", "part": parts}


def status_of(sub: Subscription) -> dict[str, Any]:
    """backport-subscription-status-r4 (query-status), plus where delivery stands: the last
    event the subscriber acknowledged, the failure streak, and the latest attempts."""
    extra: list[dict[str, Any]] = [{"name": "s117-events-delivered",
                                    "valueString": str(sub.delivered_through)}]
    if sub.failing_since:
        extra.append({"name": "s117-failing-since", "valueInstant": instant(sub.failing_since)})
    if sub.next_attempt_at:
        extra.append({"name": "s117-next-attempt", "valueInstant": instant(sub.next_attempt_at)})
    extra += [_attempt(a) for a in _manager().store.attempts(sub.id, STATUS_ATTEMPTS)]
    errors = [sub.last_error] if sub.last_error else []
    return notification.status_parameters(sub, "query-status", base_url(), content="id-only",
                                          errors=errors, extra=extra)


def _status_bundle(found: list[Subscription]) -> Response:
    entries = [{"fullUrl": f"urn:uuid:{uuid4()}", "resource": status_of(s),
                "search": {"mode": "match"}} for s in found]
    return fhir_json(bundle("searchset", entries, total=len(found)))


@blueprint.route("/Subscription/$status", methods=["GET", "POST"])
def subscriptions_status() -> Response:
    query = _query()
    search.unknown(query, {"id", "status"}, strict=True)
    return _status_bundle(_mine(_manager().store.all(ids=search.values(query, "id"),
                                                     statuses=search.values(query, "status"))))


@blueprint.route("/Subscription/<subscription_id>/$status", methods=["GET", "POST"])
def subscription_status(subscription_id: str) -> Response:
    return _status_bundle([_found(subscription_id)])


# -- $events -----------------------------------------------------------------------------

def _number(query: MultiDict[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    number = local_id(raw)
    if number is None or number < 1:
        raise invalid(f"{name} is an event number (1, 2, 3 ...), not {raw!r}", name)
    return number


@blueprint.route("/Subscription/<subscription_id>/$events", methods=["GET", "POST"])
def subscription_events(subscription_id: str) -> Response:
    """Events `eventsSinceNumber` to `eventsUntilNumber` (at most 1,000 a call), in a
    notification Bundle of type history with the status first (type query-event)."""
    query = _query()
    search.unknown(query, {"eventsSinceNumber", "eventsUntilNumber", "content"}, strict=True)
    sub = _found(subscription_id)
    since = _number(query, "eventsSinceNumber") or 1
    until = _number(query, "eventsUntilNumber")
    content = query.get("content") or sub.content
    if content not in notification.CONTENTS:
        raise invalid(f"content is one of {', '.join(notification.CONTENTS)}, not "
                      f"{content!r}", "content")
    events = _manager().store.events(sub.id, since=since, until=until, limit=MAX_EVENTS)
    reader: FhirReader = current_app.extensions["s117.fhir"]
    notes = Notifications(_manager().store, reader.views, reader.name_of, base_url())
    return fhir_json(notes.bundle(sub, "query-event", events, content=content))


# -- topics (Basic) -----------------------------------------------------------------------

def _topic_url(resource: dict[str, Any]) -> str | None:
    return next((e.get("valueUri") for e in resource.get("extension") or []
                 if e.get("url") == f"{url.R5_TOPIC_EXT}.url"), None)


@blueprint.get("/Basic/<resource_id>")
def read_topic(resource_id: str) -> Response:
    found = registry.get("Basic", resource_id)
    if found is None:
        raise not_found(f"Basic/{resource_id}")
    return fhir_json(found)


@blueprint.route("/Basic", methods=["GET"])
@blueprint.route("/Basic/_search", methods=["POST"])
def search_topics() -> Response:
    query = request.args if request.method == "GET" else MultiDict(
        list(request.args.items(multi=True)) + list(request.form.items(multi=True)))
    issues = search.unknown(query, {"code", "url"}, "handling=strict" in
                            request.headers.get("Prefer", "").replace(" ", ""))
    codes = {c.rpartition("|")[2] for c in search.values(query, "code")}
    urls = set(search.values(query, "url"))
    found = [r for r in registry.search("Basic")
             if (not codes or codes & {c["code"] for c in r["code"]["coding"]})
             and (not urls or _topic_url(r) in urls)]
    entries = [{"fullUrl": f"{base_url()}/Basic/{r['id']}", "resource": r,
                "search": {"mode": "match"}} for r in found]
    if issues:
        entries.append({"fullUrl": f"urn:uuid:{uuid4()}",
                        "resource": {**outcome(*issues), "id": "search-issues"},
                        "search": {"mode": "outcome"}})
    return fhir_json(bundle("searchset", entries, total=len(found)))
