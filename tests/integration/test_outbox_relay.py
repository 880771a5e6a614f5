"""The outbox relay on the real PostgreSQL and RabbitMQ (and, for the embedded bus, SQLite):
commit order, stable message ids, publisher confirms (nothing is marked sent that the broker
did not confirm), safe with two relays at once, and nothing lost when the relay dies between
publishing and marking sent (issue 5 test c), when the broker restarts mid-stream (d), or when
the database drops the relay's connections."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import pika
import pytest
from sqlalchemy import Engine, func, select, text

from fhir_profiles import validate
from queues import topology
from queues.connection import connect
from queues.outbound.relay import Relay
from queues.outbound.stream import StreamPublisher, message_id
from register.nhs_number import synthetic
from register.service import RegisterService
from register.store.orm import OutboxRow
from register.store.subscription_tables import SubscriptionEventRow
from tests.fhir_js import errors, validate_with_fhirjs
from tests.outbound_support import Outbound, Receiver, apply, started, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]
ROUTING_KEY = re.compile(r"^entitlement\.[a-z-]+\.(E\d{8}|none)\.([A-Z0-9]{3,5}|none)$")
WATCH = "s117.test.watch"  # a consumer's own queue on the event stream


@pytest.fixture
def watch(amqp_url: str) -> Iterator[pika.adapters.blocking_connection.BlockingChannel]:
    """A durable quorum queue bound to every event, as an ICB's own consumer would bind."""
    connection = connect(amqp_url, "relay test consumer", give_up_after=10)
    channel = connection.channel()
    topology.declare(channel)
    channel.queue_declare(WATCH, durable=True, arguments={"x-queue-type": "quorum"})
    channel.queue_bind(WATCH, topology.EVENTS, "entitlement.#")
    channel.queue_purge(WATCH)
    yield channel
    with contextlib.suppress(pika.exceptions.AMQPError):  # dead if the broker restarted
        connection.close()
    # a fresh connection: the broker may have restarted during the test
    tidy = connect(amqp_url, "relay test tidy", give_up_after=60)
    tidy.channel().queue_delete(WATCH)
    tidy.close()


def drain(amqp_url: str) -> list[tuple[str, pika.BasicProperties, bytes]]:
    """Everything in the watch queue, in queue order (a fresh connection: the broker may
    have restarted since)."""
    connection = connect(amqp_url, "relay test drain", give_up_after=60)
    channel = connection.channel()
    out = []
    while True:
        method, properties, body = channel.basic_get(WATCH, auto_ack=True)
        if method is None:
            break
        out.append((method.routing_key, properties, body))
    connection.close()
    return out


def relay_all(relay: Relay) -> None:
    while relay.run_once():
        pass


def unpublished(outbound: Outbound) -> int:
    return sum(1 for row in outbound.outbox() if row.published_at is None)


def test_events_reach_the_stream_in_commit_order_with_stable_ids_and_no_patient_data(
        pg_engine: Engine, pg_service: RegisterService, amqp_url: str, watch):  # type: ignore[no-untyped-def]
    outbound = Outbound(pg_engine)
    relay = Relay(outbound.sessions, "http://register.test", StreamPublisher(amqp_url))
    apply(pg_service, 6)
    relay_all(relay)
    relay.publisher.close()  # type: ignore[union-attr]
    rows = outbound.outbox()
    got = drain(amqp_url)
    assert [p.message_id for _, p, _ in got] == [message_id(r) for r in rows]
    assert [key for key, _, _ in got] == [topology.event_routing_key(r.event, r.local_authority,
                                                                     r.icb) for r in rows]
    assert all(ROUTING_KEY.match(key) for key, _, _ in got)
    assert all(r.published_at is not None for r in rows)
    numbers = {synthetic(5_000 + i) for i in range(6)}
    for key, properties, body in got:
        assert properties.delivery_mode == 2 and properties.content_type == \
            "application/fhir+json"
        assert not any(n in json.dumps(properties.headers) + key for n in numbers)
        assert not any(n in body.decode() for n in numbers)
    bundle = json.loads(got[0][2])
    assert [i for i in validate.validate(bundle) if i.severity == "error"] == []
    assert errors(validate_with_fhirjs([bundle])) == []
    status = bundle["entry"][0]["resource"]
    event = next(p for p in status["parameter"] if p["name"] == "notification-event")
    assert {p["name"] for p in event["part"]} == {"event-number", "timestamp", "focus"}
    assert got[0][1].headers["event-number"] == rows[0].id


