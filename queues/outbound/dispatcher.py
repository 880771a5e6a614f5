"""The outbound pieces of one process (`s117 relay`, `s117 scheduler`, the embedded register's
in-process bus; adapter.bootstrap puts them together from Settings), and the in-process bus.

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

from queues.outbound.delivery import Deliverer
from queues.outbound.relay import Relay
from queues.outbound.scheduler import ReviewScheduler

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
