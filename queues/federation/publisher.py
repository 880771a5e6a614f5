"""The owner's side of the links: sends each relayed event of a person this register owns to
every other register serving one of the bodies it names, and the casework written here on
replicas to their owners.

One batch is one transaction: lock the cursor, read the next relayed events, publish with
publisher confirms, record what was sent, move the cursor, commit. A crash before the commit
sends the batch again with the same message ids: the peer applies each event once (its
inbox), so delivery is at least once and application exactly once."""

from __future__ import annotations

import logging
import threading

import pika
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from queues.connection import RECOVERABLE, backoff, connect, keepalive
from queues.federation import messages
from queues.federation import topology as links
from queues.outbound.stream import recorded
from register.events import EventType
from register.federation.routing import RoutingTable
from register.ports import PersonRecord
from register.store import codec
from register.store import federation as store
from register.store.dialect import utcnow
from register.store.uow import Appends, SqlPeople

log = logging.getLogger("s117.federation")


class Sender:
    """Publishes federation messages with confirms; `send` returns once the broker has
    them all and raises otherwise."""

    def __init__(self, amqp_url: str, region: str, name: str) -> None:
        self.amqp_url, self.region, self.name = amqp_url, region, name
        self._connection: BlockingConnection | None = None
        self._channel: BlockingChannel | None = None

    def _open(self) -> BlockingChannel:
        if self._channel is None or not self._channel.is_open:
            self.close()
            self._connection = connect(self.amqp_url, self.name)
            channel = self._connection.channel()
            channel.confirm_delivery()
            links.declare(channel, self.region)
            self._channel = channel
        return self._channel

    def send(self, outgoing: list[messages.Outgoing]) -> None:
        """Publish with confirms. A connection the broker dropped while this one was idle
        (missed heartbeats on a busy machine) is found only by using it: it is opened again
        and the whole list sent once more. The receiver applies each message once, so the
        copies cost nothing, while raising would make the consumer give back everything it
        holds unacknowledged, whose order the queue does not keep."""
        try:
            self._publish(outgoing)
        except RECOVERABLE:
            self.close()
            self._publish(outgoing)

    def _publish(self, outgoing: list[messages.Outgoing]) -> None:
        channel = self._open()
        for message in outgoing:
            channel.basic_publish(links.EXCHANGE, message.to, message.body,
                                  message.properties(self.region))

    def keepalive(self) -> None:
        """Answer the broker's heartbeats while idle (a blocking connection does so only
        when it is used), so it is not dropped between sends."""
        if self._connection is not None and not keepalive(self._connection):
            self.close()

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except Exception:  # noqa: BLE001 - already broken; only tidying up
                log.debug("closing a broken connection failed", exc_info=True)


class Publisher:
    def __init__(self, sessions: sessionmaker[Session], sender: Sender, routes: RoutingTable,
                 region: str, base_url: str, *, peers: frozenset[str] | None = None,
                 batch_size: int = 200) -> None:
        self.sessions = sessions
        self.sender = sender
        self.routes = routes
        self.peers = peers  # None: every register the table names
        self.region = region
        self.base = base_url.rstrip("/") + "/fhir"
        self.batch_size = batch_size
        self.sent = 0

    def run_once(self) -> int:
        return self._events() + self._commands()

    def _events(self) -> int:
        with self.sessions() as session:
            if not store.pending(session):
                return 0
        with self.sessions.begin() as session:
            cursor = store.lock_cursor(session)
            read = store.next_events(session, cursor, self.batch_size)
            relayed = [r for r in read if r.own]
            formers = store.former_owners(session, [r.person_id for r in relayed])
            people = SqlPeople(session, Appends())
            records: dict[str, PersonRecord | None] = {}
            outgoing, sent = [], []
            for found in relayed:
                row = found.row
                event = codec.load_event(row.payload)
                peers = set(self.routes.peers_for(self.region, (
                    event.local_authority, event.icb, event.paying_icb, event.residence_la,
                    event.previous_local_authority, event.previous_icb)))
                peers |= formers.get(found.person_id, set()) - {self.region}
                handover = event.owner if event.event is EventType.OWNER_CHANGED \
                    and event.owner and event.owner != self.region else None
                if handover:
                    peers.add(handover)
                if self.peers is not None:
                    peers &= self.peers  # a register not linked would never take it
                if not peers:
                    continue
                if found.nhs_number not in records:
                    records[found.nhs_number] = people.get(found.nhs_number)
                record = records[found.nhs_number]
                if record is None:
                    continue
                rule = store.offer(session, found.person_id, handover, row.id) \
                    if handover else None
                for peer in sorted(peers):
                    # The new owner gets the offer; the other replica holders hear the
                    # owner-changed event as an ordinary update.
                    outgoing.append(messages.replica(peer, self.region, recorded(row), record,
                                                     self.base, rule if peer == handover
                                                     else None))
                    sent.append((peer, row.id, row.created_at))
            if outgoing:
                self.sender.send(outgoing)
                store.record_sent(session, sent)
        self.sent += len(sent)
        return len(read)

    def _commands(self) -> int:
        with self.sessions.begin() as session:
            waiting = store.handing_over(session)
            rows = [r for r in store.unsent_commands(session, self.batch_size)
                    if r.payload.get("nhs_number") not in waiting]
            if not rows:
                return 0
            self.sender.send([messages.command(
                row.owner_region, codec.load_command(row.kind, row.payload),
                row.reply_to or self.region) for row in rows])
            stamp = utcnow()
            for row in rows:
                row.sent_at = stamp
        return len(rows)

    def run(self, stop: threading.Event, poll_seconds: float = 0.05) -> None:
        failures = 0
        while not stop.is_set():
            try:
                done = self.run_once()
            except (*RECOVERABLE, pika.exceptions.NackError, DBAPIError) as error:
                self.sender.close()
                delay = backoff(failures)
                failures += 1
                log.warning("federation batch failed (%s); retrying in %.1f s",
                            type(error).__name__, delay)
                stop.wait(delay)
                continue
            failures = 0
            if done == 0:
                self.sender.keepalive()
                stop.wait(poll_seconds)
        self.sender.close()
