"""The inbound bus a transport publishes to, one interface for both modes:

- networked (`S117_AMQP_URL` set): RabbitMQ `s117.inbound`; `publish` returns once the broker
  confirms, and `s117 worker` applies the message later (the result is not known: None);
- embedded: the in-process bus runs the same Processor before returning, so `publish` returns
  once the message is applied, held or quarantined and committed (the Result).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.exc import InterfaceError, OperationalError

from queues.inbound import holds
from queues.inbound.amqp import Publisher, Unavailable
from queues.inbound.decoders import Decoders
from queues.inbound.envelope import Envelope, Result
from queues.inbound.processor import Processor
from register.errors import ConcurrencyConflict


class Bus(Protocol):
    def publish(self, envelope: Envelope) -> Result | None: ...
    def close(self) -> None: ...


class InProcessBus:
    def __init__(self, processor: Processor, hold_seconds: int | None = None) -> None:
        self.processor = processor
        self.hold_seconds = hold_seconds
        # One message at a time per process, as one partition consumer would take them.
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def publish(self, envelope: Envelope) -> Result:
        with self._lock:
            try:
                result = self.processor.process(envelope)
                self._sweep()
            except (OperationalError, InterfaceError) as exc:
                raise Unavailable(f"the register database is unavailable "
                                  f"({type(exc.orig).__name__})") from exc
        return result

    def _sweep(self) -> None:
        """Embedded mode has no worker: expired holds are swept here, at most once a
        minute, after a message (and by `s117 quarantine list`)."""
        if self.hold_seconds is None or time.monotonic() < self._next_sweep:
            return
        self._next_sweep = time.monotonic() + min(60.0, max(1.0, self.hold_seconds / 4))
        try:
            holds.sweep(self.processor.service, self.processor.sessions, self.hold_seconds)
        except ConcurrencyConflict:
            self._next_sweep = 0.0  # someone else changed that person: next time

    def close(self) -> None:
        pass


class AmqpBus:
    """A publisher (connection and confirm channel) per thread: a transport serving several
    connections at once publishes in parallel, each connection's messages in its order."""

    def __init__(self, url: str, name: str, give_up_after: float = 20.0) -> None:
        self.url, self.name, self.give_up_after = url, name, give_up_after
        self._local = threading.local()
        self._all: list[Publisher] = []
        self._lock = threading.Lock()

    def _publisher(self) -> Publisher:
        publisher = getattr(self._local, "publisher", None)
        if publisher is None:
            publisher = self._local.publisher = Publisher(self.url, self.name,
                                                          self.give_up_after)
            with self._lock:
                self._all.append(publisher)
        return publisher

    def publish(self, envelope: Envelope) -> None:
        self._publisher().publish_envelope(envelope)
        return None

    def close(self) -> None:
        with self._lock:
            for publisher in self._all:
                publisher.close()


@dataclass
class Inbound:
    """What a transport needs: decoders (for its immediate answer) and the bus. Built by
    adapter.bootstrap for the process's mode."""

    decoders: Decoders
    bus: Bus
