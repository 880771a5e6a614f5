"""This register's end of the links: consumes `s117.federation.in` (one consumer at a time,
in order) and applies what peers send.

- `replica`: the owner's state of a person, applied once per event (service.apply_replica);
  acknowledged back to the owner with the event number;
- `command`: casework a peer wrote on its replica of a person this register owns, applied
  with this register's rules (idempotent by command id); the result goes back;
- `result`: the owner's answer to a command forwarded from here;
- `ack`: a peer applied our events up to a number.

A message from a register that is not in the routing table, or from this register itself, a
malformed body, or an update the register refuses (it owns that person, another register
does) is quarantined with the reason (`s117 quarantine list`, channel `federation`) and
acknowledged: it never stops the consumer. A database that is away is waited for: the message
goes back to the queue and nothing is lost.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import pika
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from queues.connection import RECOVERABLE, backoff, connect
from queues.federation import messages
from queues.federation import topology as links
from queues.federation.publisher import Sender
from queues.inbound.envelope import Envelope
from queues.inbound.store import quarantine
from register.errors import InvalidData, RegisterError
from register.federation.routing import RoutingTable
from register.service import RegisterService
from register.store import federation as store

log = logging.getLogger("s117.federation")


class Refused(Exception):
    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind, self.reason = kind, reason


class Consumer:
    def __init__(self, sessions: sessionmaker[Session], service: RegisterService,
                 sender: Sender, routes: RoutingTable, region: str, amqp_url: str) -> None:
        self.sessions = sessions
        self.service = service
        self.sender = sender
        self.routes = routes
        self.region = region
        self.amqp_url = amqp_url
        self.applied = 0
        self.quarantined = 0

    def handle(self, headers: dict[str, Any], message_id: str, body: bytes) -> None:
        """Apply one message, or quarantine it with the reason; raises only for a database
        or broker that is away (the message is then redelivered)."""
        origin = str(headers.get("origin") or "")
        try:
            self._apply(origin, str(headers.get("kind") or ""), headers.get("event-number"),
                        body)
        except Refused as refused:
            self._quarantine(origin, message_id, body, refused.kind, refused.reason)
        except RegisterError as exc:
            self._quarantine(origin, message_id, body, "refused", str(exc))

    def _apply(self, origin: str, kind: str, number: object, body: bytes) -> None:
        if not self.routes.known(origin) or origin == self.region:
            raise Refused("unknown-register", f"from {origin or 'no origin'}: not a register "
                          "in this register's routing table")
        if kind not in messages.KINDS:
            raise Refused("unknown-kind", f"kind {kind or '(none)'} is not one of "
                          f"{', '.join(messages.KINDS)}")
        if kind == "replica":
            if not isinstance(number, int):
                raise Refused("malformed", "a replica message needs an event-number header")
            outcome = self.service.apply_replica(messages.read_replica(origin, number, body))
            with self.sessions.begin() as session:
                store.received(session, origin, number)
            self.sender.send([messages.ack(origin, number)])
            self.applied += outcome.status == "applied"
        elif kind == "command":
            command = messages.read_command(body)
            try:
                outcome = self.service.handle(command)
                answer = messages.result(origin, command.command_id, outcome.status
                                         if outcome.status != "duplicate" else "applied",
                                         detail=outcome.reason)
            except RegisterError as exc:
                answer = messages.result(origin, command.command_id, "refused", exc.rule,
                                         str(exc))
            self.sender.send([answer])
        elif kind == "result":
            data = messages.read_json(body, "command_id", "outcome")
            with self.sessions.begin() as session:
                if not store.answer(session, str(data["command_id"]), str(data["outcome"]),
                                    data.get("rule"), str(data.get("detail") or "")):
                    raise InvalidData("a result for a command this register did not "
                                      "forward", field="command_id")
        else:
            data = messages.read_json(body, "event_number")
            with self.sessions.begin() as session:
                store.acked(session, origin, int(data["event_number"]))

    def _quarantine(self, origin: str, message_id: str, body: bytes, kind: str,
                    reason: str) -> None:
        self.quarantined += 1
        log.warning("federation message from %s quarantined: %s", origin or "?", kind)
        envelope = Envelope(routing_key=f"federation.{origin or 'unknown'}", body=body,
                            partition=0, message_id=message_id)
        quarantine(self.sessions, envelope, f"federation:{origin or 'unknown'}:{message_id}",
                   origin or "unknown", kind, reason)

    def run(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            connection = None
            try:
                connection = connect(self.amqp_url, "federation")
                channel = connection.channel()
                links.declare(channel, self.region)
                channel.basic_qos(prefetch_count=50)
                for method, props, body in channel.consume(links.QUEUE, inactivity_timeout=0.5):
                    if stop.is_set():
                        break
                    if method is None:
                        continue
                    try:
                        self.handle(props.headers or {}, props.message_id or "", body)
                    except (*RECOVERABLE, DBAPIError, pika.exceptions.NackError):
                        channel.basic_nack(method.delivery_tag, requeue=True)
                        raise
                    channel.basic_ack(method.delivery_tag)
                    failures = 0
            except (*RECOVERABLE, DBAPIError, pika.exceptions.NackError) as error:
                self.sender.close()
                delay = backoff(failures)
                failures += 1
                log.warning("federation consumer stopped (%s); again in %.1f s",
                            type(error).__name__, delay)
                stop.wait(delay)
            finally:
                if connection is not None and connection.is_open:
                    try:
                        connection.close()
                    except Exception:  # noqa: BLE001 - tidying a broken connection
                        log.debug("close failed", exc_info=True)
