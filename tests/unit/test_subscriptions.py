"""Subscriptions without I/O: the filter function (who hears an event), reading a
backport-subscription and every refusal naming its element, the notification Bundles valid
R4 (our validator and FHIR.js) and shaped as the Backport IG 1.1 says for each payload, the
event stream's routing keys and ids, and the topics as published."""

from __future__ import annotations

import copy
from datetime import date, datetime, timedelta

import pytest

from fhir_profiles import canonical as url
from fhir_profiles import registry, validate
from mappings.fhir import notification
from mappings.fhir import subscription as mapping
from queues import topology
from queues.outbound.stream import message_id, stream_message
from register.errors import InvalidData
from register.events import EntitlementEvent, EventType
from register.store import codec
from register.store.orm import OutboxRow
from register.subscriptions import (
    TOPIC_EVENTS,
    TOPIC_FILTERS,
    Criteria,
    RecordedEvent,
    Subscription,
    Topic,
    matches,
)
from tests.fhir_js import errors, validate_with_fhirjs
from tests.outbound_support import BACKPORT, events_of, parameters, subscription

NOW = datetime(2026, 11, 22, 12)
HEREFORDSHIRE, SWINDON = "E06000019", "E06000030"


def event(kind: EventType = EventType.STARTED, la: str | None = HEREFORDSHIRE,
          icb: str | None = "QGH", residence: str | None = HEREFORDSHIRE,
          **more: str | None) -> EntitlementEvent:
    return EntitlementEvent(kind, "5f0c6a4e-2c1d-5e51-9b0a-0d7b1c7e1170", "active", la, icb,
                            residence, date(2026, 11, 20), "left hospital", "cmd-1",
                            **more)  # type: ignore[arg-type]


def criteria(topic: Topic = Topic.ENTITLEMENT_CHANGE, **filters: str) -> Criteria:
    return Criteria(topic, tuple((name.replace("_", "-"), frozenset(v.split(",")))
                                 for name, v in filters.items()))


# -- who hears what ---------------------------------------------------------------------------

def test_an_icb_filter_hears_its_own_patients_only():
    qgh = criteria(responsible_icb="QGH")
    assert matches(qgh, event(icb="QGH"))
    assert not matches(qgh, event(icb="QOX"))
    assert not matches(qgh, event(icb=None))


def test_the_icb_filter_also_hears_the_paying_icb_and_the_icb_it_moved_from():
    """As the responsible-icb search does (rule N4), and so that an ICB hears it is no
    longer responsible."""
    assert matches(criteria(responsible_icb="QOX"), event(icb="QGH", paying_icb="QOX"))
    moved = event(EventType.RESPONSIBILITY_CHANGED, icb="QOX", previous_icb="QGH",
                  la=SWINDON, previous_local_authority=HEREFORDSHIRE)
    assert matches(criteria(responsible_icb="QGH"), moved)
    assert matches(criteria(responsible_la=HEREFORDSHIRE), moved)
    assert matches(criteria(responsible_la=SWINDON), moved)


def test_filters_and_together_and_commas_or():
    both = criteria(responsible_icb="QGH", event="started,ended")
    assert matches(both, event(EventType.STARTED))
    assert matches(both, event(EventType.ENDED))
    assert not matches(both, event(EventType.PLANNED))
    assert not matches(both, event(EventType.STARTED, icb="QOX"))
    out_of_area = criteria(residence_la=SWINDON, responsible_la=HEREFORDSHIRE)
    assert matches(out_of_area, event(residence=SWINDON))
    assert not matches(out_of_area, event(residence=HEREFORDSHIRE))
    assert matches(criteria(), event(icb=None, la=None)), "no filter: every event"


def test_the_review_overdue_topic_carries_review_overdue_only():
    topic = criteria(Topic.REVIEW_OVERDUE, responsible_la=HEREFORDSHIRE)
    assert matches(topic, event(EventType.REVIEW_OVERDUE))
    assert not any(matches(topic, event(kind)) for kind in EventType
                   if kind is not EventType.REVIEW_OVERDUE)
    with pytest.raises(InvalidData, match="not 'event'"):
        criteria(Topic.REVIEW_OVERDUE, event="review-overdue")


