"""Searching who did what: `Provenance` (what each write changed, who asked; anyone may
search the writes to records it sees) and `AuditEvent` (every request and message, allowed or
refused; admins only: adapter.http.policy). Reads by id go through the FHIR reader."""

from __future__ import annotations

from datetime import datetime

from flask import Response, current_app
from werkzeug.datastructures import MultiDict

from adapter.http import policy
from adapter.http.fhir import search
from adapter.http.fhir.errors import invalid
from adapter.http.fhir.reader import FhirReader
from adapter.http.fhir.routes import _query, _reader, _searchset, _strict, blueprint
from mappings.fhir import audit_event, provenance
from mappings.fhir.common import local_id
from register.store.audit import AuditFilter
from register.store.provenance import ProvenanceFilter

ACTIONS = ("C", "R", "U", "D", "E")
OUTCOMES = ("0", "4", "8", "12")


def _one(args: MultiDict[str, str], name: str) -> str | None:
    found = search.values(args, name)
    if len(found) > 1:
        raise invalid(f"{name} takes one value here", name)
    return found[0] if found else None


def _dates(args: MultiDict[str, str]) -> tuple[datetime | None, datetime | None]:
    """`date=ge...` and `date=lt...` (one of each at most)."""
    since = before = None
    for value in args.getlist("date"):
        if value[:2] in ("ge", "gt"):
            since = search.instant(value, "date")
        elif value[:2] in ("lt", "le"):
            before = search.instant(value[2:], "date")
        else:
            raise invalid(f"date={value!r}: give a range, date=ge<instant> and/or "
                          "date=lt<instant>", "date")
    return since, before


def _reference(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    kind, _, ident = value.partition("/")
    if not kind or not ident:
        raise invalid(f"{name}={value!r}: expected <Type>/<id>, e.g. EpisodeOfCare/<id>", name)
    return value


def _organisation(value: str | None) -> str | None:
    """`agent=` as an organisation code, a token, or Organization/<code>."""
    if value is None:
        return None
    return value.removeprefix("Organization/").rpartition("|")[2]


@blueprint.route("/Provenance", methods=["GET"])
@blueprint.route("/Provenance/_search", methods=["POST"])
def search_provenance() -> Response:
    args = _query()
    issues = search.unknown(args, {"target", "patient", "agent", "recorded"}, _strict())
    page = search.paging(args)
    patient = _reference(_one(args, "patient"), "patient")
    person = local_id(patient.removeprefix("Patient/")) if patient else None
    if patient and person is None:
        raise invalid(f"patient={patient!r}: expected Patient/<id>", "patient")
    raw = _one(args, "recorded")
    where = ProvenanceFilter(target=_reference(_one(args, "target"), "target"),
                             patient=person, agent_org=_organisation(_one(args, "agent")),
                             since=search.instant(raw, "recorded") if raw else None,
                             visible_to=policy.viewer())
    reader: FhirReader = _reader()
    count = 0 if page.summary_count else page.count
    total, found = reader.provenance.search(where, offset=page.offset, count=count)
    matches = [provenance.to_json(p, reader.name_of) for p in found if p.targets]
    return _searchset(total, page, matches, [], issues)


@blueprint.route("/AuditEvent", methods=["GET"])
@blueprint.route("/AuditEvent/_search", methods=["POST"])
def search_audit() -> Response:
    args = _query()
    issues = search.unknown(args, {"entity", "patient", "agent", "date", "action", "outcome"},
                            _strict())
    page = search.paging(args)
    action, result = _one(args, "action"), _one(args, "outcome")
    if action and action not in ACTIONS:
        raise invalid(f"action is one of {', '.join(ACTIONS)}", "action")
    if result and result not in OUTCOMES:
        raise invalid(f"outcome is one of {', '.join(OUTCOMES)}", "outcome")
    since, before = _dates(args)
    where = AuditFilter(entity=_reference(_one(args, "entity"), "entity"),
                        patient=_reference(_one(args, "patient"), "patient"),
                        agent_org=_organisation(_one(args, "agent")), action=action,
                        outcome=result, since=since, before=before)
    reader: FhirReader = _reader()
    count = 0 if page.summary_count else page.count
    current_app.extensions["s117.audit"].flush()  # this process's own records first
    total, found = reader.audit.search(where, offset=page.offset, count=count)
    return _searchset(total, page, [audit_event.to_json(a, reader.name_of) for a in found],
                      [], issues)
