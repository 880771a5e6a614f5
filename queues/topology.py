"""The RabbitMQ topology of DESIGN.md "AMQP (RabbitMQ) topology", as data.

`definitions()` is the one description: `s117 queues declare` declares it on a broker and
writes it as `queues/definitions.json` (importable with `rabbitmqctl import_definitions` or the
management UI), so the file and the broker cannot drift apart.

Inbound order per person: every message published to `s117.inbound` (topic, by sender) is
also routed by a `partition` header, a number computed from the NHS number, through a headers
exchange to one of `PARTITIONS` quorum queues with single-active-consumer. One person's
messages therefore always sit in one queue and are consumed by one consumer at a time, in the
order they were published, while different partitions are worked in parallel. The header
carries the partition number only, never a patient identifier. Council batch files
(`council.<la-gss>`) hold many people, so they go to one queue of their own instead.

Every queue is a quorum queue with manual acks, an explicit delivery limit and the dead-letter
exchange `s117.dead`, whose queue keeps each dead letter with RabbitMQ's `x-death` reason.

Outbound: the relay publishes every register event to `s117.events` (topic, routing key
`entitlement.<event>.<la-gss>.<icb-ods>`) for any consumer that binds a queue there. A
Subscription on the custom channel `amqp` gets its own queue, declared when it is created
(`declare_subscriber_queue`), bound to the direct exchange `s117.notifications` by the
subscription id: the delivery worker publishes that subscriber's notifications there after
the register has applied its filters and numbered them (docs/outbound.md says why this is
not a routing-key binding on `s117.events`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

INBOUND = "s117.inbound"  # topic: hl7v2.<sender-ods>, fhir.<sender-ods>, council.<la-gss>
INBOUND_PARTITIONS = "s117.inbound.partition"  # headers: x-match on `partition`
EVENTS = "s117.events"  # topic: entitlement.<event>.<la-gss>.<icb-ods>
NOTIFICATIONS = "s117.notifications"  # direct: <subscription id> -> that subscriber's queue
DEAD = "s117.dead"  # fanout, and its queue of the same name
# Regional registers (docs/federation.md): topic by destination region code (Y56 ...); the
# queue takes what peers send this register, bound by its own region (S117_REGION).
FEDERATION = "s117.federation"
FEDERATION_IN = "s117.federation.in"
# A second queue on s117.dead, drained by `s117 worker`: a message the broker dead-lettered
# itself (over the delivery limit) is stored in quarantine, so nothing is only on the broker.
DEAD_INTAKE = "s117.dead.intake"
# Council batch files: one message holds many people, so it has no person's partition; one
# queue (single-active-consumer) takes them, one file at a time.
COUNCIL = "s117.inbound.council"
PARTITIONED = ("hl7v2.#", "fhir.#")  # routing keys of messages about one person

PARTITIONS = 8
PARTITION_HEADER = "partition"
# A message redelivered this many times (a worker crashed on it each time) is dead-lettered
# instead of blocking its partition for ever.
DELIVERY_LIMIT = 5
VHOST = "/"
# Routing-key word for a body that is not known (an entitlement with no responsible LA or
# ICB yet, e.g. needs-review): topic words cannot be empty, and `*` still matches it.
UNKNOWN = "none"
# An `amqp` subscriber's queue holds at most this many notifications; beyond that the broker
# refuses new ones, delivery backs off, and the subscriber recovers with $events.
SUBSCRIBER_QUEUE_LIMIT = 100_000

Definitions = dict[str, Any]


def partition_queue(index: int) -> str:
    return f"{INBOUND}.p{index}"


def partition_of(key: str, partitions: int = PARTITIONS) -> int:
    """A stable partition for a routing key (the NHS number): the same in every process and
    every Python run, unlike `hash()`."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % partitions


def event_routing_key(event: str, local_authority: str | None, icb: str | None) -> str:
    """`entitlement.<event>.<la-gss>.<icb-ods>` (DESIGN.md), `none` for a body not known."""
    return f"entitlement.{event}.{local_authority or UNKNOWN}.{icb or UNKNOWN}"


def subscriber_queue(subscription_id: str) -> str:
    return f"s117.subscription.{subscription_id}"


def subscriber_queue_arguments() -> dict[str, Any]:
    return {**quorum_arguments(), "x-max-length": SUBSCRIBER_QUEUE_LIMIT,
            "x-overflow": "reject-publish"}