def test_criteria_refuse_unknown_filters_and_events():
    with pytest.raises(InvalidData, match="not 'patient'"):
        criteria(patient="Patient/1")
    with pytest.raises(InvalidData, match="unknown event admitted"):
        criteria(event="admitted")


# -- reading a Subscription -------------------------------------------------------------------

def rest_hook(*filters: str, **options: object) -> dict:
    return subscription("https://icb.example.nhs.uk/s117/notify", list(filters), **options)  # type: ignore[arg-type]


def test_a_backport_subscription_is_read_whole():
    spec = mapping.from_fhir(rest_hook("EpisodeOfCare?responsible-icb=https://fhir.nhs.uk/Id/"
                                       "ods-organization-code|QGH&event=started,ended",
                                       "residence-la=E06000019", heartbeat=600,
                                       headers=["Authorization: Bearer x"],
                                       content="full-resource"), NOW)
    assert spec.status == "requested" and spec.channel == "rest-hook"
    assert spec.criteria == Criteria(Topic.ENTITLEMENT_CHANGE, (
        ("responsible-icb", frozenset({"QGH"})), ("event", frozenset({"started", "ended"})),
        ("residence-la", frozenset({HEREFORDSHIRE}))))
    assert (spec.content, spec.heartbeat_seconds, spec.headers) == (
        "full-resource", 600, ("Authorization: Bearer x",))
    assert spec.endpoint == "https://icb.example.nhs.uk/s117/notify"


def _with(change: str, value: object) -> dict:
    resource = rest_hook("responsible-icb=QGH")
    target = resource
    *path, last = change.split(".")
    for key in path:
        target = target[key]
    if value is None:
        target.pop(last, None)
    else:
        target[last] = value
    return resource


REFUSALS = [
    ("criteria", "https://example.org/SubscriptionTopic/admission", "Subscription.criteria",
     "canonical URL of a topic"),
    ("status", "error", "Subscription.status", "server's to set"),
    ("channel.type", "websocket", "Subscription.channel.type", "not offered"),
    ("channel.endpoint", "ftp://icb.example/x", "Subscription.channel.endpoint", "http(s)"),
    ("channel.endpoint", "https://icb.example/notify/9990000018",
     "Subscription.channel.endpoint", "NHS number"),
    ("channel.header", ["Authorization: x\r\nX-Evil: y"], "Subscription.channel.header[0]",
     "one line"),
    ("channel.header", ["Content-Type: text/plain"], "Subscription.channel.header[0]",
     "may not be set"),
    # Issue 20 finding 5: only credentials and the subscriber's own X- headers.
    ("channel.header", ["Metadata-Flavor: Google"], "Subscription.channel.header[0]",
     "may not be set"),
    ("channel.header", ["X-Forwarded-For: 10.0.0.1"], "Subscription.channel.header[0]",
     "may not be set"),
    ("channel.payload", "application/fhir+xml", "Subscription.channel.payload", "json"),
    ("end", "2020-01-01T00:00:00Z", "Subscription.end", "past"),
]


@pytest.mark.parametrize(("change", "value", "where", "says"), REFUSALS,
                         ids=[f"{r[0]}={r[1]}" for r in REFUSALS])
def test_a_subscription_that_cannot_be_honoured_is_refused_naming_the_element(
        change: str, value: object, where: str, says: str):
    with pytest.raises(InvalidData) as refused:
        mapping.from_fhir(_with(change, value), NOW)
    assert refused.value.field == where
    assert says.lower() in refused.value.message.lower()


@pytest.mark.parametrize(("criterion", "says"), [
    ("Patient?identifier=9990000018", "EpisodeOfCare, not Patient"),
    ("responsible-icb:not=QGH", "modifiers"),
    ("responsible-icb=qgh", "ODS code"),
    ("responsible-la=QGH", "GSS code"),
    ("responsible-icb=https://example.org/codes|QGH", "ods-organization-code"),
    ("event=admitted", "unknown event"),
    ("colour=blue", "not 'colour'"),
    ("", "search string"),
])
def test_a_filter_that_cannot_be_applied_is_refused(criterion: str, says: str):
    with pytest.raises(InvalidData) as refused:
        mapping.from_fhir(rest_hook(criterion), NOW)
    assert refused.value.field == "Subscription.criteria.extension[0]"
    assert says in refused.value.message