def fill_until_refused(amqp_url: str, queue: str) -> None:
    """Publish to `queue` one confirm at a time until the broker refuses. A quorum queue
    applies `reject-publish` as its log is applied: a batch published in one go to a queue
    just under its limit can all be taken, so the test fills it first."""
    connection = connect(amqp_url, "relay test filler", give_up_after=10)
    channel = connection.channel()
    channel.confirm_delivery()
    try:
        for _ in range(10):
            channel.basic_publish("", queue, b"filler")
    except pika.exceptions.NackError:
        return
    finally:
        connection.close()
    raise AssertionError(f"{queue} never refused a message")


def test_nothing_is_marked_sent_that_the_broker_refused(
        pg_engine: Engine, pg_service: RegisterService, amqp_url: str, watch):  # type: ignore[no-untyped-def]
    """A full queue with reject-publish makes the broker nack: the batch rolls back, the
    events are not marked sent nor recorded for subscribers, and go out once it has room."""
    outbound = Outbound(pg_engine)
    outbound.subscribe(None, "responsible-icb=QGH")
    watch.queue_declare("s117.test.full", durable=True, arguments={
        "x-queue-type": "quorum", "x-max-length": 1, "x-overflow": "reject-publish"})
    watch.queue_bind("s117.test.full", topology.EVENTS, "entitlement.#")
    watch.queue_purge("s117.test.full")
    fill_until_refused(amqp_url, "s117.test.full")
    relay = Relay(outbound.sessions, "http://register.test", StreamPublisher(amqp_url))
    apply(pg_service, 2)
    with pytest.raises(pika.exceptions.NackError):
        relay.run_once()
    assert unpublished(outbound) == len(outbound.outbox())
    with outbound.sessions() as session:
        assert session.scalar(select(func.count()).select_from(SubscriptionEventRow)) == 0
    watch.queue_delete("s117.test.full")
    relay.publisher.reset()  # type: ignore[union-attr]
    relay_all(relay)
    relay.publisher.close()  # type: ignore[union-attr]
    assert unpublished(outbound) == 0
    rows = outbound.outbox()
    assert [p.message_id for _, p, _ in drain(amqp_url)][-len(rows):] == \
        [message_id(r) for r in rows]


class DiesAfterPublishing(StreamPublisher):
    """The relay process dies after the broker confirmed, before the database commit."""

    def publish(self, messages):  # type: ignore[no-untyped-def]
        super().publish(messages)
        raise SystemExit("killed between publish and mark-sent")


def test_a_relay_killed_between_publish_and_mark_sent_loses_nothing(
        pg_engine: Engine, pg_service: RegisterService, amqp_url: str, watch):  # type: ignore[no-untyped-def]
    """(c): the events are published again by the next relay, with the same ids: delivered
    at least once, never lost; and they are recorded for subscribers exactly once."""
    outbound = Outbound(pg_engine)
    sub = outbound.subscribe(None, "responsible-icb=QGH")
    apply(pg_service, 4)
    dying = Relay(outbound.sessions, "http://register.test", DiesAfterPublishing(amqp_url))
    with pytest.raises(SystemExit):
        dying.run_once()
    dying.publisher.close()  # type: ignore[union-attr]
    rows = outbound.outbox()
    assert unpublished(outbound) == len(rows)
    assert outbound.get(sub).events_since_start == 0
    survivor = Relay(outbound.sessions, "http://register.test", StreamPublisher(amqp_url))
    relay_all(survivor)
    survivor.publisher.close()  # type: ignore[union-attr]
    ids = [p.message_id for _, p, _ in drain(amqp_url)]
    assert ids == [message_id(r) for r in rows] * 2, "published twice, same ids, same order"
    assert unpublished(outbound) == 0
    qgh = [r for r in rows if r.icb == "QGH"]
    assert outbound.get(sub).events_since_start == len(qgh)
    assert [e.outbox_id for e in outbound.store.events(sub.id)] == [r.id for r in qgh]


