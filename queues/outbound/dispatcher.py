"""Putting the outbound pieces together from Settings, for `s117 relay`, `s117 scheduler` and
the embedded register's in-process bus.

Embedded mode (no `S117_AMQP_URL`): `s117 serve` starts a Dispatcher in every gunicorn
worker. It runs the same relay (without a broker: it records events for Subscriptions and
marks them sent), delivery and scheduler as the networked processes, from the same tables.
Several workers running it at once is harmless by construction, the same way several relay
machines are: relay batches queue up on the relay lock row, each subscriber is delivered to
by whichever worker holds its lease, and each review notice is raised once by its key."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from adapter.config import Settings
from mappings.fhir.common import NameOf
from queues.outbound.channels import AmqpQueue, Channel, RestHook
from queues.outbound.delivery import Deliverer, RetryPolicy
from queues.outbound.endpoints import AllowList
from queues.outbound.notifications import Notifications
from queues.outbound.relay import Relay
from queues.outbound.scheduler import ReviewScheduler
from queues.outbound.stream import StreamPublisher
from register.store.subscriptions import SubscriptionStore
from register.store.views import RegisterViews

log = logging.getLogger("s117.outbound")


@dataclass
class Outbound:
    relay: Relay
    deliverer: Deliverer
    scheduler: ReviewScheduler

    def loops(self, *, relay: bool = True, deliver: bool = True,
              schedule: bool = True) -> list[Callable[[threading.Event], None]]:
        chosen: list[Callable[[threading.Event], None]] = []
        if relay:
            chosen.append(self.relay.run)
        if deliver:
            chosen.append(self.deliverer.run)
        if schedule:
            chosen.append(self.scheduler.run)
        return chosen


def build(settings: Settings, sessions: sessionmaker[Session], name_of: NameOf, *,
          policy: RetryPolicy | None = None) -> Outbound:
    """The relay publishes to RabbitMQ when `S117_AMQP_URL` is set; the `amqp` channel is
    offered only then."""
    store = SubscriptionStore(sessions)
    base = settings.base_url.rstrip("/") + "/fhir"
    channels: dict[str, Channel] = {
        "rest-hook": RestHook(settings.delivery_timeout_seconds,
                              AllowList.parse(settings.subscription_allowed_hosts))}
    if settings.amqp_url:
        channels["amqp"] = AmqpQueue(settings.amqp_url)
    deliverer = Deliverer(
        store, Notifications(store, RegisterViews(sessions), name_of, base), channels,
        policy=policy or RetryPolicy(
            give_up_after=timedelta(seconds=settings.delivery_retry_seconds)),
        threads=settings.delivery_threads,
        # Longer than one attempt may take, renewed after each: a worker that dies (even by
        # SIGKILL) holds its subscribers for at most this long before another takes over.
        lease=timedelta(seconds=2 * settings.delivery_timeout_seconds + 10))
    relay = Relay(sessions, settings.base_url,
                  StreamPublisher(settings.amqp_url) if settings.amqp_url else None,
                  on_batch=lambda _: deliverer.notify())
    scheduler = ReviewScheduler(sessions, notice_days=settings.review_notice_days,
                                on_raised=lambda _: relay.wake.set())
    return Outbound(relay, deliverer, scheduler)


class Dispatcher:
    """The in-process bus: the outbound loops as daemon threads of this process."""

    def __init__(self, outbound: Outbound) -> None:
        self.outbound = outbound
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> Dispatcher:
        for i, loop in enumerate(self.outbound.loops()):
            thread = threading.Thread(target=loop, args=(self.stop_event,), daemon=True,
                                      name=f"s117-outbound-{i}")
            thread.start()
            self.threads.append(thread)
        log.info("in-process bus started (relay, delivery, scheduler)")
        return self

    def stop(self, timeout: float = 10) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout)