def test_the_amqp_channel_and_other_custom_channels():
    spec = mapping.from_fhir(subscription(None, ["responsible-icb=QGH"], amqp=True), NOW)
    assert spec.channel == "amqp" and spec.endpoint is None
    zulip = subscription(None, ["responsible-icb=QGH"], amqp=True)
    zulip["channel"]["_type"]["extension"][0]["valueCoding"] = {
        "system": "http://example.org/channel", "code": "zulip"}
    with pytest.raises(InvalidData, match="custom channel types offered"):
        mapping.from_fhir(zulip, NOW)


def test_no_payload_means_empty_and_active_means_requested():
    resource = _with("channel.payload", None)
    resource["channel"].pop("_payload")
    resource["status"] = "active"
    spec = mapping.from_fhir(resource, NOW)
    assert (spec.content, spec.status) == ("empty", "requested")


# -- notifications ----------------------------------------------------------------------------

def stored(content: str = "id-only", status: str = "active", since: int = 7) -> Subscription:
    return Subscription(
        id="sub-1", status=status, criteria=criteria(responsible_icb="QGH"),
        channel="rest-hook", endpoint="https://icb.example/notify", headers=(),
        content=content, heartbeat_seconds=None, timeout_seconds=None, max_count=None,
        end_at=None, resource=rest_hook("responsible-icb=QGH"), version=1, updated_at=NOW,
        events_since_start=since)


RECORDED = [RecordedEvent(6, event(EventType.PLANNED), NOW - timedelta(minutes=1), 40),
            RecordedEvent(7, event(EventType.STARTED), NOW, 41)]
EPISODE = {"resourceType": "EpisodeOfCare", "id": RECORDED[0].event.entitlement_id,
           "meta": {"versionId": "2"}, "status": "active",
           "patient": {"reference": "Patient/1"}}


def bundles() -> dict[str, dict]:
    base = "https://register.example/fhir"
    return {
        "handshake": notification.bundle(stored(status="requested", since=0), "handshake",
                                         base),
        "heartbeat": notification.bundle(stored(), "heartbeat", base),
        "empty": notification.bundle(stored("empty"), "event-notification", base,
                                     events=RECORDED),
        "id-only": notification.bundle(stored(), "event-notification", base, events=RECORDED),
        "full-resource": notification.bundle(stored("full-resource"), "event-notification",
                                             base, events=RECORDED,
                                             resource_at=lambda _: copy.deepcopy(EPISODE)),
        "stream": notification.stream_bundle(RECORDED[1], base, "s117.events")}


def test_every_notification_is_valid_r4_for_both_validators():
    made = bundles()
    for name, body in made.items():
        assert [i for i in validate.validate(body) if i.severity in ("error", "fatal")] == [], \
            name
    assert errors(validate_with_fhirjs(list(made.values()))) == []


