"""The register's event stream on `s117.events`: one persistent message per outbox event,
routed by `entitlement.<event>.<la-gss>.<icb-ods>`, with a message id that is the same every
time the same event is published (a relay that crashed after publishing publishes it again:
consumers de-duplicate by message id), and headers that name no patient."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import NAMESPACE_URL, uuid5

import pika
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

from fhir_profiles import canonical as url
from mappings.fhir import notification
from queues import topology
from queues.connection import connect
from register.store import codec
from register.store.orm import OutboxRow
from register.subscriptions import RecordedEvent

log = logging.getLogger("s117.relay")
_NAMESPACE = uuid5(NAMESPACE_URL, f"{url.BASE}/event")
FHIR_JSON = "application/fhir+json"


@dataclass(frozen=True)
class StreamMessage:
    routing_key: str
    body: bytes
    properties: pika.BasicProperties


def message_id(row: OutboxRow) -> str:
    """Stable for one event: from its outbox id and commit time, so even a database whose
    ids were reused after a restore gives a new event a new id."""
    return str(uuid5(_NAMESPACE, f"{row.id}/{row.created_at.isoformat()}"))


def recorded(row: OutboxRow) -> RecordedEvent:
    return RecordedEvent(row.id, codec.load_event(row.payload), row.created_at, row.id)


def stream_message(row: OutboxRow, base: str) -> StreamMessage:
    event = recorded(row)
    body = json.dumps(notification.stream_bundle(event, base, topology.EVENTS),
                      separators=(",", ":"))
    headers = {"event": row.event, "event-number": row.id,
               "topic": url.topic("s117-entitlement-change"),
               "local-authority": row.local_authority or topology.UNKNOWN,
               "icb": row.icb or topology.UNKNOWN}
    return StreamMessage(
        topology.event_routing_key(row.event, row.local_authority, row.icb), body.encode(),
        pika.BasicProperties(content_type=FHIR_JSON, delivery_mode=2,
                             message_id=message_id(row), type=row.event,
                             timestamp=int(row.created_at.timestamp()),
                             app_id="s117-register", headers=headers))


class StreamPublisher:
    """Publishes to `s117.events` with publisher confirms: `publish` returns only when the
    broker has taken every message (persisted, for durable queues), and raises otherwise."""

    def __init__(self, amqp_url: str, name: str = "relay") -> None:
        self.amqp_url = amqp_url
        self.name = name
        self._connection: BlockingConnection | None = None
        self._channel: BlockingChannel | None = None

    def _open(self) -> BlockingChannel:
        if self._channel is None or not self._channel.is_open:
            self.reset()
            self._connection = connect(self.amqp_url, self.name)
            channel = self._connection.channel()
            channel.confirm_delivery()
            channel.exchange_declare(topology.EVENTS, "topic", durable=True)
            self._channel = channel
        return self._channel

    def publish(self, messages: Sequence[StreamMessage]) -> None:
        channel = self._open()
        for message in messages:
            channel.basic_publish(topology.EVENTS, message.routing_key, message.body,
                                  message.properties)

    def reset(self) -> None:
        """Drop the connection (after an error); the next publish reconnects."""
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except Exception:  # noqa: BLE001 - it is already broken; we only tidy up
                log.debug("closing a broken connection failed", exc_info=True)

    close = reset
