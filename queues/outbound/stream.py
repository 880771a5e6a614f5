"""The register's event stream on `s117.events`: one persistent message per outbox event,
routed by `entitlement.<event>.<la-gss>.<icb-ods>`, with a message id that is the same every
time the same event is published (a relay that crashed after publishing publishes it again:
consumers de-duplicate by message id), and headers that name no patient."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from uuid import NAMESPACE_URL, uuid5

import pika
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

from fhir_profiles import canonical as url
from mappings.fhir import notification
from queues import topology
from queues.connection import connect, keepalive
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


def stream_message(row: OutboxRow, base: str, event: RecordedEvent | None = None
                   ) -> StreamMessage:
    """`event`: the row already decoded (the relay decodes each row once for the stream and
    the fan-out)."""
    event = event or recorded(row)
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
    """Publishes to `s117.events` with publisher confirms, a batch at a time: `publish` sends
    every message of the batch, then waits until the broker has confirmed them all
    (persisted, for durable queues), and raises if it nacked any, closed the channel or went
    away, or did not answer within `confirm_seconds`.

    Why not `BlockingChannel.confirm_delivery`: with it, pika's `basic_publish` waits for each
    message's own confirm, one round trip (and, for a quorum queue, one replicated write) per
    event, which capped the relay near 900 events/s. Here confirm mode is turned on on the
    channel underneath (pika's `Channel`, which the blocking adapter wraps) with our own
    callback, the batch is written in one go, and the broker confirms it in a few frames
    (`multiple`). One channel keeps the batch in order; a batch is all confirmed or the
    relay's transaction rolls back and the whole batch is published again (same ids)."""

    def __init__(self, amqp_url: str, name: str = "relay", *,
                 confirm_seconds: float = 30.0) -> None:
        self.amqp_url = amqp_url
        self.name = name
        self.confirm_seconds = confirm_seconds
        self._connection: BlockingConnection | None = None
        self._channel: BlockingChannel | None = None
        self._published = 0  # delivery tags handed out on this channel (the broker's count)
        self._unconfirmed: set[int] = set()
        self._nacked = 0

    def _on_confirm(self, frame: pika.frame.Method) -> None:
        method = frame.method
        tag = method.delivery_tag
        settled = {t for t in self._unconfirmed if t <= tag} if method.multiple else {tag}
        self._unconfirmed -= settled
        if isinstance(method, pika.spec.Basic.Nack):
            self._nacked += len(settled) or 1
        if self._connection is not None:
            # A confirm on the channel underneath is not an event BlockingConnection
            # dispatches, so process_data_events would sit out its whole time limit; a
            # timer due now is one, and returns control to `_wait` at once.
            self._connection.call_later(0, lambda: None)

    def keepalive(self) -> None:
        """Answer the broker's heartbeats between batches (see queues.connection.keepalive);
        a connection found dropped is let go, and the next publish opens a new one."""
        if self._connection is not None and not keepalive(self._connection):
            self.reset()

    def _open(self) -> BlockingChannel:
        # A connection dropped while this process was busy elsewhere (a long database
        # transaction) shows only when used: checked here, it costs a reconnect, not a
        # failed batch.
        self.keepalive()
        if self._channel is None or not self._channel.is_open:
            self.reset()
            self._connection = connect(self.amqp_url, self.name)
            channel = self._connection.channel()
            channel.exchange_declare(topology.EVENTS, "topic", durable=True)
            selected: list[bool] = []
            channel._impl.confirm_delivery(  # noqa: SLF001 - see the class's docstring
                ack_nack_callback=self._on_confirm, callback=lambda _: selected.append(True))
            self._wait(lambda: bool(selected), channel, "Confirm.Select")
            self._channel, self._published = channel, 0
            self._unconfirmed.clear()
        return self._channel

    def _wait(self, done: Callable[[], bool], channel: BlockingChannel, what: str) -> None:
        assert self._connection is not None
        deadline = time.monotonic() + self.confirm_seconds
        while not done():
            if channel.is_closed:
                raise pika.exceptions.ChannelClosed(0, f"the broker closed the channel ({what})")
            left = deadline - time.monotonic()
            if left <= 0:
                raise pika.exceptions.AMQPConnectionError(
                    f"no answer to {what} from RabbitMQ in {self.confirm_seconds:g} s")
            self._connection.process_data_events(time_limit=min(left, 1.0))

    def publish(self, messages: Sequence[StreamMessage]) -> None:
        channel = self._open()
        self._nacked = 0
        for message in messages:
            channel._impl.basic_publish(  # noqa: SLF001 - written now, confirmed below
                topology.EVENTS, message.routing_key, message.body, message.properties)
            self._published += 1
            self._unconfirmed.add(self._published)
        self._wait(lambda: not self._unconfirmed, channel, "the batch's confirms")
        if self._nacked:
            raise pika.exceptions.NackError([])

    def reset(self) -> None:
        """Drop the connection (after an error); the next publish reconnects."""
        connection, self._connection, self._channel = self._connection, None, None
        self._unconfirmed.clear()
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except Exception:  # noqa: BLE001 - it is already broken; we only tidy up
                log.debug("closing a broken connection failed", exc_info=True)

    close = reset
