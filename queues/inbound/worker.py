"""`s117 worker`: consume the inbound partition queues and apply each message once, in order.

Each of the N partition queues is a quorum queue with single-active-consumer: only one
consumer at a time receives its messages, in order. RabbitMQ 3.10 has no consumer priorities
for single-active-consumer (the first consumer to subscribe is the active one), so sharing the
partitions between several workers is done here:

- worker I of N (`--index I --of N`) *owns* the partitions p with p % N == I. It subscribes
  to those first, then to every other partition as a standby (so if their owner is down,
  someone takes over), and announces itself with a presence queue `s117.inbound.worker.I`
  that it consumes from (auto-deleted when it goes away).
- every few seconds a worker checks, for each partition it does not own, whether the owner
  is present; the first time it sees the owner it cancels and re-subscribes its consumer
  there (closing that partition's channel returns any unprocessed prefetched messages to the
  head of the queue), so it goes to the back of the line and the owner becomes active.

Messages are applied in delivery order, up to `--batch` waiting ones per transaction (each as
if alone: a refused one is quarantined and the others kept; the worker waits up to 10 ms after
a message for others to join it), then acknowledged after the commit (manual acks,
prefetch > 1). A crash before the ack redelivers; the register's
inbox turns the second application into a duplicate, so every message is applied exactly
once. If the database is down the worker waits with backoff (keeping the broker connection
alive) and retries the same messages; if the broker goes away it reconnects with backoff.
SIGTERM/SIGINT: finish the messages in hand, return the rest to their queues, close.

Messages dead-lettered by the broker itself (over the delivery limit: a message that crashed
its worker again and again) reach the `s117.dead.intake` queue; the worker stores them in
quarantine (kind `delivery-limit`) so they can be seen and replayed like any other.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection
from pika.exceptions import ChannelClosedByBroker
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from queues import topology
from queues.connection import RECOVERABLE, backoff, connect
from queues.inbound import holds, store
from queues.inbound.amqp import dead_letter_properties, envelope_of
from queues.inbound.decoders import Decoders
from queues.inbound.envelope import QUARANTINE_ID, Envelope
from queues.inbound.processor import Processor
from register.service import RegisterService

log = logging.getLogger("s117.worker")

REBALANCE_SECONDS = 3.0
GATHER_SECONDS = 0.01  # at most this much latency added to a message, to batch it
# Pseudo-partitions for the queues that are not partitions of the person stream.
DEAD_INTAKE = -1
COUNCIL_FILES = -2


def presence_queue(index: int) -> str:
    return f"{topology.INBOUND}.worker.{index}"


@dataclass
class _Delivery:
    partition: int  # or DEAD_INTAKE, COUNCIL_FILES
    generation: int
    channel: BlockingChannel
    method: Any
    properties: pika.BasicProperties
    body: bytes


class Worker:
    def __init__(self, url: str, service: RegisterService, sessions: sessionmaker[Session],
                 decoders: Decoders, *, hold_seconds: int, index: int = 0, count: int = 1,
                 prefetch: int = 50, batch: int = 100,
                 partitions: int = topology.PARTITIONS) -> None:
        if not url:
            raise ValueError("s117 worker needs S117_AMQP_URL (networked mode)")
        if not 0 <= index < count:
            raise ValueError(f"--index must be between 0 and {count - 1}")
        self.url = url
        self.service, self.sessions, self.hold_seconds = service, sessions, hold_seconds
        self.index, self.count, self.prefetch, self.partitions = index, count, prefetch, \
            partitions
        self.batch = batch
        self.processor = Processor(service, sessions, decoders, dead_letter=self._dead_letter)
        self.stopping = False
        self.processed = 0
        self._connection: BlockingConnection | None = None
        self._channels: dict[int, tuple[BlockingChannel, int]] = {}
        self._generation = 0
        self._pending: deque[_Delivery] = deque()
        self._yielded: dict[int, bool] = {}
        self._dl_channel: BlockingChannel | None = None
        self._probe: BlockingChannel | None = None

    # -- life cycle -------------------------------------------------------------------------

    def own(self, partition: int) -> bool:
        return partition % self.count == self.index

    def stop(self, *_: object) -> None:
        self.stopping = True

    def run(self, *, until: Callable[[], bool] | None = None) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        attempt = 0
        while not self.stopping:
            try:
                self._serve(until)
                attempt = 0
            except RECOVERABLE as error:
                self._drop_connection()
                delay = backoff(attempt)
                log.warning("broker connection lost (%s); reconnecting in %.1f s",
                            type(error).__name__, delay)
                time.sleep(delay)
                attempt += 1
        self._drop_connection()

    def _drop_connection(self) -> None:
        self._pending.clear()  # unacked: the broker redelivers them
        self._channels.clear()
        connection, self._connection = self._connection, None
        if connection is not None and connection.is_open:
            with contextlib.suppress(*RECOVERABLE):
                connection.close()  # returns every unacked message to its queue

    def _serve(self, until: Callable[[], bool] | None) -> None:
        self._connection = connect(self.url, f"worker {self.index}/{self.count}")
        topology.declare(self._connection.channel())
        self._dl_channel = self._connection.channel()
        self._dl_channel.confirm_delivery()
        self._probe = None
        self._yielded = {}
        order = sorted(range(self.partitions), key=lambda p: not self.own(p))
        for partition in order:
            if self.own(partition):
                self._subscribe(partition)
        # Announce this worker only once its own partitions are subscribed, so a standby
        # that yields to it finds it already in the line.
        presence = self._connection.channel()
        presence.queue_declare(presence_queue(self.index), auto_delete=True)
        presence.basic_consume(presence_queue(self.index), lambda *a: None, auto_ack=True)
        for partition in order:
            if not self.own(partition):
                self._subscribe(partition)
        intake = self._connection.channel()
        intake.basic_qos(prefetch_count=self.prefetch)
        intake.basic_consume(topology.DEAD_INTAKE,
                             partial(self._on_message, DEAD_INTAKE, 0))
        # Council files: one at a time (single-active-consumer; prefetch 1, a file is big).
        files = self._connection.channel()
        files.basic_qos(prefetch_count=1)
        files.basic_consume(topology.COUNCIL, partial(self._on_message, COUNCIL_FILES, 0),
                            consumer_tag=f"s117-worker-{self.index}-council")
        log.info("worker %s/%s consuming %s partitions (owning %s)", self.index, self.count,
                 self.partitions, sum(self.own(p) for p in range(self.partitions)))
        next_rebalance = next_sweep = time.monotonic()
        while not self.stopping:
            if until is not None and until():
                self.stopping = True
                break
            self._connection.process_data_events(time_limit=0 if self._pending else 0.5)
            self._gather()
            while self._pending and not self.stopping:
                self._handle_batch()
            now = time.monotonic()
            if now >= next_rebalance:
                self._rebalance()
                next_rebalance = now + REBALANCE_SECONDS
            if now >= next_sweep:
                self._sweep()
                next_sweep = now + min(60.0, max(1.0, self.hold_seconds / 4))

    # -- consuming --------------------------------------------------------------------------

    def _subscribe(self, partition: int) -> None:
        assert self._connection is not None
        old = self._channels.pop(partition, None)
        if old is not None and old[0].is_open:
            old[0].close()  # its unprocessed deliveries go back to the head of the queue
        self._generation += 1
        channel = self._connection.channel()
        channel.basic_qos(prefetch_count=self.prefetch)
        # The tag says who holds the partition (`rabbitmqctl list_consumers` shows which
        # consumer of a single-active-consumer queue is active).
        channel.basic_consume(topology.partition_queue(partition),
                              partial(self._on_message, partition, self._generation),
                              consumer_tag=f"s117-worker-{self.index}-p{partition}-"
                                           f"{self._generation}")
        self._channels[partition] = (channel, self._generation)

    def _gather(self) -> None:
        """Messages that arrive a few at a time (a trust's feed, not a backlog) made batches
        of one or two, each paying a transaction (issue 22): once one is here, wait up to
        GATHER_SECONDS for more to share its transaction, unless a batch is already full."""
        if not self._pending or len(self._pending) >= self.batch:
            return
        assert self._connection is not None
        deadline = time.monotonic() + GATHER_SECONDS
        while len(self._pending) < self.batch and not self.stopping:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._connection.process_data_events(time_limit=remaining)

    def _on_message(self, partition: int, generation: int, channel: BlockingChannel,
                    method: Any, props: pika.BasicProperties, body: bytes) -> None:
        self._pending.append(_Delivery(partition, generation, channel, method, props, body))

    def _current(self, delivery: _Delivery) -> bool:
        if delivery.partition < 0:
            return True
        held = self._channels.get(delivery.partition)
        return held is not None and held[1] == delivery.generation

    def _handle_batch(self) -> None:
        """Apply what is waiting (up to --batch deliveries, in arrival order, so each
        partition's order is kept) in one transaction, then acknowledge each."""
        batch: list[_Delivery] = []
        while self._pending and len(batch) < self.batch:
            delivery = self._pending.popleft()
            if not self._current(delivery):
                continue  # that channel was closed: the message is back in its queue
            if delivery.partition == DEAD_INTAKE:
                self._with_database(lambda d=delivery: self._dead_letter_intake(d))
                delivery.channel.basic_ack(delivery.method.delivery_tag)
                continue
            if delivery.partition == COUNCIL_FILES:
                envelope = envelope_of(delivery.method.routing_key, delivery.properties,
                                       delivery.body)
                self._with_database(lambda e=envelope: self.processor.process(e))
                delivery.channel.basic_ack(delivery.method.delivery_tag)
                self.processed += 1
                continue
            batch.append(delivery)
        if not batch:
            return
        envelopes = [envelope_of(d.method.routing_key, d.properties, d.body) for d in batch]
        self._with_database(lambda: self.processor.process_all(envelopes))
        for delivery in batch:
            delivery.channel.basic_ack(delivery.method.delivery_tag)
        self.processed += len(batch)

    def _with_database(self, work: Callable[[], object]) -> object:
        """Run `work`, waiting out a database outage without losing the message or the
        broker connection (connection.sleep keeps heartbeats going)."""
        attempt = 0
        while True:
            try:
                return work()
            except (OperationalError, InterfaceError) as error:
                if self.stopping:
                    raise
                delay = backoff(attempt)
                log.warning("database unavailable (%s); retrying in %.1f s",
                            type(error.orig).__name__, delay)
                assert self._connection is not None
                self._connection.sleep(delay)
                attempt += 1

    def _dead_letter_intake(self, delivery: _Delivery) -> None:
        headers = delivery.properties.headers or {}
        if QUARANTINE_ID in headers:
            return  # our own dead letter: already in the quarantine table
        deaths = headers.get("x-death") or [{}]
        reason = deaths[0].get("reason", "dead-lettered")
        reason = reason.decode() if isinstance(reason, bytes) else str(reason)
        routing = (deaths[0].get("routing-keys") or [delivery.method.routing_key])[0]
        routing = routing.decode() if isinstance(routing, bytes) else str(routing)
        envelope = envelope_of(routing, delivery.properties, delivery.body)
        key = envelope.message_id or routing

        def keep() -> None:
            store.quarantine(self.sessions, envelope, key, envelope.sender,
                             "delivery-limit" if reason == "delivery_limit" else reason,
                             f"the broker dead-lettered this message ({reason}): it was "
                             "delivered to workers repeatedly without being applied")
        self._with_database(keep)

    # -- sharing the partitions -------------------------------------------------------------

    def _owner_present(self, owner: int) -> bool:
        assert self._connection is not None
        if self._probe is None or not self._probe.is_open:
            self._probe = self._connection.channel()
        try:
            found = self._probe.queue_declare(presence_queue(owner), passive=True)
        except ChannelClosedByBroker:
            self._probe = None
            return False
        return found.method.consumer_count > 0

    def _rebalance(self) -> None:
        if self.count == 1:
            return
        owners = {i: self._owner_present(i) for i in range(self.count) if i != self.index}
        for partition in range(self.partitions):
            if self.own(partition):
                continue
            present = owners[partition % self.count]
            if present and not self._yielded.get(partition):
                log.info("partition %s: its owner is here; handing it over", partition)
                self._subscribe(partition)
                self._yielded[partition] = True
            elif not present:
                self._yielded[partition] = False

    # -- quarantine -------------------------------------------------------------------------

    def _dead_letter(self, envelope: Envelope, row_id: int, kind: str) -> None:
        assert self._dl_channel is not None
        self._dl_channel.basic_publish(topology.DEAD, envelope.routing_key, envelope.body,
                                       dead_letter_properties(envelope, row_id, kind))

    def _sweep(self) -> None:
        try:
            holds.sweep(self.service, self.sessions,
                        self.hold_seconds, self._dead_letter)
        except (OperationalError, InterfaceError) as error:
            log.warning("hold sweep skipped: database unavailable (%s)",
                        type(error.orig).__name__)
        except Exception as error:  # e.g. a conflict with a worker applying the same person
            # The type only: an error's text may quote a message.
            log.error("hold sweep failed (%s); it runs again shortly", type(error).__name__)