def declare_subscriber_queue(channel: Any, subscription_id: str) -> str:
    """The queue of one `amqp` Subscription, bound to `s117.notifications` by its id
    (idempotent): the register publishes that subscriber's notifications there, already
    filtered and numbered."""
    queue = subscriber_queue(subscription_id)
    channel.exchange_declare(NOTIFICATIONS, "direct", durable=True)
    channel.queue_declare(queue, durable=True, arguments=subscriber_queue_arguments())
    channel.queue_bind(queue, NOTIFICATIONS, subscription_id)
    return queue


def quorum_arguments(*, single_active: bool = False) -> dict[str, Any]:
    arguments: dict[str, Any] = {"x-queue-type": "quorum", "x-dead-letter-exchange": DEAD,
                                 "x-delivery-limit": DELIVERY_LIMIT}
    if single_active:
        arguments["x-single-active-consumer"] = True
    return arguments


def _exchange(name: str, kind: str, *, internal: bool = False) -> Definitions:
    return {"name": name, "vhost": VHOST, "type": kind, "durable": True, "auto_delete": False,
            "internal": internal, "arguments": {}}


def _queue(name: str, arguments: dict[str, Any]) -> Definitions:
    return {"name": name, "vhost": VHOST, "durable": True, "auto_delete": False,
            "arguments": arguments}


def _binding(source: str, destination: str, kind: str, key: str = "",
             arguments: dict[str, Any] | None = None) -> Definitions:
    return {"source": source, "vhost": VHOST, "destination": destination,
            "destination_type": kind, "routing_key": key, "arguments": arguments or {}}


def definitions(partitions: int = PARTITIONS, region: str | None = None) -> Definitions:
    """The whole topology in RabbitMQ's definitions format (exchanges, queues, bindings);
    with `region`, the federation queue bound by it (the links themselves are made by
    `s117 federation link`: they hold a peer's credentials)."""
    exchanges = [_exchange(INBOUND, "topic"), _exchange(INBOUND_PARTITIONS, "headers",
                                                        internal=True),
                 _exchange(EVENTS, "topic"), _exchange(NOTIFICATIONS, "direct"),
                 _exchange(DEAD, "fanout"), _exchange(FEDERATION, "topic")]
    queues = [_queue(partition_queue(i), quorum_arguments(single_active=True))
              for i in range(partitions)]
    # The dead-letter queue itself has no dead-letter exchange: nothing may loop.
    queues.append(_queue(DEAD, {"x-queue-type": "quorum"}))
    queues.append(_queue(DEAD_INTAKE, {"x-queue-type": "quorum"}))
    queues.append(_queue(COUNCIL, quorum_arguments(single_active=True)))
    queues.append(_queue(FEDERATION_IN, quorum_arguments(single_active=True)))
    bindings = [_binding(INBOUND, INBOUND_PARTITIONS, "exchange", key) for key in PARTITIONED]
    bindings.append(_binding(INBOUND, COUNCIL, "queue", "council.#"))
    bindings += [_binding(INBOUND_PARTITIONS, partition_queue(i), "queue",
                          arguments={"x-match": "all", PARTITION_HEADER: i})
                 for i in range(partitions)]
    bindings.append(_binding(DEAD, DEAD, "queue"))
    bindings.append(_binding(DEAD, DEAD_INTAKE, "queue"))
    if region:
        bindings.append(_binding(FEDERATION, FEDERATION_IN, "queue", region))
    return {"vhosts": [{"name": VHOST}], "exchanges": exchanges, "queues": queues,
            "bindings": bindings}


def declare(channel: Any, partitions: int = PARTITIONS, region: str | None = None
            ) -> Definitions:
    """Declare `definitions()` on an open pika channel (idempotent), and return them."""
    found = definitions(partitions, region)
    for exchange in found["exchanges"]:
        channel.exchange_declare(exchange["name"], exchange["type"], durable=True,
                                 internal=exchange["internal"])
    for queue in found["queues"]:
        channel.queue_declare(queue["name"], durable=True, arguments=queue["arguments"])
    for binding in found["bindings"]:
        if binding["destination_type"] == "exchange":
            channel.exchange_bind(binding["destination"], binding["source"],
                                  binding["routing_key"], arguments=binding["arguments"])
        else:
            channel.queue_bind(binding["destination"], binding["source"],
                               binding["routing_key"], arguments=binding["arguments"])
    return found


def write(path: Path, partitions: int = PARTITIONS, region: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(definitions(partitions, region), indent=2) + "\n",
                    encoding="utf-8")
