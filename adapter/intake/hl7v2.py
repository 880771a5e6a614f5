"""Receiving one HL7 v2 message, whatever the transport (MLLP, POST /hl7v2): check it, make
it durable on the inbound bus, and answer the original-mode ACK.

- `AA` only once the message is durable: confirmed by RabbitMQ (networked), or applied, held
  or quarantined and committed (embedded);
- `AE` (content the trust can correct) and `AR` (a message the register does not take) with
  an ERR segment, after the refused message itself is durable in quarantine;
- `AR` with error 207 when the message could not be made durable at all (broker or database
  unreachable): nothing was kept, the sender keeps it and sends it again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mappings.hl7v2 import errors as e
from mappings.hl7v2.ack import ack
from mappings.hl7v2.errors import Hl7Problem
from mappings.keys import digest_key, message_key
from queues import topology
from queues.inbound.amqp import Unavailable
from queues.inbound.bus import Inbound
from queues.inbound.decoders import Hl7v2Decoder
from queues.inbound.envelope import Envelope

HEAD_BYTES = 64 * 1024  # what is kept of a message too large to take
NOT_HL7 = ("not-hl7", "unparseable", "encoding-characters", "not-text", *("too-large",
           "stray-bytes", "broken-frame"))


@dataclass(frozen=True)
class Answer:
    ack: bytes
    code: str  # AA | AE | AR
    problem: Hl7Problem | None = None
    sender: str | None = None  # MSH-4, when the message had one
    key: str | None = None  # the message's id on the bus (sender and MSH-10, or a digest)

    @property
    def readable(self) -> bool:
        """False when the body was not an HL7 message at all (HTTP answers 400)."""
        return self.problem is None or self.problem.kind not in NOT_HL7


def _summary(problem: Hl7Problem) -> str:
    """Identifier-free words for an AMQP header: where, and the HL7 error condition."""
    where = f"{problem.where}: " if problem.where else ""
    return f"{where}{e.CODE_TEXT.get(problem.code, 'error')} ({problem.kind})"


class Hl7Intake:
    def __init__(self, inbound: Inbound, max_bytes: int) -> None:
        decoder = inbound.decoders["hl7v2"]
        assert isinstance(decoder, Hl7v2Decoder)
        self.decoder = decoder
        self.bus = inbound.bus
        self.max_bytes = max_bytes  # S117_MLLP_MAX_BYTES

    def too_large(self, head: bytes, size: int) -> Answer:
        return self.receive(head, transport=e.reject(
            e.APPLICATION_ERROR, "too-large",
            f"the message is {size:,} bytes, more than the {self.max_bytes:,} this listener "
            "takes (S117_MLLP_MAX_BYTES): split it, or ask for the limit to be raised"),
            size=size)

    def receive(self, raw: bytes, transport: Hl7Problem | None = None,
                size: int | None = None, may_send: Callable[[str], bool] | None = None,
                sent_by: str | None = None) -> Answer:
        """`may_send`: whether this connection or token may send as a trust (MSH-4); a
        message sent as another is refused AR, and kept in quarantine like any refusal,
        under `sent_by` (the token's organisation) rather than the trust it claimed."""
        message, decoded, problem = self.decoder.examine(raw)
        if transport is not None:
            decoded, problem = None, transport
        elif may_send is not None and message is not None and message.sender \
                and not may_send(message.sender):
            decoded, problem = None, e.reject(
                e.APPLICATION_ERROR, "not-authorised",
                f"this connection may not send messages for {message.sender}: MSH-4 must be "
                "the trust it is registered for (ask the register's operator)",
                e.Location("MSH", 4))
        spoofed = problem is not None and problem.kind == "not-authorised"
        sender = "unknown"
        if spoofed:
            sender = sent_by or "unknown"  # who actually sent it, never the claimed trust
        elif message is not None and not (problem is not None
                                          and problem.kind == "bad-sender"):
            sender = message.sender or "unknown"
        if decoded is not None:
            key, partition = decoded.message_key, topology.partition_of(decoded.partition_key)
        else:
            # A message refused as sent by the wrong trust never takes that trust's id: the
            # real one's message with the same MSH-10 must not look like a repeat of it.
            key = message_key("hl7v2", message.sender, message.control_id) \
                if message is not None and sender != "unknown" and message.control_id \
                and not spoofed else digest_key(f"hl7v2:{sender}" if spoofed else "hl7v2", raw)
            partition = topology.partition_of(key)
        envelope = Envelope(
            routing_key=f"hl7v2.{sender}", body=raw, partition=partition, message_id=key,
            rejected=_summary(problem) if problem else None,
            rejected_kind=problem.kind if problem else None,
            size=size, decoded=decoded)
        who = None if sender == "unknown" else sender
        try:
            result = self.bus.publish(envelope)
        except Unavailable as exc:
            down = e.reject(e.APPLICATION_ERROR, "unavailable",
                            f"the register could not store the message just now ({exc}); "
                            "nothing was kept: send it again")
            return Answer(ack(message, "AR", down, raw), "AR", down, who, key)
        if problem is not None:
            return Answer(ack(message, problem.ack, problem, raw), problem.ack, problem, who,
                          key)
        if result is not None and result.status == "quarantined":
            refused = e.content(e.APPLICATION_ERROR, result.kind, result.reason)
            return Answer(ack(message, "AE", refused, raw), "AE", refused, who, key)
        return Answer(ack(message, "AA"), "AA", sender=who, key=key)
