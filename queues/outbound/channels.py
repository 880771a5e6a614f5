"""How a notification reaches a subscriber: `rest-hook` (HTTP POST) or the custom channel
`amqp` (the subscriber's own queue). Each channel answers with an Outcome; neither ever
raises, so one broken subscriber is a recorded failed attempt, not a broken worker.

HTTP connections are pooled per subscriber host and shared by the delivery threads; AMQP
connections are per thread (pika's BlockingConnection may not be shared between threads)."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pika
import urllib3
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

from queues import topology
from queues.connection import connect, keepalive
from queues.outbound.endpoints import AllowList, EndpointRefused, failure_category, pinned_pools
from queues.outbound.processes import short
from register.subscriptions import RecordedEvent, Subscription

log = logging.getLogger("s117.delivery")
FHIR_JSON = "application/fhir+json"
USER_AGENT = "s117-register subscriptions"


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    http_status: int | None = None
    error: str | None = None


class Channel(Protocol):
    def send(self, subscription: Subscription, body: dict[str, Any], kind: str,
             events: Sequence[RecordedEvent]) -> Outcome: ...


def _headers(lines: Sequence[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        name, _, value = line.partition(":")
        out[name.strip()] = value.strip()
    return out


class RestHook:
    """POST the Bundle to the subscriber's endpoint with its own headers. 2xx is delivered;
    anything else, a timeout or a refused connection is a failed attempt. Redirects are not
    followed: the subscriber registered one URL, and that is where patient data goes. Every
    connection's address is checked as it is made (queues/outbound/endpoints.py), and a
    failure is recorded as a category, never the socket's own words.

    One connection pool per subscriber host (urllib3's PoolManager, shared by the delivery
    senders, which it allows): a send reuses the connection any sender last used to that
    host, instead of each of 64 threads keeping its own connection to every subscriber.
    `per_host` connections are kept alive per host (more may open at once; the extra ones
    are closed after use)."""

    def __init__(self, timeout_seconds: float, allowed: AllowList | None = None, *,
                 per_host: int = 8) -> None:
        self.timeout_seconds = timeout_seconds
        self._pools = pinned_pools(allowed or AllowList(), num_pools=1000, maxsize=per_host,
                                   block=False, retries=False)

    def send(self, subscription: Subscription, body: dict[str, Any], kind: str,
             events: Sequence[RecordedEvent]) -> Outcome:
        timeout = min(self.timeout_seconds, subscription.timeout_seconds or
                      self.timeout_seconds)
        headers = {**_headers(subscription.headers), "Content-Type": FHIR_JSON,
                   "User-Agent": USER_AGENT}
        try:
            answer = self._pools.request(
                "POST", subscription.endpoint or "",
                body=json.dumps(body, separators=(",", ":")).encode(), headers=headers,
                timeout=urllib3.Timeout(connect=min(timeout, 5.0), read=timeout),
                redirect=False)
        except (urllib3.exceptions.HTTPError, ValueError, EndpointRefused) as error:
            log.info("rest-hook to Subscription/%s failed: %s", subscription.id, short(error))
            return Outcome(False, None, failure_category(error))
        if 200 <= answer.status < 300:
            return Outcome(True, answer.status)
        return Outcome(False, answer.status, f"http-error: the endpoint answered HTTP "
                       f"{answer.status}")


class AmqpQueue:
    """Publish the Bundle to the subscriber's own queue (via `s117.notifications`, routing
    key = subscription id) with publisher confirms and `mandatory`: a queue that was deleted
    (unroutable) or is full (`reject-publish`, nacked) is a failed attempt, retried like a
    rest-hook, and the subscriber can always recover with $events."""

    def __init__(self, amqp_url: str) -> None:
        self.amqp_url = amqp_url
        self._local = threading.local()

    def _channel(self) -> BlockingChannel:
        channel: BlockingChannel | None = getattr(self._local, "channel", None)
        # Each sender thread's connection is used only by that thread (pika is not
        # thread-safe), so an idle thread cannot answer heartbeats and the broker may have
        # dropped it: checked before use, that costs a reconnect, not a failed attempt.
        if channel is not None and not keepalive(getattr(self._local, "connection", None)):
            self._reset()
            channel = None
        if channel is None or not channel.is_open:
            connection: BlockingConnection = connect(self.amqp_url, "delivery",
                                                     give_up_after=10)
            channel = connection.channel()
            channel.confirm_delivery()
            self._local.connection, self._local.channel = connection, channel
        return channel

    def _reset(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = self._local.channel = None
        if connection is not None and connection.is_open:
            with contextlib.suppress(Exception):  # already broken; only tidying up
                connection.close()

    def send(self, subscription: Subscription, body: dict[str, Any], kind: str,
             events: Sequence[RecordedEvent]) -> Outcome:
        first = events[0].number if events else None
        last = events[-1].number if events else None
        headers: dict[str, Any] = {"subscription": subscription.id, "type": kind,
                                   "events-since-subscription-start":
                                       subscription.events_since_start}
        if first is not None:
            headers.update({"first-event-number": first, "last-event-number": last})
        properties = pika.BasicProperties(
            content_type=FHIR_JSON, delivery_mode=2, type=kind, app_id="s117-register",
            message_id=f"{subscription.id}/{first}-{last}" if first else body["id"],
            headers=headers)
        try:
            channel = self._channel()
            if kind == "handshake":
                topology.declare_subscriber_queue(channel, subscription.id)
            channel.basic_publish(topology.NOTIFICATIONS, subscription.id,
                                  json.dumps(body, separators=(",", ":")).encode(),
                                  properties, mandatory=True)
        except pika.exceptions.UnroutableError:
            return Outcome(False, None, "the subscriber's queue does not exist")
        except pika.exceptions.NackError:
            return Outcome(False, None, "the broker refused the notification (the "
                           "subscriber's queue is full)")
        except Exception as error:  # noqa: BLE001 - any broker failure is a failed attempt
            self._reset()
            return Outcome(False, None, short(error))
        return Outcome(True)