def test_notifications_are_shaped_as_the_backport_ig_says():
    made = bundles()
    for name, body in made.items():
        assert body["type"] == "history", name
        assert body["meta"]["profile"] == [url.BACKPORT_NOTIFICATION]
        first = body["entry"][0]
        assert first["resource"]["resourceType"] == "Parameters"
        assert first["resource"]["meta"]["profile"] == [url.BACKPORT_STATUS]
        assert all("request" in e and "response" in e for e in body["entry"]), \
            "a history Bundle's entries carry request and response (bdl-3, bdl-4)"
    handshake = made["handshake"]["entry"][0]["resource"]
    assert parameters(handshake, "type")[0]["valueCode"] == "handshake"
    assert parameters(handshake, "status")[0]["valueCode"] == "requested"
    assert parameters(handshake, "events-since-subscription-start")[0]["valueString"] == "0"
    assert not parameters(handshake, "notification-event")
    empty = made["empty"]["entry"][0]["resource"]
    assert events_of(empty) == [(6, "planned", None), (7, "started", None)], \
        "empty names no resource"
    assert not parameters(empty, "topic") and len(made["empty"]["entry"]) == 1
    focus = f"https://register.example/fhir/EpisodeOfCare/{EPISODE['id']}"
    assert events_of(made["id-only"]["entry"][0]["resource"]) == [
        (6, "planned", focus), (7, "started", focus)]
    assert len(made["id-only"]["entry"]) == 1
    full = made["full-resource"]["entry"]
    assert [e["resource"]["resourceType"] for e in full[1:]] == ["EpisodeOfCare"] * 2
    assert full[1]["fullUrl"] == focus and full[1]["request"] == {
        "method": "PUT", "url": f"EpisodeOfCare/{EPISODE['id']}"}
    stream = made["stream"]["entry"][0]["resource"]
    assert events_of(stream) == [(41, "started", focus)], "the register-wide number"
    assert parameters(stream, "subscription")[0]["valueReference"]["identifier"] == {
        "system": url.AMQP_EXCHANGE_ID, "value": "s117.events"}


# -- the event stream -------------------------------------------------------------------------

def outbox_row(kind: str = "started", la: str | None = HEREFORDSHIRE,
               icb: str | None = "QGH", row_id: int = 41) -> OutboxRow:
    return OutboxRow(id=row_id, event=kind, entitlement_id=RECORDED[0].event.entitlement_id,
                     local_authority=la, icb=icb,
                     payload=codec.dump(event(EventType(kind), la=la, icb=icb)),
                     created_at=NOW)


def test_routing_keys_name_the_event_and_the_bodies_with_none_for_an_unknown_one():
    assert stream_message(outbox_row(), "b").routing_key == \
        "entitlement.started.E06000019.QGH"
    assert stream_message(outbox_row("needs-review", None, None), "b").routing_key == \
        "entitlement.needs-review.none.none"
    assert topology.event_routing_key("ended", None, "QOX") == "entitlement.ended.none.QOX"


def test_a_message_id_is_the_same_each_time_an_event_is_published_and_differs_between_events():
    assert message_id(outbox_row()) == message_id(outbox_row())
    assert message_id(outbox_row()) != message_id(outbox_row(row_id=42))
    message = stream_message(outbox_row(), "b")
    assert message.properties.message_id == message_id(outbox_row())
    assert set(message.properties.headers) == {"event", "event-number", "topic",
                                               "local-authority", "icb"}


# -- the topics as published ------------------------------------------------------------------

def _sub_values(resource: dict, name: str, key: str) -> list:
    return [sub[key] for e in resource["extension"] if e["url"].endswith(f".{name}")
            for sub in e["extension"] if key in sub]


@pytest.mark.parametrize("topic", list(Topic))
def test_each_topic_is_published_as_basic_with_its_events_and_filters(topic: Topic):
    resource = registry.get("Basic", topic.value)
    assert resource is not None
    assert resource["code"]["coding"][0]["code"] == "SubscriptionTopic"
    canonical = next(e["valueUri"] for e in resource["extension"] if e["url"].endswith(".url"))
    assert canonical == url.topic(topic.value) in mapping.TOPICS
    triggers = {c["coding"][0]["code"] for c in _sub_values(resource, "eventTrigger",
                                                             "valueCodeableConcept")}
    assert triggers == {e.value for e in TOPIC_EVENTS[topic]}
    assert _sub_values(resource, "canFilterBy", "valueString") == list(TOPIC_FILTERS[topic])
    capability = registry.capability_statement("http://x/fhir")["rest"][0]
    subscription_entry = next(r for r in capability["resource"] if r["type"] == "Subscription")
    assert url.topic(topic.value) in [e["valueCanonical"]
                                      for e in subscription_entry["extension"]]


def test_the_entitlement_event_codes_are_the_registers_events():
    assert registry.code_system(url.CS_ENTITLEMENT_EVENT) == {e.value for e in EventType}
    assert registry.code_system(url.CS_CHANNEL_TYPE) == {"amqp"}
    assert f"{BACKPORT}/backport-subscription" == url.BACKPORT_SUBSCRIPTION
