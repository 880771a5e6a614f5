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
import urllib.parse
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
    if "heartbeat" not in urllib.parse.parse_qs(urllib.parse.urlsplit(url).query):
        params.heartbeat = 30  # the URL may ask for another (tests use a short one)
    params.blocked_connection_timeout = 60
    params.connection_attempts = 1  # the retry loop below owns retrying
    return params


def keepalive(connection: BlockingConnection | None) -> bool:
    """Answer the broker's heartbeats now, without waiting. A BlockingConnection answers
    them only while it is used, so a process that is idle or busy elsewhere (a database
    transaction) must call this from its loops or the broker drops it for missed
    heartbeats. False when there is no open connection (any more)."""
    if connection is None or not connection.is_open:
        return False
    try:
        connection.process_data_events(time_limit=0)
    except RECOVERABLE:
        return False
    return connection.is_open


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
