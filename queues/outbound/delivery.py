"""The delivery worker: every Subscription's recorded events reach the subscriber, in order,
at least once.

One coordinating thread and a bounded pool of senders. Each round the coordinator:

1. settles the sends that finished since the last round: every attempt and each
   subscription's progress in one transaction (`SubscriptionStore.record`);
2. asks which subscriptions have something to send (a handshake, unacknowledged events, a
   heartbeat) and are neither backing off, nor in flight here, nor held by another worker;
3. takes their leases in one UPDATE (one worker in the whole region delivers to a subscriber
   at a time, which is what keeps its notifications in order), renewing those it holds;
4. reads them and their next events in three queries (`SubscriptionStore.load_many`: each
   event read and decoded once, however many subscribers it goes to), builds each Bundle
   (the per-event parts built once, `Notifications`), and hands each send to the pool.

Senders do nothing but the HTTP POST (or AMQP publish) and never touch the database; a
subscriber has at most one send in flight (its next events are read only after the current
ones were acknowledged and recorded: that is the order). A subscriber that is idle costs no
thread: it is only a row that `due` does not return. A slow or dead one occupies one sender
for at most one attempt (`timeout`) and then waits out its backoff (1 s doubling to 10 min,
jittered) as a time in its row; after `S117_DELIVERY_RETRY_SECONDS` of failing (default
24 h), or three failed handshakes, its status becomes `error`. Events keep being recorded in
every case, so `$events` has them. Everyone else is delivered to meanwhile, while fewer than
`threads` subscribers are slow at the same moment.

The coordinator keeps the lease of a subscriber it delivered to for `linger_seconds` after
its last send (renewed in bulk), so the next event goes out without a claim round trip; then
gives it back, so another relay process may take it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import DBAPIError

from queues.connection import backoff
from queues.outbound.channels import Channel, Outcome
from queues.outbound.notifications import Notifications
from queues.outbound.processes import process_name, short
from register.store.dialect import utcnow
from register.store.subscriptions import LIVE, SubscriptionStore
from register.subscriptions import Attempt, RecordedEvent, Subscription

log = logging.getLogger("s117.delivery")


@dataclass(frozen=True)
class RetryPolicy:
    give_up_after: timedelta = timedelta(hours=24)
    first_delay: float = 1.0  # seconds
    max_delay: float = 600.0
    handshake_attempts: int = 3

    def delay(self, failures: int) -> timedelta:
        """After the n-th failure in a row: doubling from `first_delay`, capped, jittered so
        that subscribers that failed together do not all retry together."""
        seconds = min(self.max_delay, self.first_delay * 2 ** max(0, failures - 1))
        return timedelta(seconds=seconds * random.uniform(0.75, 1.0))


@dataclass
class _Send:
    """One notification in flight to one subscriber."""

    subscription: Subscription
    kind: str
    events: Sequence[RecordedEvent]
    at: datetime
    result: Future[tuple[Outcome, int]]


class Deliverer:
    def __init__(self, store: SubscriptionStore, notifications: Notifications,
                 channels: Mapping[str, Channel], *, policy: RetryPolicy | None = None,
                 threads: int = 64, lease: timedelta = timedelta(seconds=30),
                 poll_seconds: float = 0.1, max_batch: int = 100,
                 linger_seconds: float = 2.0) -> None:
        self.store = store
        self.notifications = notifications
        self.channels = channels
        self.policy = policy or RetryPolicy()
        self.threads = threads
        self.lease = lease
        self.poll_seconds = poll_seconds
        self.max_batch = max_batch
        self.linger_seconds = linger_seconds
        self.owner = f"{process_name('delivery')}:{id(self):x}"
        self.wake = threading.Event()  # new events recorded, or a send finished
        self._in_flight: dict[str, _Send] = {}
        self._held: dict[str, float] = {}  # leases held -> monotonic time of the last send
        self._renewed = 0.0

    def notify(self) -> None:
        """New events were recorded (the relay in this process calls this after a batch)."""
        self.wake.set()

    def run(self, stop: threading.Event) -> None:
        failures, expired_at = 0, 0.0
        with ThreadPoolExecutor(self.threads, thread_name_prefix="s117-delivery") as pool:
            while not stop.is_set():
                try:
                    if time.monotonic() - expired_at > 30:
                        self.store.expire(utcnow())
                        expired_at = time.monotonic()
                    self._round(pool)
                    failures = 0
                except DBAPIError as error:
                    delay = backoff(failures)
                    failures += 1
                    log.warning("delivery: database unavailable (%s); retrying in %.1f s",
                                short(error), delay)
                    stop.wait(delay)
                    continue
                self.wake.wait(self.poll_seconds)
                self.wake.clear()
            self._finish()

    def _finish(self) -> None:
        """Stopping: let the sends in flight end (each bounded by its timeout), record them,
        and give every lease back so another worker takes over at once."""
        for send in list(self._in_flight.values()):
            send.result.exception()  # waits; a sender never raises
        try:
            self._settle()
            self.store.release_many(self._held, self.owner)
        except DBAPIError as error:  # the leases run out by themselves
            log.warning("delivery: could not record the last sends (%s)", short(error))

    def _round(self, pool: ThreadPoolExecutor) -> None:
        self._settle()
        now, clock = utcnow(), time.monotonic()
        if self._held and clock - self._renewed > self.lease.total_seconds() / 3:
            kept = self.store.claim_many(list(self._held), self.owner, now, self.lease)
            self._held = {sid: at for sid, at in self._held.items() if sid in kept}
            self._renewed = clock
        room = self.threads - len(self._in_flight)
        due = [sid for sid in self.store.due(now, owner=self.owner)
               if sid not in self._in_flight][:max(0, room)]
        if wanted := [sid for sid in due if sid not in self._held]:
            for sid in self.store.claim_many(wanted, self.owner, now, self.lease):
                self._held[sid] = clock
        for subscription, events in self.store.load_many(
                [sid for sid in due if sid in self._held], self.max_batch).values():
            self._start(pool, subscription, events, now)
        idle = [sid for sid, at in self._held.items()
                if sid not in self._in_flight and clock - at > self.linger_seconds]
        if idle:
            self.store.release_many(idle, self.owner)
            for sid in idle:
                del self._held[sid]

    @staticmethod
    def _next(subscription: Subscription, events: list[RecordedEvent]
              ) -> tuple[str, list[RecordedEvent]] | None:
        if subscription.status == "requested":
            return "handshake", []
        if events:
            return "event-notification", events
        period = subscription.heartbeat_seconds
        if period and (subscription.last_sent_at is None or subscription.last_sent_at
                       + timedelta(seconds=period) <= utcnow()):
            return "heartbeat", []
        return None

    def _start(self, pool: ThreadPoolExecutor, subscription: Subscription,
               events: list[RecordedEvent], now: datetime) -> None:
        """Hand the next thing this subscriber is owed to a sender."""
        if subscription.status not in LIVE or (
                subscription.next_attempt_at and subscription.next_attempt_at > now):
            return
        found = self._next(subscription, events)
        if found is None:
            return
        kind, events = found
        body = self.notifications.bundle(subscription, kind, events)
        result = pool.submit(self._send, subscription, body, kind, events)
        self._in_flight[subscription.id] = _Send(subscription, kind, events, now, result)
        self._held[subscription.id] = time.monotonic()
        result.add_done_callback(lambda _: self.wake.set())

    def _send(self, subscription: Subscription, body: dict[str, object], kind: str,
              events: Sequence[RecordedEvent]) -> tuple[Outcome, int]:
        """In a sender thread: the channel's answer and how long it took (ms)."""
        started = time.perf_counter()
        channel = self.channels.get(subscription.channel)
        if channel is None:
            outcome = Outcome(False, None, f"this process has no {subscription.channel} "
                              "channel (no broker configured)")
        else:
            try:
                outcome = channel.send(subscription, body, kind, events)
            except Exception as error:  # a bug in a channel must not lose the attempt
                log.exception("delivery to Subscription/%s: %s", subscription.id,
                              short(error))
                outcome = Outcome(False, None, f"internal-error: {type(error).__name__}")
        return outcome, round((time.perf_counter() - started) * 1000)

    def _settle(self) -> None:
        """Record every finished send in one transaction. Until that commits they stay in
        flight (a database outage neither loses an answer nor sends anything twice here)."""
        done = [send for send in self._in_flight.values() if send.result.done()]
        if not done:
            return
        delivered: list[tuple[Subscription, Attempt]] = []
        failed: list[tuple[Subscription, Attempt, timedelta, bool]] = []
        now = utcnow()
        for send in done:
            outcome, duration_ms = send.result.result()
            subscription, events = send.subscription, send.events
            attempt = Attempt(send.kind, events[0].number if events else None,
                              events[-1].number if events else None, send.at, duration_ms,
                              "delivered" if outcome.delivered else "failed",
                              outcome.http_status, outcome.error)
            if outcome.delivered:
                delivered.append((subscription, attempt))
                continue
            failures = subscription.failures + 1
            failing_for = now - (subscription.failing_since or send.at)
            give_up = failing_for >= self.policy.give_up_after or (
                send.kind == "handshake" and failures >= self.policy.handshake_attempts)
            failed.append((subscription, attempt, self.policy.delay(failures), give_up))
            log.warning("delivery to Subscription/%s failed (%s, %d in a row)%s",
                        subscription.id, outcome.error, failures,
                        ": status is now error" if give_up else "")
        lost = self.store.record(self.owner, now, self.lease, delivered=delivered,
                                 failed=failed)
        for send in done:
            del self._in_flight[send.subscription.id]
            if send.subscription.id in lost:  # another worker took it over
                self._held.pop(send.subscription.id, None)
