"""What travels on the inbound bus: the message as received, its routing, and what became of
it. No patient identifier is ever put in the routing key or the headers: the partition is a
number, the message id names the sender and its own control id."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from register.service import Outcome
from register.store.dialect import utcnow

if TYPE_CHECKING:
    from queues.inbound.decoders import Decoded

# Headers (besides topology.PARTITION_HEADER); identifier-free by construction.
REJECTED = "s117-rejected"  # a transport-level refusal (too large, stray bytes): its reason
REJECTED_KIND = "s117-rejected-kind"
SIZE = "s117-size"
REPLAY_OF = "s117-replay-of"  # the inbound_message id being replayed
RECEIVED_AT = "s117-received-at"
QUARANTINE_ID = "s117-quarantine-id"
REASON = "s117-reason"  # on dead letters: the reason label (e.g. invalid-nhs-number)


@dataclass(frozen=True)
class Envelope:
    routing_key: str  # hl7v2.<sender ODS>, fhir.<sender ODS>, council.<LA GSS>
    body: bytes
    partition: int
    message_id: str  # the message key when known, else a digest of the body
    received_at: datetime = field(default_factory=utcnow)
    rejected: str | None = None  # identifier-free reason if the transport already refused it
    rejected_kind: str | None = None  # its label (too-large, stray-bytes, broken-frame)
    replay_of: int | None = None
    size: int | None = None  # bytes received, when `body` is only the head of them
    # What the transport already decoded to answer its sender; the in-process bus applies it
    # without decoding the body again. Never sent over AMQP (a worker decodes the body).
    decoded: Decoded | None = field(default=None, compare=False, repr=False)

    @property
    def channel(self) -> str:
        return self.routing_key.split(".", 1)[0]

    @property
    def sender(self) -> str:
        return self.routing_key.split(".", 1)[1] if "." in self.routing_key else "unknown"


@dataclass(frozen=True)
class Result:
    """What the processor did with one message."""

    status: str  # applied | duplicate | held | empty | quarantined
    outcomes: list[Outcome] = field(default_factory=list)
    kind: str = ""  # for quarantined: the reason label
    reason: str = ""  # for quarantined: the reason in words
    problem: object | None = None  # the decoder's own error (an Hl7Problem, an InvalidData)
    quarantine_id: int | None = None


def summarise(outcomes: list[Outcome]) -> str:
    statuses = {o.status for o in outcomes}
    if not outcomes:
        return "empty"
    if statuses == {"duplicate"}:
        return "duplicate"
    return "held" if "held" in statuses else "applied"
