"""`POST /fhir` with a transaction or batch Bundle (FHIR http 3.1.0.11).

A transaction is all or nothing: every entry is planned first (a refusal names
`Bundle.entry[i]`), then all the commands are applied in one database transaction; reads
(GET entries) run after the writes. A batch answers each entry on its own, with a status or an
OperationOutcome per entry. Entries may be what the REST API accepts: create or update a
Patient, $end-entitlement or $reinstate on an EpisodeOfCare, and reads."""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from flask import Response, current_app, g

from adapter.http import policy
from adapter.http.fhir import incoming, plans_and_tasks, subjects, writes
from adapter.http.fhir.errors import FhirError, Issue, invalid, outcome, register_error
from adapter.http.fhir.reader import FhirReader
from adapter.http.fhir.responses import base_url, bundle, fhir_json
from adapter.http.fhir.routes import blueprint
from register.errors import CommandRefused, RegisterError

MAX_ENTRIES = 1000
_URL = re.compile(r"^(?P<type>[A-Za-z]+)(?:/(?P<id>[A-Za-z0-9\-.]{1,64}))?"
                  r"(?:/\$(?P<op>[a-z0-9\-]+))?$")
Entry = dict[str, Any]


def _target(entry: Entry) -> tuple[str, str, str | None, str | None]:
    request = entry.get("request") or {}
    method = request.get("method")
    found = _URL.match((request.get("url") or "").removeprefix(base_url() + "/"))
    if method not in ("GET", "POST", "PUT") or not found:
        raise invalid(f"request {method} {request.get('url')!r} is not supported in a Bundle: "
                      "GET Type/id, POST Patient, PUT Patient/id, POST or PUT CarePlan and "
                      "Task, POST EpisodeOfCare/id/$end-entitlement or $reinstate", "request")
    return method, found["type"], found["id"], found["op"]


def _check(method: str, kind: str, resource_id: str | None, operation: str | None) -> None:
    """The caller may do what the entry asks, as if it were sent to its REST endpoint
    (adapter.http.policy.ROUTES); an entry of no known kind is refused by `_unchecked`."""
    noun = {"Patient": "patient", "CarePlan": "plan", "Task": "task"}.get(kind)
    if method == "GET":
        policy.check_entry("fhir.read", {"resource_type": kind})
    elif operation and kind == "EpisodeOfCare":
        policy.check_entry("fhir.entitlement_operation", {"operation": operation})
    elif noun and not operation:
        policy.check_entry(f"fhir.{'update' if resource_id else 'create'}_{noun}", {})


def _plan(entry: Entry) -> writes.Write | None:
    """The entry as a planned write checked against the caller, or None for a read."""
    write = _unchecked(entry)
    return writes.authorised(write) if write is not None else None


def _unchecked(entry: Entry) -> writes.Write | None:
    # Whom the entry is about goes on the Bundle's AuditEvent, allowed or refused.
    policy.concerning(subjects.of_entry(current_app.extensions["s117.fhir"], entry))
    method, kind, resource_id, operation = _target(entry)
    _check(method, kind, resource_id, operation)
    request, resource = entry["request"], entry.get("resource") or {}
    if method == "GET" and resource_id and not operation:
        return None
    if method == "POST" and kind == "Patient" and not resource_id:
        return writes.plan_create_patient(_resource(resource, "Patient"),
                                          request.get("ifNoneExist"))
    if method == "PUT" and kind == "Patient" and resource_id and not operation:
        return writes.plan_update_patient(resource_id, _resource(resource, "Patient"),
                                          request.get("ifMatch"))
    if method == "POST" and kind == "EpisodeOfCare" and resource_id and operation:
        return writes.plan_operation(resource_id, operation, _resource(resource, "Parameters"),
                                     request.get("ifMatch"))
    if kind in ("CarePlan", "Task") and not operation and (method == "POST") != bool(
            resource_id):
        writes_of = plans_and_tasks
        create, update = {"CarePlan": (writes_of.plan_create_plan, writes_of.plan_update_plan),
                          "Task": (writes_of.plan_create_task, writes_of.plan_update_task)}[kind]
        body = _resource(resource, kind)
        return update(resource_id, body, request.get("ifMatch")) if resource_id \
            else create(body)
    raise invalid(f"request {method} {request.get('url')} is not supported in a Bundle",
                  "request")


def _resource(resource: dict[str, Any], kind: str) -> dict[str, Any]:
    if resource.get("resourceType") != kind:
        raise invalid(f"expected a {kind} resource, got {resource.get('resourceType')!r}",
                      "resource")
    return resource


