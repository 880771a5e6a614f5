"""Receiving one FHIR message Bundle (`POST /fhir/$process-message`): make it durable on the
inbound bus (routing key `fhir.<sender ODS>`, the same path as HL7 v2), with the commands the
route read from it so the in-process bus does not decode it again; or keep a refused request
in quarantine as it came. The route keeps the HTTP side: reading, authorising, answering."""

from __future__ import annotations

from mappings.fhir import message
from mappings.keys import message_key
from queues import topology
from queues.inbound.bus import Inbound
from queues.inbound.decoders import Decoded, sent_by
from queues.inbound.envelope import Envelope, Result
from register.commands import Command


class FhirIntake:
    def __init__(self, inbound: Inbound) -> None:
        self.bus = inbound.bus

    def accept(self, raw: bytes, msg: message.Message, commands: list[Command]
               ) -> Result | None:
        """A message read and authorised: its Result once applied (embedded), None once
        RabbitMQ has confirmed it (networked: `s117 worker` applies it). Raises Unavailable
        when it could not be stored."""
        key = message_key("fhir", msg.trust, msg.message_id)
        decoded = Decoded(key, msg.trust, commands[0].nhs_number,
                          sent_by(commands, msg.trust, "trust"))
        return self.bus.publish(Envelope(
            routing_key=f"fhir.{msg.trust}", body=raw,
            partition=topology.partition_of(commands[0].nhs_number), message_id=key,
            decoded=decoded))

    def keep_refused(self, raw: bytes, status: int, where: str, sender: str,
                     key: str) -> None:
        """Quarantine a refused request as it came, filed under `sender` and `key` (the route
        decides: a caller may not file a message under a trust it may not send for). The
        reason travels in AMQP headers, so `where` names issue codes and element paths only,
        never the values."""
        self.bus.publish(Envelope(
            routing_key=f"fhir.{sender}", body=raw, partition=topology.partition_of(key),
            message_id=key,
            rejected=f"refused by POST /fhir/$process-message with HTTP {status}: {where}",
            rejected_kind=f"http-{status}"))