def _close_from_the_broker(connection_name: str) -> None:
    """The broker drops one connection (its own, by name): what a node going away does to
    a batch in flight, without stopping the shared broker."""
    listed = subprocess.run(["rabbitmqctl", "-q", "list_connections", "pid",
                             "client_properties"], check=True, capture_output=True, text=True,
                            timeout=60).stdout
    pids = [line.split("\t")[0] for line in listed.splitlines()
            if f"s117 {connection_name}" in line]
    assert len(pids) == 1, f"one connection named {connection_name}: {pids}"
    subprocess.run(["rabbitmqctl", "-q", "close_connection", pids[0], "test: dropped"],
                   check=True, capture_output=True, timeout=60)


class Unchecked(StreamPublisher):
    """A publisher that does not check its connection before a batch, so the broker's drop
    is found with the batch written and unconfirmed, as when it comes mid-batch."""

    def keepalive(self) -> None:
        pass


def test_a_batch_whose_confirms_never_come_is_published_again_not_lost(
        pg_engine: Engine, pg_service: RegisterService, amqp_url: str, watch):  # type: ignore[no-untyped-def]
    """Batched confirms: the broker closes the relay's connection with a whole batch
    written and unconfirmed. The batch fails, nothing of it is marked sent or recorded for
    subscribers; the next batch publishes it again (same ids, same order) and records it
    once."""
    outbound = Outbound(pg_engine)
    sub = outbound.subscribe(None, "responsible-icb=QGH")
    name = f"relay-test-{uuid.uuid4().hex[:8]}"
    relay = Relay(outbound.sessions, "http://register.test", Unchecked(amqp_url, name))
    apply(pg_service, 2)
    relay_all(relay)  # the connection is open and idle now
    before = len(outbound.outbox())
    recorded = outbound.get(sub).events_since_start
    _close_from_the_broker(name)
    apply(pg_service, 4, start=2)
    with pytest.raises(pika.exceptions.AMQPError):
        relay.run_once()
    rows = outbound.outbox()
    assert unpublished(outbound) == len(rows) - before > 0
    assert outbound.get(sub).events_since_start == recorded, "nothing recorded twice"
    relay.publisher.reset()  # type: ignore[union-attr]
    relay_all(relay)
    relay.publisher.close()  # type: ignore[union-attr]
    assert unpublished(outbound) == 0
    got = [p.message_id for _, p, _ in drain(amqp_url)]
    assert list(dict.fromkeys(got)) == [message_id(r) for r in rows], "all, in commit order"
    qgh = [r.id for r in rows if r.icb == "QGH"]
    assert [e.outbox_id for e in outbound.store.events(sub.id)] == qgh
    assert [e.number for e in outbound.store.events(sub.id)] == list(range(1, len(qgh) + 1))


@contextmanager
def relaying(*relays: Relay) -> Iterator[None]:
    stop = threading.Event()
    threads = [threading.Thread(target=r.run, args=(stop,), daemon=True) for r in relays]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)


def _per_entitlement(rows: list[OutboxRow]) -> dict[str, list[str]]:
    order: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        order[row.entitlement_id].append(message_id(row))
    return order


def test_two_relays_at_once_publish_each_event_once_in_order(
        pg_engine: Engine, pg_service: RegisterService, amqp_url: str, watch,  # type: ignore[no-untyped-def]
        receivers: list[Receiver]):
    outbound = Outbound(pg_engine)
    receiver = started(receivers)
    sub = outbound.subscribe(receiver, "responsible-icb=QGH")
    relays = [Relay(outbound.sessions, "http://register.test", StreamPublisher(amqp_url),
                    batch_size=3, poll_seconds=0.01,
                    on_batch=lambda _: outbound.deliverer.notify()) for _ in range(2)]
    with relaying(*relays), outbound.running(relay=False):
        apply(pg_service, 15)
        wait_for(lambda: unpublished(outbound) == 0, "every event relayed")
        total = outbound.get(sub).events_since_start
        wait_for(lambda: outbound.get(sub).delivered_through == total, "delivery")
    rows = outbound.outbox()
    got = drain(amqp_url)
    assert sorted(p.message_id for _, p, _ in got) == sorted(message_id(r) for r in rows)
    by_row = {message_id(r): r for r in rows}
    assert _per_entitlement([by_row[p.message_id] for _, p, _ in got]) == \
        _per_entitlement(rows)
    assert sum(r.relayed for r in relays) == len(rows)
    assert receiver.numbers() == list(range(1, total + 1))


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=120)


