"""Subscriptions delivered to real HTTP subscribers (werkzeug servers started by the tests),
on SQLite and PostgreSQL: the relay records each committed change for the subscriptions it
matches, the delivery worker POSTs them in order with consecutive event numbers; a subscriber
that was down gets everything once it is back; a slow one delays no one; a dead one ends in
status `error` while its events go on being recorded; handshake, heartbeat, headers, and
every attempt on record. Issue 5 tests (a) and (b)."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import Engine, update

from mappings.fhir import subscription as mapping
from queues.outbound.delivery import RetryPolicy
from register.service import RegisterService
from register.store.dialect import utcnow
from register.store.subscription_tables import SubscriptionRow
from tests.outbound_support import (
    BASE,
    EVENTS_PER_PERSON,
    FAST,
    Outbound,
    Receiver,
    apply,
    parameters,
    started,
    subscription,
    wait_for,
)


def test_each_icb_hears_every_change_for_its_patients_and_nothing_else(
        outbound: Outbound, service: RegisterService, receivers: list[Receiver]):
    """(a): every committed change for an ICB's patients reaches that ICB, in commit order,
    numbered 1, 2, 3 ...; none reaches another ICB."""
    qgh, qox = started(receivers), started(receivers)
    started_only = started(receivers)
    subs = {"QGH": outbound.subscribe(qgh, "EpisodeOfCare?responsible-icb=QGH"),
            "QOX": outbound.subscribe(qox, "responsible-icb=QOX")}
    only = outbound.subscribe(started_only, "EpisodeOfCare?responsible-icb=QGH,QOX&"
                                            "event=started")
    with outbound.running():
        apply(service, 12)
        outbox = outbound.outbox()
        expected = {icb: [(row.entitlement_id, row.event) for row in outbox if row.icb == icb]
                    for icb in subs}
        assert all(expected.values())
        for icb, receiver in (("QGH", qgh), ("QOX", qox)):
            wait_for(lambda r=receiver, i=icb: len(r.events()) >= len(expected[i]),
                     f"{icb}'s notifications")
        wait_for(lambda: len(started_only.events()) >= 12, "the started events")
    for icb, receiver in (("QGH", qgh), ("QOX", qox)):
        got = receiver.events()
        assert [n for n, _, _ in got] == list(range(1, len(expected[icb]) + 1))
        assert [(focus.rsplit("/", 1)[1], code) for _, code, focus in got] == expected[icb]
        assert {focus.rsplit("/", 1)[1] for _, _, focus in got} <= \
            outbound.entitlements_of_icb(icb)
        assert receiver.of_kind("handshake"), "a handshake came first"
        assert receiver.received[0].kind == "handshake"
        assert outbound.get(subs[icb]).delivered_through == len(expected[icb])
    assert {code for _, code, _ in started_only.events()} == {"started"}
    assert outbound.get(only).events_since_start == 12


def test_a_subscriber_that_was_down_gets_every_event_in_order_once_back(
        outbound: Outbound, service: RegisterService, receivers: list[Receiver]):
    """(b): with the subscriber down, attempts fail and are recorded; once it is back it
    receives everything, in order, with consecutive numbers and no gap."""
    receiver = started(receivers)
    sub = outbound.subscribe(receiver, "responsible-icb=QGH")
    with outbound.running():
        wait_for(lambda: outbound.get(sub).status == "active", "the handshake")
        receiver.stop()
        apply(service, 8)
        wait_for(lambda: all(r.published_at for r in outbound.outbox()), "every event relayed")
        total = outbound.get(sub).events_since_start
        assert total >= 8
        wait_for(lambda: outbound.get(sub).failures >= 2, "failed attempts")
        down = outbound.get(sub)
        assert down.status == "active" and down.delivered_through == 0
        assert down.last_error and down.last_error.startswith("unreachable:")  # a category
        failed = [a for a in outbound.store.attempts(sub.id, 50) if a.outcome == "failed"]
        assert failed and all(a.first_event == 1 for a in failed)
        receiver.start()
        wait_for(lambda: outbound.get(sub).delivered_through == total, "catching up")
    assert receiver.numbers() == list(range(1, total + 1))
    recovered = outbound.store.events(sub.id, since=1)
    assert [e.number for e in recovered] == list(range(1, total + 1))
    assert [e.event.entitlement_id for e in recovered] == \
        [focus.rsplit("/", 1)[1] for _, _, focus in receiver.events()]
    assert outbound.get(sub).failures == 0 and outbound.get(sub).last_error is None


def test_a_slow_subscriber_delays_no_one_else(
        outbound: Outbound, service: RegisterService, receivers: list[Receiver]):
    slow = started(receivers, hold=threading.Event())
    fast = started(receivers)
    outbound.subscribe(fast, "responsible-icb=QGH")
    with outbound.running():
        wait_for(lambda: fast.of_kind("handshake"), "the fast subscriber's handshake")
        outbound.subscribe(slow, "responsible-icb=QGH")
        wait_for(slow.waiting.is_set, "the slow subscriber to be holding a request")
        apply(service, 2, icbs=("QGH",))
        total = 2 * EVENTS_PER_PERSON
        wait_for(lambda: len(fast.events()) >= total, "the fast subscriber's notifications")
        assert not slow.hold.is_set() and slow.received == [], \
            "the slow subscriber was still holding its first request"  # type: ignore[union-attr]
        slow.hold.set()  # type: ignore[union-attr]
        wait_for(lambda: len(slow.events()) >= total, "the slow subscriber, released")
    assert slow.numbers() == fast.numbers() == list(range(1, total + 1))


def test_a_dead_subscriber_ends_in_error_and_its_events_are_still_recorded(
        engine: Engine, service: RegisterService, receivers: list[Receiver]):
    outbound = Outbound(engine, RetryPolicy(give_up_after=timedelta(seconds=1),
                                            first_delay=0.05, max_delay=0.2))
    receiver = started(receivers)
    sub = outbound.subscribe(receiver, "responsible-icb=QGH")
    with outbound.running():
        wait_for(lambda: outbound.get(sub).status == "active", "the handshake")
        receiver.answer = 503
        apply(service, 1, icbs=("QGH",))
        wait_for(lambda: outbound.get(sub).status == "error", "status error")
        attempts = outbound.store.attempts(sub.id, 100)
        assert {a.http_status for a in attempts if a.outcome == "failed"} == {503}
        tried = len(attempts)
        apply(service, 1, start=1, icbs=("QGH",))
        wait_for(lambda: outbound.get(sub).events_since_start == 2 * EVENTS_PER_PERSON,
                 "events still recorded")
    assert outbound.get(sub).status == "error" and outbound.get(sub).delivered_through == 0
    assert len(outbound.store.attempts(sub.id, 100)) == tried, "no more attempts in error"
    assert "HTTP 503" in (outbound.get(sub).last_error or "")


def test_a_failed_handshake_is_an_error_at_once(
        outbound: Outbound, receivers: list[Receiver]):
    receiver = started(receivers, answer=500)
    sub = outbound.subscribe(receiver, "responsible-icb=QGH")
    with outbound.running():
        wait_for(lambda: outbound.get(sub).status == "error", "status error")
    attempts = outbound.store.attempts(sub.id)
    assert [a.kind for a in attempts] == ["handshake"] * FAST.handshake_attempts
    assert all(a.outcome == "failed" and a.http_status == 500 for a in attempts)


def test_handshake_heartbeat_and_the_subscribers_own_headers(
        outbound: Outbound, receivers: list[Receiver]):
    receiver = started(receivers)
    sub = outbound.subscribe(receiver, "responsible-la=E06000019", heartbeat=1,
                             headers=["Authorization: Bearer icb-secret", "X-Team: s117"])
    with outbound.running():
        wait_for(lambda: len(receiver.of_kind("heartbeat")) >= 2, "two heartbeats")
    handshake, *rest = receiver.received
    assert handshake.kind == "handshake"
    assert parameters(handshake.status, "status")[0]["valueCode"] == "requested"
    assert all(r.kind == "heartbeat" for r in rest)
    for r in receiver.received:
        assert r.headers["Authorization"] == "Bearer icb-secret"
        assert r.headers["X-Team"] == "s117"
        assert r.headers["Content-Type"] == "application/fhir+json"
        assert parameters(r.status, "events-since-subscription-start")[0]["valueString"] == "0"
        assert not parameters(r.status, "notification-event")
    assert outbound.get(sub).status == "active"
    kinds = [a.kind for a in reversed(outbound.store.attempts(sub.id, 10))]
    assert kinds[0] == "handshake" and set(kinds[1:]) == {"heartbeat"}


def test_full_resource_notifications_carry_the_entitlement_as_the_event_left_it(
        outbound: Outbound, service: RegisterService, receivers: list[Receiver]):
    receiver = started(receivers)
    outbound.subscribe(receiver, "responsible-icb=QGH", content="full-resource")
    with outbound.running():
        wait_for(lambda: receiver.of_kind("handshake"), "the handshake")
        apply(service, 1, icbs=("QGH",))
        wait_for(lambda: len(receiver.events()) >= EVENTS_PER_PERSON,
                 "planned, started, needs-review and flag-raised")
    entries = [e for r in receiver.of_kind("event-notification") for e in r.body["entry"][1:]]
    statuses = [e["resource"]["status"] for e in entries]
    assert statuses == ["planned", "active", "active", "active"], \
        "each event with the version it made"
    assert [e["request"]["method"] for e in entries] == ["POST", "PUT", "PUT", "PUT"]
    assert all(e["fullUrl"].startswith(f"{BASE}/fhir/EpisodeOfCare/") for e in entries)


def test_ended_subscriptions_hear_nothing_more_and_off_ones_record_nothing(
        outbound: Outbound, service: RegisterService, receivers: list[Receiver]):
    receiver = started(receivers)
    sub = outbound.subscribe(receiver, "responsible-icb=QGH")
    off = outbound.manager.create(mapping.from_fhir(
        {**subscription(receiver.url, ["responsible-icb=QGH"]), "status": "off"}, utcnow()))
    with outbound.running():
        wait_for(lambda: outbound.get(sub).status == "active", "the handshake")
        apply(service, 1, icbs=("QGH",))
        wait_for(lambda: outbound.get(sub).delivered_through == EVENTS_PER_PERSON,
                 "delivery")
    assert outbound.get(off.subscription).events_since_start == 0
    assert len(receiver.of_kind("handshake")) == 1


def test_two_in_process_buses_on_one_embedded_database_are_harmless(
        engine: Engine, service: RegisterService, receivers: list[Receiver]):
    """Embedded mode with several gunicorn workers: each runs the in-process bus on the same
    tables; every event is recorded once and delivered once, in order."""
    first, second = Outbound(engine), Outbound(engine)
    receiver = started(receivers)
    sub = first.subscribe(receiver, "responsible-icb=QGH,QOX")
    with first.running(), second.running():
        apply(service, 10)
        wait_for(lambda: all(r.published_at for r in first.outbox()), "relayed")
        total = first.get(sub).events_since_start
        wait_for(lambda: first.get(sub).delivered_through == total, "delivered")
    assert total == len(first.outbox())
    assert receiver.numbers() == list(range(1, total + 1))
    assert [n for n, _, _ in receiver.events()] == sorted(set(receiver.numbers()))


def test_a_subscription_whose_end_has_passed_records_nothing_more_and_is_turned_off(
        outbound: Outbound, service: RegisterService):
    sub = outbound.subscribe(None, "responsible-icb=QGH")
    with outbound.sessions.begin() as session:  # its `end` comes (a clock moved on)
        session.execute(update(SubscriptionRow).where(SubscriptionRow.id == sub.id)
                        .values(end_at=utcnow()))
    apply(service, 1, icbs=("QGH",))
    while outbound.relay.run_once():
        pass
    assert outbound.get(sub).events_since_start == 0
    assert outbound.store.due(utcnow()) == []
    assert outbound.store.expire(utcnow()) == 1
    assert outbound.get(sub).status == "off"


def test_a_new_subscription_hears_nothing_committed_before_it_even_if_the_relay_is_behind(
        outbound: Outbound, service: RegisterService):
    """A server started on a register with changes not yet relayed (the demo's, a relay that
    was down) must not number those older changes into a Subscription made meanwhile."""
    apply(service, 2, icbs=("QGH",))
    before = outbound.subscribe(None, "responsible-icb=QGH")
    apply(service, 1, start=2, icbs=("QGH",))
    while outbound.relay.run_once():
        pass
    assert all(r.published_at for r in outbound.outbox()), "every change relayed"
    assert outbound.get(before).events_since_start == EVENTS_PER_PERSON
    recorded = outbound.store.events(before.id)
    assert [e.number for e in recorded] == list(range(1, EVENTS_PER_PERSON + 1))


def test_a_subscriber_catching_up_gets_at_most_max_count_events_a_notification(
        outbound: Outbound, service: RegisterService, receivers: list[Receiver]):
    receiver = started(receivers)
    sub = outbound.subscribe(receiver, "responsible-icb=QGH", max_count=2)
    with outbound.running():
        wait_for(lambda: outbound.get(sub).status == "active", "the handshake")
        receiver.stop()
        apply(service, 3, icbs=("QGH",))
        wait_for(lambda: outbound.get(sub).failures >= 1, "a failed attempt")
        receiver.start()
        total = 3 * EVENTS_PER_PERSON
        wait_for(lambda: outbound.get(sub).delivered_through == total, "catching up")
    sizes = [len(r.events()) for r in receiver.of_kind("event-notification")]
    assert max(sizes) == 2 and sum(sizes) == total
    assert receiver.numbers() == list(range(1, total + 1))
