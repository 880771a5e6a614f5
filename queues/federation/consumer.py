"""This register's end of the links: consumes `s117.federation.in` (one consumer at a time,
in order) and applies what peers send.

- `replica`: the owner's state of a person, applied once per event (service.apply_replica);
  acknowledged back to the owner with the event number;
- `command`: casework a peer wrote on its replica of a person this register owns, applied
  with this register's rules (idempotent by command id); the result goes back;
- `result`: the owner's answer to a command forwarded from here;
- `ack`: a peer applied our events up to a number;
- `handover`: the old owner hands this register a record (the law moved the duty: L3, N6),
  taken over once (service.take_over) and acknowledged with `handover-ack`;
- `handover-ack`: the new owner's answer to this register's offer (refused: this register
  owns the record again).

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
from queues.federation import messages, replay
from queues.federation import topology as links
from queues.federation.publisher import Sender
from queues.inbound import store as inbound_store
from queues.inbound.envelope import Envelope
from queues.inbound.store import quarantine
from register.errors import InvalidData, RegisterError
from register.service import RegisterService
from register.store import federation as store
from register.store.inbound_tables import RESOLVED

log = logging.getLogger("s117.federation")


class Refused(Exception):
    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind, self.reason = kind, reason


class Consumer:
    def __init__(self, sessions: sessionmaker[Session], service: RegisterService,
                 sender: Sender, peers: frozenset[str], region: str, amqp_url: str) -> None:
        self.sessions = sessions
        self.service = service
        self.sender = sender
        self.peers = peers  # the registers this one exchanges with (S117_FEDERATION_PEERS)
        self.region = region
        self.amqp_url = amqp_url
        self.applied = 0
        self.quarantined = 0
        self.handovers = 0

    def handle(self, headers: dict[str, Any], message_id: str, body: bytes) -> None:
        """Apply one message, or quarantine it with the reason; raises only for a database
        or broker that is away (the message is then redelivered)."""
        origin = str(headers.get("origin") or "")
        kind, number = str(headers.get("kind") or ""), headers.get("event-number")
        key = replay.routing_key(origin, kind, number)
        try:
            self._apply(origin, kind, number, body)
        except Refused as refused:
            self._quarantine(origin, key, message_id, body, refused.kind, refused.reason)
            return
        except RegisterError as exc:
            self._quarantine(origin, key, message_id, body, "refused", str(exc))
            return
        replay_of = headers.get(replay.REPLAY_OF)
        if isinstance(replay_of, int):  # `s117 quarantine replay`: applied this time
            inbound_store.set_state(self.sessions, replay_of, RESOLVED)

    def _apply(self, origin: str, kind: str, number: object, body: bytes) -> None:
        if origin not in self.peers:
            raise Refused("unknown-register", f"from {origin or 'no origin'}: not a peer of "
                          f"this register ({', '.join(sorted(self.peers))}; "
                          "S117_FEDERATION_PEERS)")
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
            self._command(origin, body)
        elif kind == "handover":
            if not isinstance(number, int):
                raise Refused("malformed", "a handover message needs an event-number header")
            self._handover(origin, number, body)
        elif kind == "handover-ack":
            data = messages.read_json(body, "event_number", "outcome")
            with self.sessions.begin() as session:
                if not store.handover_answered(session, origin, int(data["event_number"]),
                                               str(data["outcome"]),
                                               str(data.get("reason") or "")):
                    raise InvalidData("an answer to a handover this register did not "
                                      "offer", field="event_number")
                if data["outcome"] == "accepted":
                    store.acked(session, origin, int(data["event_number"]))
            self.handovers += 1
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

    def _command(self, origin: str, body: bytes) -> None:
        """Casework a peer sent here as the owner. The answer goes to the register it was
        written on and, if it only passed through the sender (an old owner), to the sender
        too; an answer for this register itself is kept here."""
        command, written_on = messages.read_command(body)
        reply_to = written_on or origin
        try:
            outcome = self.service.handle_forwarded(command, origin, reply_to)
            answer = (outcome.status if outcome.status != "duplicate" else "applied",
                      None, outcome.reason)
        except RegisterError as exc:
            answer = ("refused", exc.rule, str(exc))
        for to in dict.fromkeys((reply_to, origin)):
            if to == self.region:
                with self.sessions.begin() as session:
                    store.answer(session, command.command_id, *answer)
            else:
                self.sender.send([messages.result(to, command.command_id, *answer)])

    def _handover(self, origin: str, number: int, body: bytes) -> None:
        """The old owner hands this register a record: taken over (and acknowledged), or
        refused with the reason, which goes back (the old owner then keeps it) and is kept
        here in quarantine."""
        update = messages.read_replica(origin, number, body)
        try:
            self.service.take_over(update)
        except RegisterError as exc:
            self.sender.send([messages.handover_ack(origin, number, "refused", str(exc))])
            raise
        with self.sessions.begin() as session:
            store.received(session, origin, number)
        self.sender.send([messages.handover_ack(origin, number, "accepted")])
        self.handovers += 1

    def _quarantine(self, origin: str, key: str, message_id: str, body: bytes, kind: str,
                    reason: str) -> None:
        self.quarantined += 1
        log.warning("federation message from %s quarantined: %s", origin or "?", kind)
        envelope = Envelope(routing_key=key, body=body, partition=0, message_id=message_id)
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
                        self.sender.keepalive()  # idle: the answers' connection too
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
