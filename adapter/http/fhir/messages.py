"""`POST /fhir/$process-message`: a trust EPR's FHIR message Bundle becomes register commands
(mappings/fhir/message.py), applied together, once per message id. The answer is a response
message (MessageHeader.response.code ok) or an OperationOutcome saying what and where."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from flask import Response, current_app

from adapter.http.fhir import incoming
from adapter.http.fhir.errors import register_error
from adapter.http.fhir.responses import fhir_json
from adapter.http.fhir.routes import blueprint
from fhir_profiles import canonical as url
from mappings.fhir import message
from register.errors import CommandRefused


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


@blueprint.post("/$process-message")
def process_message() -> Response:
    bundle = incoming.checked(incoming.body("Bundle"))
    msg, commands = message.commands(bundle)
    try:
        outcomes = current_app.extensions["s117"].service.handle_all(commands)
    except CommandRefused as exc:
        raise register_error(exc.cause) from None
    return fhir_json(_response(bundle, msg, outcomes))
