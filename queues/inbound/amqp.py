"""Envelopes on RabbitMQ: publishing with publisher confirms (reconnecting with backoff), and
reading a delivery back into an Envelope."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from datetime import datetime
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection
from pika.exceptions import NackError, UnroutableError

from queues import topology
from queues.connection import RECOVERABLE, backoff, connect
from queues.inbound import envelope as env
from queues.inbound.envelope import Envelope
from register.store.dialect import utcnow

log = logging.getLogger("s117.queues")

CONTENT_TYPES = {"hl7v2": "x-application/hl7-v2+er7", "fhir": "application/fhir+json"}


class Unavailable(Exception):
    """The message could not be made durable (broker or database unreachable): the sender
    must send it again. Nothing was stored."""


def properties(envelope: Envelope) -> pika.BasicProperties:
    headers: dict[str, Any] = {topology.PARTITION_HEADER: envelope.partition,
                               env.RECEIVED_AT: envelope.received_at.isoformat()}
    if envelope.rejected:
        headers[env.REJECTED] = envelope.rejected
        headers[env.REJECTED_KIND] = envelope.rejected_kind or "rejected"
    if envelope.replay_of is not None:
        headers[env.REPLAY_OF] = envelope.replay_of
    if envelope.size is not None:
        headers[env.SIZE] = envelope.size
    return pika.BasicProperties(
        delivery_mode=pika.DeliveryMode.Persistent, message_id=envelope.message_id,
        content_type=CONTENT_TYPES.get(envelope.channel, "application/octet-stream"),
        timestamp=int(time.time()), headers=headers)


def envelope_of(routing_key: str, props: pika.BasicProperties, body: bytes) -> Envelope:
    headers = props.headers or {}

    def text(name: str) -> str | None:
        value = headers.get(name)
        return value.decode() if isinstance(value, bytes) else value

    received = text(env.RECEIVED_AT)
    # Councils publish their files themselves: headers may be anything, never fatal here.
    partition = headers.get(topology.PARTITION_HEADER, 0)
    return Envelope(
        routing_key=routing_key, body=body,
        partition=partition if isinstance(partition, int) else 0,
        message_id=props.message_id or "",
        received_at=datetime.fromisoformat(received) if received else utcnow(),
        rejected=text(env.REJECTED), rejected_kind=text(env.REJECTED_KIND),
        replay_of=headers.get(env.REPLAY_OF), size=headers.get(env.SIZE))


class Publisher:
    """One connection and one confirm channel, used by one thread at a time: a publish
    returns only once the broker has confirmed the message (it is on disk in the quorum
    queue), or raises Unavailable after `give_up_after` seconds of trying."""

    def __init__(self, url: str, name: str, give_up_after: float = 20.0) -> None:
        self.url = url
        self.name = name
        self.give_up_after = give_up_after
        self._lock = threading.Lock()
        self._connection: BlockingConnection | None = None
        self._channel: BlockingChannel | None = None

    def _open(self, remaining: float) -> BlockingChannel:
        if self._channel is None or not self._channel.is_open:
            self.close()
            self._connection = connect(self.url, self.name, give_up_after=remaining)
            channel = self._connection.channel()
            topology.declare(channel)  # idempotent: a fresh broker gets the topology
            channel.confirm_delivery()
            self._channel = channel
        return self._channel

    def publish(self, exchange: str, routing_key: str, body: bytes,
                props: pika.BasicProperties) -> None:
        started = time.monotonic()
        attempt = 0
        with self._lock:
            while True:
                remaining = self.give_up_after - (time.monotonic() - started)
                try:
                    if remaining <= 0:
                        raise Unavailable("RabbitMQ did not confirm the message in "
                                          f"{self.give_up_after:.0f} s")
                    self._open(remaining).basic_publish(exchange, routing_key, body, props,
                                                        mandatory=True)
                    return
                except (NackError, UnroutableError, *RECOVERABLE) as error:
                    log.warning("publish to %s not confirmed (%s); retrying", exchange,
                                type(error).__name__)
                    self.close()
                    time.sleep(min(backoff(attempt), max(0.0, remaining)))
                    attempt += 1

    def publish_envelope(self, envelope: Envelope) -> None:
        self.publish(topology.INBOUND, envelope.routing_key, envelope.body,
                     properties(envelope))

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            with contextlib.suppress(*RECOVERABLE):
                connection.close()


def dead_letter_properties(envelope: Envelope, row_id: int, kind: str) -> pika.BasicProperties:
    props = properties(envelope)
    props.headers.update({env.QUARANTINE_ID: row_id, env.REASON: kind,
                          "s117-routing-key": envelope.routing_key})
    return props
