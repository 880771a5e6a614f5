"""`Patient/{id}/$everything`: the person's whole s117 record in one Bundle, as HAPI FHIR and
the NHS national APIs offer it: the Patient, every stay (Encounter), every entitlement
(EpisodeOfCare), its funding (Coverage) and each organisation any of them refers to."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request

from adapter.http.fhir import incoming
from adapter.http.fhir.errors import invalid, not_found
from adapter.http.fhir.reader import FhirReader
from adapter.http.fhir.responses import bundle, entry, fhir_json
from adapter.http.fhir.routes import blueprint
from mappings.fhir import detention, entitlement, funding
from mappings.fhir.common import local_id


def _organisations(resources: list[dict[str, Any]]) -> list[str]:
    """Every Organization/<code> referred to anywhere in these resources, in first-seen order."""
    found: dict[str, None] = {}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            ref = value.get("reference")
            if isinstance(ref, str) and ref.startswith("Organization/"):
                found.setdefault(ref.removeprefix("Organization/"), None)
            for child in value.values():
                walk(child)
        elif isinstance(value, list):
            for child in value:
                walk(child)

    walk(resources)
    return list(found)


@blueprint.route("/Patient/<resource_id>/$everything", methods=["GET", "POST"])
def everything(resource_id: str) -> Response:
    if request.method == "POST" and request.get_data(cache=True):
        given = incoming.body("Parameters").get("parameter") or []
        if given:
            raise invalid("$everything here takes no parameters", "Parameters.parameter")
    reader: FhirReader = current_app.extensions["s117.fhir"]
    person_id = local_id(resource_id)
    person = reader.views.person(person_id) if person_id is not None else None
    if person is None:
        raise not_found(f"Patient/{resource_id}")
    data = [reader.read("Patient", resource_id)]  # 403 if the caller may not see them
    # Of a person the caller sees, only the entitlements it sees (an old one elsewhere's is
    # not its business), and every stay (what made them entitled), except that a trust sees
    # only the stays it sent.
    ents = [e for e in reader.views.entitlements_of(person.id)
            if reader.sees_entitlement(e)]
    data += [detention.to_json(person, stay, ents, reader.name_of)
             for stay in person.facts.stays if reader.sees_stay(stay)]
    data += [entitlement.to_json(e, reader.name_of) for e in ents]
    data += [c for e in ents for role in ("la", "icb")
             if (c := funding.to_json(e, role, reader.name_of))]
    data += [reader.read("Organization", code)
             for code in _organisations(data) if code in reader.refdata.orgs]
    return fhir_json(bundle("searchset", [entry(d, "match") for d in data], total=len(data)))
