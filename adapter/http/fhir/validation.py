"""`POST /fhir/<type>/$validate` (and `/fhir/$validate`): the register's validator on a
resource a client is about to send, as an OperationOutcome. The body is the resource, or
Parameters with `resource` and optionally `profile`. Always 200 when the request itself is
well formed: the outcome says whether the resource is."""

from __future__ import annotations

from typing import Any

from flask import Response

from adapter.http.fhir import incoming
from adapter.http.fhir.errors import Issue, invalid, outcome
from adapter.http.fhir.responses import fhir_json
from adapter.http.fhir.routes import blueprint
from fhir_profiles.validate import validate


def _target(data: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    if data.get("resourceType") != "Parameters":
        return data, None
    given = {p.get("name"): p for p in data.get("parameter", [])}
    resource = (given.get("resource") or {}).get("resource")
    if not isinstance(resource, dict):
        raise invalid("$validate takes the resource, or Parameters with a `resource` part",
                      "Parameters.parameter")
    return resource, (given.get("profile") or {}).get("valueUri") or \
        (given.get("profile") or {}).get("valueCanonical")


@blueprint.post("/$validate")
@blueprint.post("/<resource_type>/$validate")
def validate_resource(resource_type: str | None = None) -> Response:
    resource, profile = _target(incoming.body())
    if resource_type and resource.get("resourceType") != resource_type:
        raise invalid(f"this is {resource_type}/$validate but the resource is "
                      f"{resource.get('resourceType')!r}", "resourceType")
    found = [Issue(i.severity, i.code, i.diagnostics, list(i.expression))
             for i in validate(resource, profile)]
    if not any(i.severity == "error" for i in found):
        found.append(Issue("information", "informational", "no errors found"))
    return fhir_json(outcome(*found))
