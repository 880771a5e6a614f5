"""Delivery under concurrency (issue 22): a few sender threads serve many subscribers (no
thread per subscriber), one subscriber holding a request delays no one else, and each
subscriber's notifications arrive in order with consecutive numbers while two delivery
workers compete for the same subscribers and the subscribers answer at different speeds.
Real HTTP receivers and real PostgreSQL; nothing is mocked."""

from __future__ import annotations

import threading

from sqlalchemy import Engine

from register.service import RegisterService
from tests.outbound_support import (
    EVENTS_PER_PERSON,
    Outbound,
    Receiver,
    apply,
    started,
    wait_for,
)


def test_two_senders_serve_nine_subscribers_while_one_of_them_holds_a_request(
        pg_engine: Engine, pg_service: RegisterService, receivers: list[Receiver]):
    """Two sender threads, nine subscribers: one holds its first request (a sender is
    stuck with it) and the eight others still get every event, in order, from the other
    sender; once released, the held one gets everything too."""
    outbound = Outbound(pg_engine)
    outbound.deliverer.threads = 2
    fast = [started(receivers) for _ in range(8)]
    slow = started(receivers, hold=threading.Event())
    for receiver in fast:
        outbound.subscribe(receiver, "responsible-icb=QGH")
    with outbound.running():
        wait_for(lambda: all(r.of_kind("handshake") for r in fast), "the handshakes")
        outbound.subscribe(slow, "responsible-icb=QGH")
        wait_for(slow.waiting.is_set, "the slow subscriber to be holding a request")
        apply(pg_service, 3, icbs=("QGH",))
        total = 3 * EVENTS_PER_PERSON
        wait_for(lambda: all(len(r.events()) >= total for r in fast),
                 "every fast subscriber's notifications")
        assert slow.received == [], "the slow subscriber was still holding its request"
        slow.hold.set()  # type: ignore[union-attr]
        wait_for(lambda: len(slow.events()) >= total, "the slow subscriber, released")
    for receiver in [*fast, slow]:
        assert receiver.numbers() == list(range(1, total + 1))


def test_each_subscriber_hears_its_events_in_order_from_two_competing_workers(
        pg_engine: Engine, pg_service: RegisterService, receivers: list[Receiver]):
    """Two delivery workers (as two `s117 relay` processes) and six subscribers answering
    after random pauses, changes committed while delivery runs: every subscriber gets its
    events once, numbered 1, 2, 3 ... in commit order, whichever worker sent them."""
    first, second = Outbound(pg_engine), Outbound(pg_engine)
    second.deliverer.linger_seconds = first.deliverer.linger_seconds = 0.05  # hand over often
    subscribers = [started(receivers, jitter=0.02) for _ in range(6)]
    filters = ("responsible-icb=QGH", "responsible-icb=QOX", "responsible-icb=QGH,QOX")
    subs = [first.subscribe(r, filters[i % 3]) for i, r in enumerate(subscribers)]
    with first.running(), second.running(relay=False):
        for batch in range(4):
            apply(pg_service, 3, start=3 * batch)
        outbox = first.outbox()
        wanted = [[(row.entitlement_id, row.event) for row in outbox
                   if row.icb in filters[i % 3].split("=")[1].split(",")]
                  for i in range(len(subscribers))]
        for receiver, expected in zip(subscribers, wanted, strict=True):
            wait_for(lambda r=receiver, e=expected: len(r.events()) >= len(e),
                     "every subscriber's events")
    for receiver, expected, sub in zip(subscribers, wanted, subs, strict=True):
        got = receiver.events()
        assert [n for n, _, _ in got] == list(range(1, len(expected) + 1))
        assert [(focus.rsplit("/", 1)[1], code) for _, code, focus in got] == expected
        assert first.get(sub).delivered_through == len(expected)