@pytest.mark.disruptive  # stops the shared broker
def test_a_broker_restart_during_a_stream_loses_nothing(
        pg_engine: Engine, pg_service: RegisterService, amqp_url: str, watch):  # type: ignore[no-untyped-def]
    """(d): the broker stops mid-stream and comes back; the relay waits, reconnects, and
    every event reaches the consumer's durable queue (some perhaps twice, with one id)."""
    outbound = Outbound(pg_engine)
    relay = Relay(outbound.sessions, "http://register.test", StreamPublisher(amqp_url),
                  batch_size=5, poll_seconds=0.01)
    with relaying(relay):
        apply(pg_service, 5)
        wait_for(lambda: unpublished(outbound) == 0, "the first events relayed")
        _rabbitmqctl("stop_app")
        try:
            apply(pg_service, 5, start=5)
            assert unpublished(outbound) > 0, "nothing is marked sent while the broker is down"
        finally:
            _rabbitmqctl("start_app")
        apply(pg_service, 5, start=10)
        wait_for(lambda: unpublished(outbound) == 0, "every event relayed after the restart",
                 timeout=120)
    rows = outbound.outbox()
    got = [p.message_id for _, p, _ in drain(amqp_url)]
    assert set(got) == {message_id(r) for r in rows}, "nothing lost"
    first_seen = list(dict.fromkeys(got))
    assert first_seen == [message_id(r) for r in rows], "in commit order"


def test_the_relay_survives_the_database_dropping_its_connections(
        pg_engine: Engine, pg_service: RegisterService, amqp_url: str, watch):  # type: ignore[no-untyped-def]
    outbound = Outbound(pg_engine)
    relay = Relay(outbound.sessions, "http://register.test", StreamPublisher(amqp_url),
                  poll_seconds=0.01)
    with relaying(relay):
        apply(pg_service, 3)
        wait_for(lambda: unpublished(outbound) == 0, "the first events relayed")
        with pg_engine.connect() as conn:
            killed = conn.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                "datname = current_database() AND pid <> pg_backend_pid()")).scalar()
        assert killed
        for _ in range(3):  # the service's own pooled connections were dropped too
            try:
                apply(pg_service, 3, start=3)
                break
            except Exception:  # noqa: BLE001 - a dropped pooled connection; retry
                continue
        wait_for(lambda: unpublished(outbound) == 0, "relayed after the reconnect")
    rows = outbound.outbox()
    assert {p.message_id for _, p, _ in drain(amqp_url)} == {message_id(r) for r in rows}


def _connection_pids(connection_name: str) -> list[str]:
    listed = subprocess.run(["rabbitmqctl", "-q", "list_connections", "pid",
                             "client_properties"], check=True, capture_output=True, text=True,
                            timeout=60).stdout
    return [line.split("\t")[0] for line in listed.splitlines()
            if f"s117 {connection_name}" in line]


def test_an_idle_relay_keeps_its_connection_by_answering_heartbeats(
        pg_engine: Engine, pg_service: RegisterService, amqp_url: str, watch,  # type: ignore[no-untyped-def]
        caplog: pytest.LogCaptureFixture):
    """Issue 22: a 2 s heartbeat, and the relay idle for well over three intervals (the
    broker drops a connection after two missed). It must still be the same connection that
    publishes the next event: no failed batch, no reconnect."""
    outbound = Outbound(pg_engine)
    name = f"relay-hb-{uuid.uuid4().hex[:8]}"
    url = amqp_url + ("&" if "?" in amqp_url else "?") + "heartbeat=2"
    publisher = StreamPublisher(url, name)
    relay = Relay(outbound.sessions, "http://register.test", publisher, poll_seconds=0.05)
    caplog.set_level("WARNING")
    with relaying(relay):
        apply(pg_service, 1)
        wait_for(lambda: unpublished(outbound) == 0, "the first event relayed")
        first, pids = publisher._connection, _connection_pids(name)  # noqa: SLF001
        assert first is not None and len(pids) == 1
        threading.Event().wait(7.0)  # idle: the time under test, > 3 heartbeat intervals
        apply(pg_service, 1, start=1)
        wait_for(lambda: unpublished(outbound) == 0, "the event after the idle spell")
        assert publisher._connection is first, "the relay did not reconnect"  # noqa: SLF001
        assert _connection_pids(name) == pids, "the broker kept the same connection"
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == []
    got = [p.message_id for _, p, _ in drain(amqp_url)]
    assert got == [message_id(r) for r in outbound.outbox()], "each event once, in order"
