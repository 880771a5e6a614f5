"""Connections to RabbitMQ (pika) that come back after the broker goes away.

Every long-running process (worker, relay, MLLP listener, delivery) connects through
`connect()`: it retries with exponential backoff and jitter, so a broker restart costs a
pause, not a crashed process; and it names the connection so the broker's connection list
says which `s117` process is which.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

import pika
from pika.adapters.blocking_connection import BlockingConnection
from pika.exceptions import AMQPConnectionError

log = logging.getLogger("s117.queues")

# Errors after which a process should reconnect rather than give up.
RECOVERABLE: tuple[type[BaseException], ...] = (
    pika.exceptions.AMQPConnectionError, pika.exceptions.AMQPChannelError,
    pika.exceptions.ConnectionClosedByBroker, pika.exceptions.StreamLostError,
    ConnectionError, OSError)


def parameters(url: str, name: str) -> pika.URLParameters:
    params = pika.URLParameters(url)
    params.client_properties = {"connection_name": f"s117 {name}"}
    params.heartbeat = 30
    params.blocked_connection_timeout = 60
    params.connection_attempts = 1  # the retry loop below owns retrying
    return params


def backoff(attempt: int, *, base: float = 0.2, cap: float = 10.0) -> float:
    """Seconds to wait before attempt `attempt` (0-based): doubling, capped, jittered."""
    return min(cap, base * 2 ** attempt) * random.uniform(0.5, 1.0)


def connect(url: str, name: str, *, give_up_after: float | None = None,
            sleep: Callable[[float], None] = time.sleep) -> BlockingConnection:
    """Connect, retrying with backoff; `give_up_after` seconds (None: for ever) bounds it."""
    started = time.monotonic()
    attempt = 0
    while True:
        try:
            return BlockingConnection(parameters(url, name))
        except AMQPConnectionError as error:
            waited = time.monotonic() - started
            if give_up_after is not None and waited >= give_up_after:
                raise
            delay = backoff(attempt)
            log.warning("RabbitMQ not reachable (%s); retrying in %.1f s", error, delay)
            sleep(delay)
            attempt += 1
