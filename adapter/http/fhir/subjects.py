"""Whom a request was about, for its AuditEvent (issue 20; IHE BALP's patient participant):
the people behind the resource the URL names, the `patient=`-style search parameters, the NHS
numbers searched for or sent in a body, and each entry of a batch or transaction. Named by
the register's own Patient id, never by NHS number, and found whether the request was
allowed or refused, so `AuditEvent?patient=Patient/<id>` finds every attempt on a person."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import request

from adapter.http.fhir import search
from adapter.http.fhir.reader import FhirReader
from fhir_profiles import canonical as url
from mappings.fhir.common import local_id
from register.nhs_number import canonical

_REFERENCES = ("patient", "beneficiary", "subject", "for")
_NHS_PARAMETERS = ("identifier", "patient.identifier")


def _patient_ids(values: Iterable[Any]) -> set[int]:
    out = set()
    for value in values:
        if isinstance(value, str) and value.startswith("Patient/"):
            found = local_id(value.removeprefix("Patient/"))
            if found is not None:
                out.add(found)
    return out


def _by_nhs_number(reader: FhirReader, numbers: Iterable[Any]) -> set[int]:
    valid = tuple(n for n in (canonical(str(v)) for v in numbers if v) if n)
    return set(reader.views.person_ids_by_nhs_number(valid)) if valid else set()


def of_resource(reader: FhirReader, data: Any) -> set[int]:
    """A body's people: a Patient's NHS number, Parameters' identifier, a reference's
    Patient (CarePlan.subject, Task.for)."""
    if not isinstance(data, dict):
        return set()
    numbers = [i.get("value") for i in data.get("identifier") or []
               if isinstance(i, dict) and i.get("system") == url.NHS_NUMBER] \
        if data.get("resourceType") == "Patient" else []
    refs = [(data.get(name) or {}).get("reference") for name in _REFERENCES
            if isinstance(data.get(name), dict)]
    parameters = data.get("parameter") if data.get("resourceType") == "Parameters" else None
    for p in parameters if isinstance(parameters, list) else []:
        if not isinstance(p, dict):
            continue
        found = p.get("valueIdentifier")
        if isinstance(found, dict) and found.get("system") == url.NHS_NUMBER:
            numbers.append(found.get("value"))
        if isinstance(p.get("valueReference"), dict):
            refs.append(p["valueReference"].get("reference"))
    return _by_nhs_number(reader, numbers) | _patient_ids(refs)


def of_reference(reader: FhirReader, kind: str | None, ident: str | None) -> set[int]:
    found = reader.person_of(kind, ident) if kind and ident else None
    return {found} if found is not None else set()


def of_entry(reader: FhirReader, entry: dict[str, Any]) -> set[int]:
    """A batch or transaction entry's people: its URL's resource and its body."""
    target = str((entry.get("request") or {}).get("url") or "").split("?")[0]
    kind, _, rest = target.partition("/")
    return of_reference(reader, kind, rest.split("/")[0] or None) | of_resource(
        reader, entry.get("resource"))


def of_request(reader: FhirReader) -> set[int]:
    """The current request's people (the entries of a Bundle are added as they are read)."""
    args = request.view_args or {}
    found = of_reference(reader, args.get("resource_type") or _kind_of_path(),
                         args.get("resource_id"))
    if isinstance(args.get("person_id"), int):  # the pages' person page
        found.add(args["person_id"])
    query = request.args
    found |= _patient_ids(v for name in _REFERENCES for v in search.values(query, name))
    found |= _by_nhs_number(reader, (v.rpartition("|")[2] for name in _NHS_PARAMETERS
                                     for v in search.values(query, name)))
    if request.method in ("POST", "PUT") and request.is_json:
        body = request.get_json(silent=True)
        if isinstance(body, dict) and body.get("resourceType") != "Bundle":
            found |= of_resource(reader, body)
    if request.method == "POST" and request.form.get("nhs_number"):  # the pages' search
        found |= _by_nhs_number(reader, [request.form["nhs_number"]])
    return found


def _kind_of_path() -> str | None:
    """`/fhir/EpisodeOfCare/<id>/$end-entitlement`: the type is in the rule, not an arg."""
    parts = request.path.split("/")
    return parts[2] if len(parts) > 3 and parts[1] == "fhir" else None
