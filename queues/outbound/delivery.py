"""The delivery worker: every Subscription's recorded events reach the subscriber, in order,
at least once.

One lane per subscriber. The loop asks the store which subscriptions have something to send
(a handshake, unacknowledged events, a heartbeat) and are neither backing off nor held by
another worker, and gives each to a lane in a thread pool. A lane first takes the
subscription's lease (so one worker in the whole region delivers to a subscriber at a time,
which is what keeps its notifications in order), then sends: the handshake when the
Subscription is `requested`, else the next pending events (up to `maxCount` per Bundle, so a
subscriber catching up after an outage gets them in few requests), else a heartbeat when
`heartbeatPeriod` has passed since the last send. It goes on while sends succeed, and when
there is nothing to send it lingers a moment for the relay's news (up to 2 s, only while the
pool has room) rather than giving the lease back after every event. A failed
send is recorded, and the subscription waits out an exponential backoff (1 s doubling to
10 min); after `S117_DELIVERY_RETRY_SECONDS` of failing (default 24 h), or three failed
handshakes, its status becomes `error`. Events keep being recorded in every case, so `$events`
has them.

A slow or dead subscriber holds one lane (at most `timeout` seconds per attempt) and then
waits out its backoff outside the pool: it never delays anyone else while fewer subscribers
than `S117_DELIVERY_THREADS` are slow at the same moment.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import DBAPIError

from queues.connection import backoff
from queues.outbound.channels import Channel, Outcome
from queues.outbound.notifications import Notifications
from queues.outbound.processes import process_name, short
from register.store.dialect import utcnow
from register.store.subscriptions import LIVE, SubscriptionStore
from register.subscriptions import Attempt, RecordedEvent, Subscription

log = logging.getLogger("s117.delivery")
REST_SECONDS = 5.0  # after a lane failed unexpectedly (a database error, a bug)


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
        self.wake = threading.Event()
        self._news = threading.Condition()  # notified when this process recorded events
        self._batches = 0
        self._busy: set[str] = set()
        self._resting: dict[str, float] = {}  # subscription -> monotonic time to retry at
        self._lock = threading.Lock()

    def notify(self) -> None:
        """New events were recorded (the relay in this process calls this after a batch)."""
        with self._news:
            self._batches += 1
            self._news.notify_all()
        self.wake.set()

    def _linger(self, seen: int, at_most: float) -> str:
        """Wait a little for news instead of giving the subscriber up: a lane kept warm
        saves the lease round trips and answers the next event at once. Only while the
        pool has room, so lanes with nothing to send never keep busy ones waiting.
        `news`, `timeout` or `no-room`."""
        if len(self._busy) > self.threads // 2:
            return "no-room"
        with self._news:
            if self._batches == seen:
                self._news.wait(at_most)
            return "news" if self._batches != seen else "timeout"

    def run(self, stop: threading.Event) -> None:
        failures, expired_at = 0, 0.0
        with ThreadPoolExecutor(self.threads, thread_name_prefix="s117-delivery") as pool:
            while not stop.is_set():
                try:
                    if time.monotonic() - expired_at > 30:
                        self.store.expire(utcnow())
                        expired_at = time.monotonic()
                    due = self.store.due(utcnow())
                    failures = 0
                except DBAPIError as error:
                    delay = backoff(failures)
                    failures += 1
                    log.warning("delivery: database unavailable (%s); retrying in %.1f s",
                                short(error), delay)
                    stop.wait(delay)
                    continue
                for subscription_id in due:
                    with self._lock:
                        if subscription_id in self._busy or \
                                self._resting.get(subscription_id, 0) > time.monotonic():
                            continue
                        self._busy.add(subscription_id)
                    pool.submit(self._lane, subscription_id, stop)
                self.wake.wait(self.poll_seconds)
                self.wake.clear()
            with self._news:  # lingering lanes: stop waiting, we are stopping
                self._news.notify_all()

    def _lane(self, subscription_id: str, stop: threading.Event) -> None:
        with self._lock:
            self._resting.pop(subscription_id, None)
        try:
            if not self.store.claim(subscription_id, self.owner, utcnow(), self.lease):
                return
            try:
                timed_out = False
                while not stop.is_set():
                    seen = self._batches
                    done, heartbeat = self.step(subscription_id)
                    if done == "sent":  # which renewed the lease; there may be more
                        timed_out = False
                        continue
                    if done == "failed" or timed_out:
                        break
                    # Idle: linger for news; after a quiet spell look once more (another
                    # process's relay may have recorded events) and then let it go.
                    waited = self._linger(seen, min(self.linger_seconds, heartbeat or 3600))
                    if waited == "no-room":
                        break
                    timed_out = waited == "timeout"
            finally:
                self.store.release(subscription_id, self.owner)
        except Exception as error:  # a database error or a bug must not kill the pool
            log.exception("delivery to %s interrupted: %s", subscription_id, short(error))
            with self._lock:  # rest before trying this subscriber again
                self._resting[subscription_id] = time.monotonic() + REST_SECONDS
        finally:
            with self._lock:
                self._busy.discard(subscription_id)

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

    def step(self, subscription_id: str) -> tuple[str, int | None]:
        """Send the next thing this subscriber is owed: `sent` (there may be more), `idle`
        (nothing to send now) or `failed` (recorded, and the subscription backs off); with
        the subscription's heartbeat period, so an idle lane wakes in time for it."""
        subscription, pending = self.store.load(subscription_id, self.max_batch)
        now = utcnow()
        if subscription is None or subscription.status not in LIVE or (
                subscription.next_attempt_at and subscription.next_attempt_at > now):
            return "failed", None
        period = subscription.heartbeat_seconds
        found = self._next(subscription, pending)
        if found is None:
            return "idle", period
        kind, events = found
        channel = self.channels.get(subscription.channel)
        started = time.perf_counter()
        if channel is None:
            outcome = Outcome(False, None, f"this process has no {subscription.channel} "
                              "channel (no broker configured)")
        else:
            body = self.notifications.bundle(subscription, kind, events)
            outcome = channel.send(subscription, body, kind, events)
        attempt = Attempt(kind, events[0].number if events else None,
                          events[-1].number if events else None, now,
                          round((time.perf_counter() - started) * 1000),
                          "delivered" if outcome.delivered else "failed", outcome.http_status,
                          outcome.error)
        if outcome.delivered:
            held = self.store.delivered(subscription, self.owner, attempt, utcnow(), self.lease)
            return ("sent" if held else "failed"), period
        failures = subscription.failures + 1
        failing_for = utcnow() - (subscription.failing_since or now)
        give_up = failing_for >= self.policy.give_up_after or (
            kind == "handshake" and failures >= self.policy.handshake_attempts)
        self.store.failed(subscription, self.owner, attempt, utcnow(),
                          self.policy.delay(failures), give_up)
        log.warning("delivery to Subscription/%s failed (%s, %d in a row)%s", subscription.id,
                    outcome.error, failures, ": status is now error" if give_up else "")
        return "failed", period
