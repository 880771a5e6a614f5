"""The outbox relay (`s117 relay`; in embedded mode the dispatcher runs the same code).

One batch is one database transaction:

1. lock the relay row (`UPDATE relay_lock ...`): a second relay, on this machine or
   another, waits here until the first commits, so batches never overlap;
2. read the oldest unpublished outbox rows (id order, which per entitlement is commit order:
   two changes to one person are serialised by the person row's version);
3. publish each to `s117.events` and wait for the broker's confirms (networked mode);
4. record each event for every Subscription it matches, numbered on per subscription;
5. mark the rows published, and commit.

A crash or a broker or database error anywhere before the commit rolls everything back:
the rows are still unpublished and the next batch (of this relay or another) publishes them
again with the same message ids (at least once, never lost), and the fan-out, which rolled
back too, happens exactly once. Why a lock row and not `FOR UPDATE SKIP LOCKED`: with
SKIP LOCKED two relays would publish different batches at the same time, and a later change
to an entitlement could reach the broker before an earlier one; waiting on one row keeps
one order, and works the same on SQLite (where the UPDATE takes the write lock).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import pika
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from queues.connection import RECOVERABLE, backoff
from queues.outbound import stream
from queues.outbound.processes import process_name, short
from queues.outbound.stream import StreamPublisher
from register.store import outbox
from register.store.dialect import utcnow
from register.store.subscriptions import SubscriptionStore

log = logging.getLogger("s117.relay")
STREAM = "outbox"


class Relay:
    def __init__(self, sessions: sessionmaker[Session], base_url: str,
                 publisher: StreamPublisher | None = None, *, batch_size: int = 500,
                 poll_seconds: float = 0.05,
                 on_batch: Callable[[int], None] | None = None) -> None:
        self.sessions = sessions
        self.base = base_url.rstrip("/") + "/fhir"
        self.publisher = publisher
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.on_batch = on_batch
        self.name = f"{process_name('relay')}:{id(self):x}"
        self.wake = threading.Event()
        self.relayed = 0  # events this relay has published and marked sent

    def pending(self) -> bool:
        with self.sessions() as session:
            return outbox.pending(session)

    def run_once(self) -> int:
        """Relay one batch; the number of events relayed."""
        if not self.pending():
            return 0
        with self.sessions.begin() as session:
            now = utcnow()
            rows = outbox.take(session, STREAM, self.name, self.batch_size, now)
            if not rows:
                return 0
            events = [stream.recorded(row) for row in rows]  # decoded once, used twice
            if self.publisher is not None:
                self.publisher.publish([stream.stream_message(row, self.base, event)
                                        for row, event in zip(rows, events, strict=True)])
            recorded = SubscriptionStore.fan_out(session, rows, now,
                                                 [e.event for e in events])
            outbox.mark_published(session, rows, now)
        self.relayed += len(rows)
        if self.on_batch is not None and recorded:
            self.on_batch(recorded)
        return len(rows)

    def run(self, stop: threading.Event) -> None:
        """Relay until `stop` is set. A broker or database that goes away costs a pause with
        backoff, never the process: nothing is marked sent that was not confirmed."""
        failures = 0
        while not stop.is_set():
            try:
                relayed = self.run_once()
            except (*RECOVERABLE, pika.exceptions.NackError, DBAPIError) as error:
                if self.publisher is not None and not isinstance(error, DBAPIError):
                    self.publisher.reset()  # a database error leaves the broker link good
                delay = backoff(failures)
                failures += 1
                log.warning("relay batch failed (%s); retrying in %.1f s", short(error), delay)
                self._wait(stop, delay)
                continue
            failures = 0
            if relayed < self.batch_size:
                self._wait(self.wake, self.poll_seconds)
                self.wake.clear()
        if self.publisher is not None:
            self.publisher.close()

    def _wait(self, event: threading.Event, seconds: float) -> None:
        """Wait on `event`, answering the broker's heartbeats (at least every 5 s, well
        inside any heartbeat the broker would accept) so an idle relay is not dropped."""
        deadline = time.monotonic() + seconds
        while True:
            if self.publisher is not None:
                self.publisher.keepalive()
            left = deadline - time.monotonic()
            if left <= 0 or event.wait(min(left, 5.0)):
                return
