"""Decoders: the body of an inbound message -> register commands, chosen by the first word
of the routing key. A new channel plugs in with one line in FACTORIES (the council batch feed
is `"council"`).

A decoder returns `Decoded` or raises `Refused` with an identifier-free `kind`, a `reason` in
words, and its own error object (`problem`) for the transport's answer (HL7 ACK,
OperationOutcome)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from fhir_profiles import validate
from mappings import council
from mappings.council import CouncilBatch
from mappings.fhir import message as fhir_message
from mappings.hl7v2 import adt
from mappings.hl7v2.errors import Hl7Problem
from mappings.hl7v2.message import Hl7Message, read
from mappings.keys import digest_key, message_key
from queues.inbound.trust_profiles import Profiles
from register.commands import Agent, Command
from register.errors import InvalidData


@dataclass(frozen=True)
class Decoded:
    message_key: str
    sender: str
    partition_key: str  # the NHS number: one person's messages share a partition
    commands: list[Command]


@dataclass(frozen=True)
class DecodedFile:
    """A council batch file: many people, each person's commands applied together."""

    message_key: str
    sender: str  # the council's GSS code
    batch: CouncilBatch

    @property
    def partition_key(self) -> str:  # a file is about no one person
        return self.message_key


class Refused(Exception):
    def __init__(self, kind: str, reason: str, problem: object | None = None,
                 message_key: str | None = None, sender: str | None = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.problem = problem
        self.message_key = message_key
        self.sender = sender


class Decoder(Protocol):
    """`sender` is the routing key's second word: the ODS or GSS code the transport (or the
    publishing council) filed the message under."""

    def __call__(self, body: bytes, sender: str) -> Decoded | DecodedFile: ...


def sent_by(commands: list[Command], org: str, kind: str) -> list[Command]:
    """The commands with their sender as agent (their Provenance): the transport checked,
    before the message was stored, that its sender may send as this organisation."""
    agent = Agent(org, kind)
    return [replace(cmd, agent=agent) for cmd in commands]


class Hl7v2Decoder:
    def __init__(self, profiles: Profiles) -> None:
        self.profiles = profiles

    def examine(self, body: bytes) -> tuple[Hl7Message | None, Decoded | None,
                                            Hl7Problem | None]:
        """Everything a transport needs for its ACK: the parsed message (if it parses), and
        the commands or the problem."""
        message = None
        try:
            message = read(body)
            decoded = adt.decode(message, self.profiles.for_sender(message.sender))
        except Hl7Problem as problem:
            return message, None, problem
        except InvalidData as exc:  # a broken trust profile: the message waits for the fix
            return message, None, Hl7Problem("AE", 207, "trust-profile", str(exc))
        return message, Decoded(decoded.message_key, decoded.sender, decoded.nhs_number,
                                sent_by(decoded.commands, decoded.sender, "trust")), None

    def __call__(self, body: bytes, sender: str = "") -> Decoded:
        message, decoded, problem = self.examine(body)
        if decoded is not None:
            return decoded
        assert problem is not None
        known = message is not None and message.sender and message.control_id
        key = message_key("hl7v2", message.sender, message.control_id) \
            if known and message else None
        raise Refused(problem.kind, str(problem), problem, key,
                      message.sender if message and message.sender else None)


def decode_fhir(body: bytes, sender: str = "") -> Decoded:
    """A FHIR message Bundle (JSON) -> the commands of mappings/fhir/message.py."""
    try:
        bundle: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Refused("not-json", f"the body is not JSON ({exc})") from None
    except RecursionError:
        raise Refused("not-json", "the body is nested too deeply to read") from None
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise Refused("not-a-bundle", "the body must be a FHIR Bundle of type message")
    sender, ident = fhir_message.peek(bundle)
    key = message_key("fhir", sender, ident) if sender and ident else None
    issues = [i for i in validate.validate(bundle) if i.severity in ("error", "fatal")]
    if issues:
        first = issues[0]
        raise Refused("invalid-fhir", f"{'/'.join(first.expression) or 'Bundle'}: "
                      f"{first.diagnostics}", issues, key, sender)
    try:
        msg, commands = fhir_message.commands(bundle)
    except InvalidData as exc:
        raise Refused("fhir-content", str(exc), exc, key, sender) from None
    return Decoded(message_key("fhir", msg.trust, msg.message_id), msg.trust,
                   commands[0].nhs_number,
                   sent_by(commands, msg.trust, "trust"))


def decode_council(body: bytes, sender: str) -> DecodedFile:
    """A council's batch file (mappings/council), published as `council.<la-gss>`."""
    try:
        batch = council.decode(body, sender)
    except council.FileRefused as exc:
        raise Refused("council-file", str(exc), exc, digest_key(f"council:{sender}", body),
                      sender) from None
    return DecodedFile(message_key("council", sender, batch.digest[:32]), sender, batch)


FACTORIES: dict[str, Callable[[Path | None], Decoder]] = {
    "hl7v2": lambda trust_profiles: Hl7v2Decoder(Profiles(trust_profiles)),
    "fhir": lambda trust_profiles: decode_fhir,
    "council": lambda trust_profiles: decode_council,
}


class Decoders:
    """One decoder per routing-key prefix, made once per process. `trust_profiles`: the
    folder of the region's own trust profiles (S117_TRUST_PROFILES), besides the shipped."""

    def __init__(self, trust_profiles: Path | None = None) -> None:
        self.by_prefix: dict[str, Decoder] = {p: f(trust_profiles)
                                              for p, f in FACTORIES.items()}

    def __getitem__(self, prefix: str) -> Decoder:
        return self.by_prefix[prefix]

    def decode(self, routing_key: str, body: bytes) -> Decoded | DecodedFile:
        prefix, _, sender = routing_key.partition(".")
        decoder = self.by_prefix.get(prefix)
        if decoder is None:
            raise Refused("unknown-channel", f"no decoder for routing key prefix {prefix!r}: "
                          f"known are {', '.join(sorted(self.by_prefix))}")
        return decoder(body, sender)
