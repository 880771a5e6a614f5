"""`POST /fhir/$process-message`: a trust EPR's FHIR message Bundle becomes register commands
(mappings/fhir/message.py), applied together, once per message id, through the inbound bus
(the same path as HL7 v2, routing key `fhir.<sender ODS>`).

- embedded: the bus applies the message before answering: 200 with a response message
  (MessageHeader.response.code ok, each command's outcome), or the refusal as an
  OperationOutcome (the message is kept in quarantine);
- networked: the answer comes once RabbitMQ has confirmed the message: 202 Accepted with an
  OperationOutcome saying it was accepted for asynchronous processing (FHIR messaging's
  asynchronous mode); `s117 worker` applies it, and a refusal found then is in quarantine.

A request refused here (not JSON, not valid R4, not a message the register takes) is answered
with its OperationOutcome and also kept in quarantine, so nothing a trust sent is lost."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from flask import Response, request

from adapter.http import intake, policy
from adapter.http.fhir import incoming
from adapter.http.fhir.errors import FhirError, Issue, outcome, register_error
from adapter.http.fhir.responses import fhir_json
from adapter.http.fhir.routes import blueprint
from fhir_profiles import canonical as url
from mappings.fhir import message
from mappings.keys import digest_key, message_key
from queues.inbound.amqp import Unavailable
from register.errors import RegisterError


def _response(request_bundle: dict[str, Any], msg: message.Message,
              outcomes: list[Any]) -> dict[str, Any]:
    header = request_bundle["entry"][0]["resource"]
    applied = ", ".join(f"{o.command_id.rpartition(':')[2]}: {o.status}" for o in outcomes)
    return {"resourceType": "Bundle", "id": str(uuid4()), "type": "message",
            "timestamp": datetime.now(UTC).isoformat(),
            "entry": [{"fullUrl": f"urn:uuid:{uuid4()}", "resource": {
                "resourceType": "MessageHeader", "id": str(uuid4()),
                "eventCoding": {"system": url.CS_EVENT, "code": msg.event},
                "source": {"name": "s117-register", "endpoint": f"{url.BASE}/fhir"},
                "response": {"identifier": header.get("id") or msg.message_id, "code": "ok"},
                **({"destination": [{"endpoint": header["source"]["endpoint"]}]}
                   if (header.get("source") or {}).get("endpoint") else {}),
                "text": {"status": "generated",
                         "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{applied}</div>'},
            }}]}


def _keep_refused(raw: bytes, status: int, issues: list[Issue]) -> None:
    where = "; ".join(f"{i.code} at {', '.join(i.expression) or 'the message'}"
                      for i in issues[:5])
    # A refused body can be any shape: take the sender and id only where they are what the
    # contract says (an ODS code, a FHIR id) and the caller may send as that sender, else
    # file it under the caller (who actually sent it) and a digest of the bytes, so a
    # message spoofed as another trust never takes, resolves or hides that trust's own.
    try:
        found, ident = message.peek(incoming.loads(raw))
    except (ValueError, RecursionError):
        found, ident = None, None
    if found and ident and policy.may_send_for(found):
        sender, key = found, message_key("fhir", found, ident)
    else:
        sender = policy.viewer().org if found else "unknown"
        key = digest_key(f"fhir:{sender}", raw)
    try:
        intake().fhir.keep_refused(raw, status, where, sender, key)
    except Unavailable as exc:
        raise _unavailable(exc) from None


def _unavailable(exc: Unavailable) -> FhirError:
    return FhirError(503, Issue("error", "transient", f"the message could not be stored "
                                f"({exc}); nothing was kept: send it again"))


@blueprint.post("/$process-message")
def process_message() -> Response:
    raw = request.get_data(cache=True)
    try:
        bundle = incoming.checked(incoming.body("Bundle"))
        msg, commands = message.commands(bundle)
    except FhirError as error:
        _keep_refused(raw, error.status, list(error.issues))
        raise
    except RegisterError as exc:
        error = register_error(exc)
        _keep_refused(raw, error.status, list(error.issues))
        raise error from None
    if not policy.may_send_for(msg.trust):
        error = policy.forbidden(f"{policy.viewer().org} may not send messages for "
                                 f"{msg.trust} (MessageHeader.sender): a trust sends as itself")
        _keep_refused(raw, 403, list(error.issues))
        raise error
    try:
        result = intake().fhir.accept(raw, msg, commands)
    except Unavailable as exc:
        raise _unavailable(exc) from None
    if result is None:
        return fhir_json(outcome(Issue(
            "information", "informational",
            f"message {msg.message_id} accepted for asynchronous processing: it is stored "
            "and will be applied once (a re-send is recognised); refusals are kept in "
            "quarantine")), 202)
    if result.status == "quarantined":
        if isinstance(result.problem, RegisterError):
            raise register_error(result.problem)
        raise FhirError(422, Issue("error", "processing", result.reason))
    return fhir_json(_response(bundle, msg, result.outcomes))