def _inside(index: int, expression: str) -> str:
    """`Patient.identifier` of entry 2 -> `Bundle.entry[2].resource.identifier`."""
    head, _, rest = expression.partition(".")
    if head in ("request", "resource"):
        return f"Bundle.entry[{index}].{expression}"
    path = rest if head[:1].isupper() and rest else expression
    return f"Bundle.entry[{index}].resource.{path}"


def _at(index: int, error: FhirError) -> FhirError:
    """The same refusal, its expressions placed inside entry `index`."""
    return FhirError(error.status, *(Issue(
        i.severity, i.code, f"entry {index}: {i.diagnostics}",
        [_inside(index, e) for e in i.expression] or [f"Bundle.entry[{index}]"], i.details)
        for i in error.issues))


def _read(entry: Entry) -> Entry:
    _, kind, resource_id, _ = _target(entry)
    reader: FhirReader = current_app.extensions["s117.fhir"]
    data = reader.read(kind, resource_id or "")
    return {"fullUrl": f"{base_url()}/{kind}/{resource_id}", "resource": data,
            "response": {"status": "200 OK", "etag": f'W/"{data["meta"]["versionId"]}"'
                         if data.get("meta", {}).get("versionId") else None}}


def _written(write: writes.Write, data: Entry) -> Entry:
    version = data["meta"].get("versionId")
    return {"fullUrl": f"{base_url()}/{data['resourceType']}/{data['id']}", "resource": data,
            "response": {"status": "201 Created" if write.created else "200 OK",
                         "location": writes.location(data),
                         "etag": f'W/"{version}"' if version else None,
                         "lastModified": data["meta"]["lastUpdated"]}}


def _clean(entry: Entry) -> Entry:
    entry["response"] = {k: v for k, v in entry["response"].items() if v is not None}
    return entry


def _transaction(entries: list[Entry]) -> list[Entry]:
    planned: list[tuple[int, writes.Write | None]] = []
    for index, entry in enumerate(entries):
        try:
            planned.append((index, _plan(entry)))
        except FhirError as exc:
            raise _at(index, exc) from None
        except RegisterError as exc:
            raise _at(index, register_error(exc)) from None
    to_write = [(i, w) for i, w in planned if w is not None]
    try:
        done = writes.apply([w for _, w in to_write])
    except CommandRefused as exc:
        index = [i for i, w in to_write if w.command][exc.index]
        raise _at(index, register_error(exc.cause)) from None
    out: dict[int, Entry] = {i: _written(w, r) for (i, _), (w, r) in zip(to_write, done,
                                                                       strict=True)}
    for index, write in planned:
        if write is None:
            try:
                out[index] = _read(entries[index])
            except FhirError as exc:
                raise _at(index, exc) from None
    return [_clean(out[i]) for i in range(len(entries))]


def _batch(entries: list[Entry]) -> list[Entry]:
    out = []
    for entry in entries:
        try:
            write = _plan(entry)
            if write is None:
                out.append(_clean(_read(entry)))
                continue
            [(done, resource)] = writes.apply([write])
            out.append(_clean(_written(done, resource)))
        except (FhirError, RegisterError) as exc:
            error = exc if isinstance(exc, FhirError) else register_error(
                exc.cause if isinstance(exc, CommandRefused) else exc)
            status = f"{error.status} {HTTPStatus(error.status).phrase}"
            out.append({"response": {"status": status, "outcome": outcome(*error.issues)}})
    return out


@blueprint.post("")
@blueprint.post("/")
def transaction_or_batch() -> Response:
    data = incoming.body("Bundle")
    kind = data.get("type")
    if kind not in ("transaction", "batch"):
        raise invalid(f"POST to the base takes a transaction or batch Bundle, not {kind!r}",
                      "Bundle.type")
    incoming.checked(data)
    entries = data.get("entry") or []
    if len(entries) > MAX_ENTRIES:
        raise FhirError(413, Issue("error", "too-costly",
                                   f"a Bundle may carry at most {MAX_ENTRIES} entries"))
    answered = _transaction(entries) if kind == "transaction" else _batch(entries)
    refused = sum(not str((e.get("response") or {}).get("status", "2")).startswith("2")
                  for e in answered)
    if refused:  # the Bundle answers 200; its AuditEvent says what was refused within it
        g.s117_refusal = f"{refused} of {len(answered)} entries refused"
    return fhir_json(bundle(f"{kind}-response", answered))
