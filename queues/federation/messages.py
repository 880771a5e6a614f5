"""What travels on `s117.federation` between regional registers, and how it is read back.

Six kinds (the `kind` header; the routing key is the destination region's code, e.g. `Y60`;
headers `origin`, `kind`, `event-number`: never a patient identifier):

- `replica` (owner -> peer): the FHIR notification Bundle of the event, as on `s117.events`,
  plus one `Binary` entry (`application/x-s117-replica+json`) with the owner's state of the
  person (facts, entitlements as decided, residence, review due dates): FHIR has no resource
  for the rule inputs, and the peer must not derive anything itself;
- `command` (peer -> owner): casework written on a replica (the register's own command JSON);
- `result` (owner -> peer): applied, or refused with the rule and reason;
- `ack` (peer -> owner): the last event number applied, for the owner's lag figures;
- `handover` (old owner -> new owner): the record when the law moved the duty, as a `replica`
  whose state also names the rule (L3, N6); its event number is the old owner's
  owner-changed event;
- `handover-ack` (new owner -> old owner): accepted, or refused with the reason.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import NAMESPACE_URL, uuid5

import pika

from fhir_profiles import canonical as url
from mappings.fhir import notification
from register.commands import Command
from register.errors import InvalidData
from register.federation.replica import ReplicaUpdate
from register.model import Entitlement
from register.ports import PersonRecord
from register.store import codec
from register.subscriptions import RecordedEvent

EXCHANGE = "s117.federation"
REPLICA_TYPE = "application/x-s117-replica+json"
KINDS = ("replica", "command", "result", "ack", "handover", "handover-ack")
_NAMESPACE = uuid5(NAMESPACE_URL, f"{url.BASE}/federation")


@dataclass(frozen=True)
class Outgoing:
    to: str  # the destination region: the routing key
    kind: str
    body: bytes
    message_id: str
    event_number: int | None = None
    timestamp: datetime | None = None

    def properties(self, origin: str) -> pika.BasicProperties:
        headers: dict[str, Any] = {"origin": origin, "kind": self.kind}
        if self.event_number is not None:
            headers["event-number"] = self.event_number
        return pika.BasicProperties(
            content_type="application/fhir+json" if self.kind in ("replica", "handover")
            else "application/json", delivery_mode=2, message_id=self.message_id,
            type=self.kind, app_id="s117-register", headers=headers,
            timestamp=int(self.timestamp.timestamp()) if self.timestamp else None)


def replica(to: str, origin: str, recorded: RecordedEvent, record: PersonRecord,
            base: str, handover_rule: str | None = None) -> Outgoing:
    """The owner's state after one of its events; with `handover_rule`, the handover of the
    record to `to` (kind `handover`)."""
    bundle = notification.stream_bundle(recorded, base, EXCHANGE)
    state = {"facts": codec.dump(record.facts),
             "entitlements": [codec.dump(e) for e in record.entitlements],
             "residence_la": record.residence_la,
             "next_review_due": {k: v.isoformat() if v else None
                                 for k, v in record.next_review_due.items()},
             "events": [codec.dump(recorded.event)]}
    if handover_rule is not None:
        state["handover_rule"] = handover_rule
    data = base64.b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()
    binary_id = str(uuid5(_NAMESPACE, f"{origin}/{recorded.outbox_id}/state"))
    bundle["entry"].append({
        "fullUrl": f"urn:uuid:{binary_id}",
        "resource": {"resourceType": "Binary", "id": binary_id, "contentType": REPLICA_TYPE,
                     "data": data},
        "request": {"method": "PUT", "url": f"Binary/{binary_id}"},
        "response": {"status": "200"}})
    kind = "replica" if handover_rule is None else "handover"
    return Outgoing(to, kind, json.dumps(bundle, separators=(",", ":")).encode(),
                    str(uuid5(_NAMESPACE, f"{origin}/{to}/{recorded.outbox_id}"
                              + ("/handover" if handover_rule is not None else ""))),
                    recorded.outbox_id, recorded.occurred_at)


def read_replica(origin: str, event_number: int, body: bytes) -> ReplicaUpdate:
    """The update a replica message carries; InvalidData naming what is wrong."""
    try:
        bundle = json.loads(body)
        [state_entry] = [e for e in bundle["entry"]
                         if e["resource"].get("resourceType") == "Binary"
                         and e["resource"].get("contentType") == REPLICA_TYPE]
        state = json.loads(base64.b64decode(state_entry["resource"]["data"]))
        return ReplicaUpdate(
            origin=origin, event_number=event_number,
            facts=codec.load_facts(state["facts"]),
            entitlements=[codec.load(Entitlement, e) for e in state["entitlements"]],
            residence_la=state.get("residence_la"),
            next_review_due=codec.load(dict[str, date | None], {
                k: v for k, v in state.get("next_review_due", {}).items()}),
            events=[codec.load_event(e) for e in state.get("events", [])],
            handover_rule=state.get("handover_rule"))
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidData(f"not a replica notification Bundle: {type(exc).__name__}: "
                          f"{str(exc)[:200]}", field="body") from None


def command(to: str, cmd: Command, reply_to: str) -> Outgoing:
    """`reply_to`: the register the casework was written on (the answer goes there)."""
    body = {"kind": type(cmd).__name__, "command": codec.dump(cmd), "reply_to": reply_to}
    return Outgoing(to, "command", json.dumps(body).encode(),
                    str(uuid5(_NAMESPACE, f"command/{cmd.command_id}")))


def read_command(body: bytes) -> tuple[Command, str | None]:
    """The command and the register it was written on (None: the sender)."""
    try:
        data = json.loads(body)
        reply_to = data.get("reply_to")
        return codec.load_command(data["kind"], data["command"]), \
            str(reply_to) if reply_to else None
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidData(f"not a forwarded command: {type(exc).__name__}: "
                          f"{str(exc)[:200]}", field="body") from None


def result(to: str, command_id: str, outcome: str, rule: str | None = None,
           detail: str = "") -> Outgoing:
    body = {"command_id": command_id, "outcome": outcome, "rule": rule, "detail": detail}
    return Outgoing(to, "result", json.dumps(body).encode(),
                    str(uuid5(_NAMESPACE, f"result/{command_id}")))


def ack(to: str, event_number: int) -> Outgoing:
    return Outgoing(to, "ack", json.dumps({"event_number": event_number}).encode(),
                    str(uuid5(_NAMESPACE, f"ack/{to}/{event_number}")), event_number)


def read_json(body: bytes, *keys: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
        if not isinstance(data, dict) or any(k not in data for k in keys):
            raise ValueError(f"expected the keys {', '.join(keys)}")
        return data
    except ValueError as exc:
        raise InvalidData(f"malformed body: {str(exc)[:200]}", field="body") from None


def handover_ack(to: str, event_number: int, outcome: str, reason: str = "") -> Outgoing:
    """The new owner's answer to a handover (`accepted` or `refused`)."""
    return Outgoing(to, "handover-ack", json.dumps({
        "event_number": event_number, "outcome": outcome, "reason": reason}).encode(),
        str(uuid5(_NAMESPACE, f"handover-ack/{to}/{event_number}")), event_number)
