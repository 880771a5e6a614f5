"""The custom channel `amqp` on the real RabbitMQ: an ICB's Subscription gets its own durable
queue and its own RabbitMQ user (made with rabbitmqctl here; docker-compose uses the
management API), a real AMQP consumer logged in as that user reads handshake and
notifications, filtered and numbered by the register, and that user can read nothing else
and publish nowhere. Deleting the Subscription removes both."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator

import pika
import pytest
from sqlalchemy import Engine

from mappings.fhir import subscription as mapping
from queues.connection import connect
from queues.outbound.channels import AmqpQueue
from queues.outbound.credentials import RabbitmqCtl
from register.service import RegisterService
from register.store.dialect import utcnow
from tests.outbound_support import Outbound, apply, events_of, subscription, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]


@pytest.fixture
def amqp_outbound(pg_engine: Engine, amqp_url: str) -> Iterator[Outbound]:
    if shutil.which("rabbitmqctl") is None:
        pytest.fail("rabbitmqctl is needed to make subscriber users here")
    outbound = Outbound(pg_engine)
    outbound.manager.amqp_url = amqp_url
    outbound.manager.users = RabbitmqCtl()
    outbound.deliverer.channels = {**outbound.deliverer.channels, "amqp": AmqpQueue(amqp_url)}
    made = []
    original = outbound.manager.create

    def create(spec):  # type: ignore[no-untyped-def]
        created = original(spec)
        made.append(created.subscription.id)
        return created

    outbound.manager.create = create  # type: ignore[method-assign]
    yield outbound
    for subscription_id in made:  # users are per broker, not per test virtual host
        outbound.manager.delete(subscription_id)


def as_subscriber(amqp_url: str, username: str, password: str) -> pika.BlockingConnection:
    params = pika.URLParameters(amqp_url)
    params.credentials = pika.PlainCredentials(username, password)
    return pika.BlockingConnection(params)


def read(channel: pika.adapters.blocking_connection.BlockingChannel, queue: str,
         events: int) -> list[tuple[pika.BasicProperties, dict]]:
    """Consume as a subscriber would (manual acks) until notifications of `events` events
    have come (a notification may carry several)."""
    got: list[tuple[pika.BasicProperties, dict]] = []
    seen = 0
    for method, properties, body in channel.consume(queue, inactivity_timeout=30):
        assert method is not None, f"only {seen} of {events} events came"
        got.append((properties, json.loads(body)))
        seen += len(events_of(got[-1][1]["entry"][0]["resource"]))
        channel.basic_ack(method.delivery_tag)
        if seen == events:
            break
    channel.cancel()
    return got


def test_an_icb_reads_its_own_queue_with_its_own_credentials(
        amqp_outbound: Outbound, pg_service: RegisterService, amqp_url: str):
    outbound = amqp_outbound
    created = outbound.manager.create(mapping.from_fhir(
        subscription(None, ["responsible-icb=QGH"], amqp=True), utcnow()))
    sub, password = created.subscription, created.password
    assert sub.amqp_queue == f"s117.subscription.{sub.id}" and sub.amqp_user and password
    resource = mapping.to_fhir(sub, amqp_endpoint="amqp://127.0.0.1:5672/x", password=password)
    issued = {e["url"]: e.get("valueString") for e in resource["channel"]["extension"][0]
              ["extension"]}
    assert issued == {"queue": sub.amqp_queue, "username": sub.amqp_user, "password": password}
    assert "password" not in json.dumps(mapping.to_fhir(sub)), "shown once, never stored"

    with outbound.running():
        apply(pg_service, 6)
        wait_for(lambda: all(r.published_at for r in outbound.outbox()), "every event relayed")
        wait_for(lambda: outbound.get(sub).delivered_through == outbound.get(sub)
                 .events_since_start > 0, "delivery to the queue")
    expected = [r for r in outbound.outbox() if r.icb == "QGH"]
    connection = as_subscriber(amqp_url, sub.amqp_user, password)
    channel = connection.channel()
    messages = read(channel, sub.amqp_queue, outbound.get(sub).delivered_through)
    kinds = [p.type for p, _ in messages]
    assert kinds[0] == "handshake" and set(kinds[1:]) == {"event-notification"}
    events = [e for _, body in messages[1:] for e in events_of(body["entry"][0]["resource"])]
    assert [n for n, _, _ in events] == list(range(1, len(expected) + 1))
    assert [(f.rsplit("/", 1)[1], code) for _, code, f in events] == \
        [(r.entitlement_id, r.event) for r in expected]
    assert all(p.delivery_mode == 2 and p.headers["subscription"] == sub.id
               for p, _ in messages)

    # The subscriber's user reads its own queue and nothing else, and publishes nowhere.
    other = outbound.manager.create(mapping.from_fhir(
        subscription(None, ["responsible-icb=QOX"], amqp=True), utcnow())).subscription
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
        channel.basic_get(other.amqp_queue)
    assert refused.value.reply_code == 403
    channel = connection.channel()
    channel.confirm_delivery()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
        channel.basic_publish("s117.events", "entitlement.started.none.QGH", b"{}")
    assert refused.value.reply_code == 403
    connection.close()

    outbound.manager.delete(sub.id)
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        as_subscriber(amqp_url, sub.amqp_user, password)
    admin = connect(amqp_url, "amqp subscriber test", give_up_after=10)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as gone:
        admin.channel().queue_declare(sub.amqp_queue, passive=True)
    assert gone.value.reply_code == 404
    admin.close()


def test_amqp_is_refused_without_a_broker_or_an_admin(
        amqp_outbound: Outbound, amqp_url: str):
    from register.errors import InvalidData

    spec = mapping.from_fhir(subscription(None, ["responsible-icb=QGH"], amqp=True), utcnow())
    amqp_outbound.manager.users = None
    with pytest.raises(InvalidData, match="S117_AMQP_ADMIN"):
        amqp_outbound.manager.create(spec)
    amqp_outbound.manager.amqp_url = None
    with pytest.raises(InvalidData, match="networked register"):
        amqp_outbound.manager.create(spec)
    assert amqp_outbound.store.all() == [], "a refused Subscription leaves nothing behind"
