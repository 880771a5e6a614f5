"""The FHIR REST endpoints under /fhir: capabilities, conformance resources, read, vread,
history, search and the register's operations."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, request
from werkzeug.datastructures import MultiDict

from adapter.http import policy
from adapter.http.fhir import incoming, parameters, search
from adapter.http.fhir.errors import FhirError, Issue, invalid, not_found, outcome
from adapter.http.fhir.reader import FhirReader
from adapter.http.fhir.responses import base_url, bundle, entry, fhir_json, resource_response
from fhir_profiles import registry
from mappings.fhir import care_plan, detention, entitlement, funding, patient, responsibility
from mappings.fhir.common import local_id
from register import queries
from register.store.casework_views import PlanFilter, TaskFilter
from register.store.views import EntitlementFilter

blueprint = Blueprint("fhir", __name__, url_prefix="/fhir")
CONFORMANCE_TYPES = registry.CONFORMANCE_TYPES
SERVED_TYPES = ("Patient", "Encounter", "EpisodeOfCare", "Coverage", "Organization",
                "CarePlan", "Task", "Flag", "Provenance", "AuditEvent")
# Derived from the person's record, or records of what happened: no versions of their own.
UNVERSIONED = ("Task", "Flag", "Provenance", "AuditEvent")


def _register() -> Any:
    return current_app.extensions["s117"]


def _reader() -> FhirReader:
    return current_app.extensions["s117.fhir"]


def _strict() -> bool:
    return "handling=strict" in request.headers.get("Prefer", "").replace(" ", "")


def _query() -> MultiDict[str, str]:
    """Search parameters: from the URL, and for `POST <type>/_search` also from the form
    body, which keeps identifiers out of URLs and gateway logs (FHIR http 3.1.0.8)."""
    if request.method == "POST":
        return MultiDict(list(request.args.items(multi=True))
                         + list(request.form.items(multi=True)))
    return request.args


def _known_type(resource_type: str) -> None:
    if resource_type not in SERVED_TYPES + CONFORMANCE_TYPES:
        raise FhirError(404, Issue("error", "not-supported",
                                   f"resource type {resource_type!r} is not served here",
                                   [resource_type]))


@blueprint.get("/metadata")
def metadata() -> Response:
    return fhir_json(registry.capability_statement(base_url()))


@blueprint.get("/<resource_type>/<resource_id>")
def read(resource_type: str, resource_id: str) -> Response:
    _known_type(resource_type)
    if resource_type in CONFORMANCE_TYPES:
        found = registry.get(resource_type, resource_id)
        if found is None:
            raise not_found(f"{resource_type}/{resource_id}")
        if resource_type == "CapabilityStatement":
            found = registry.capability_statement(base_url())
        return fhir_json(found)
    return resource_response(_reader().read(resource_type, resource_id))


@blueprint.get("/<resource_type>/<resource_id>/_history/<version>")
def vread(resource_type: str, resource_id: str, version: str) -> Response:
    _known_type(resource_type)
    return resource_response(_reader().vread(resource_type, resource_id, version))


def _history_entry(data: dict[str, Any]) -> dict[str, Any]:
    where = f"{data['resourceType']}/{data['id']}"
    first = data["meta"]["versionId"] == "1"
    return {"fullUrl": f"{base_url()}/{where}", "resource": data,
            "request": {"method": "POST" if first else "PUT", "url": where},
            "response": {"status": "201 Created" if first else "200 OK",
                         "etag": f'W/"{data["meta"]["versionId"]}"',
                         "lastModified": data["meta"]["lastUpdated"]}}


@blueprint.get("/<resource_type>/<resource_id>/_history")
def history_instance(resource_type: str, resource_id: str) -> Response:
    _known_type(resource_type)
    if resource_type in UNVERSIONED:
        raise FhirError(404, Issue("error", "not-supported", f"{resource_type} has no "
                                   "versions: it is derived from the person's record, which "
                                   "has (Patient/{id}/_history)", [resource_type]))
    entries = [_history_entry(v) for v in _reader().history(resource_type, resource_id)]
    return fhir_json(bundle("history", entries, total=len(entries)))


@blueprint.get("/EpisodeOfCare/_history")
def history_entitlements() -> Response:
    """Every entitlement change, newest first, from `_since`: how a council or ICB catches up
    on what changed while it was not listening."""
    # A history Bundle has no place for an outcome entry, so unknown parameters are refused.
    search.unknown(request.args, {"_since"}, strict=True)
    page = search.paging(request.args)
    raw = request.args.get("_since")
    since = search.instant(raw, "_since") if raw else None
    reader = _reader()
    versions = reader.views.entitlement_history(since=since, limit=page.count,
                                                visible_to=policy.viewer())
    entries = [_history_entry(entitlement.to_json(v, reader.name_of)) for v in versions]
    return fhir_json(bundle("history", entries))


def _page_links(total: int | None, page: search.Paging, more: bool | None = None
                ) -> list[dict[str, str]]:
    """Absolute self/first/next/previous links that repeat the query with a new _offset."""
    args = [(k, v) for k, v in _query().items(multi=True) if k != "_offset"]
    here = f"{base_url()}/{request.path.removeprefix('/fhir/').removesuffix('/_search')}"

    def link(relation: str, offset: int) -> dict[str, str]:
        return {"relation": relation, "url": f"{here}?{urlencode(args + [('_offset', offset)])}"}

    links = [link("self", page.offset), link("first", 0)]
    if more if more is not None else total is not None and page.offset + page.count < total:
        links.append(link("next", page.offset + page.count))
    if page.offset > 0:
        links.append(link("previous", max(0, page.offset - page.count)))
    return links


def casework_tasks(reader: FhirReader, where: TaskFilter, offset: int = 0,
                   count: int | None = None) -> list[dict[str, Any]]:
    """Tasks found through the index, rendered from each person's casework."""
    _, found = reader.casework.search_tasks(where, offset=offset, count=count)
    return derived_page(reader, found, reader.task_json)


def derived_page(reader: FhirReader, found: list[tuple[int, str]], render: Any
                 ) -> list[dict[str, Any]]:
    works: dict[int, Any] = {}
    out = []
    for person_id, key in found:
        if person_id not in works:
            works[person_id] = reader.person_casework(person_id)
        resource = render(works[person_id], key) if works[person_id] else None
        if resource is not None:
            out.append(resource)
    return out


def _searchset(total: int | None, page: search.Paging, matches: list[Any],
               included: list[Any], issues: list[Issue], more: bool | None = None) -> Response:
    entries = [entry(m, "match") for m in matches] + [entry(i, "include") for i in included]
    if issues:
        entries.append(entry({**outcome(*issues), "id": "search-issues"}, "outcome"))
    return fhir_json(bundle("searchset", entries, total=total,
                            links=_page_links(total, page, more)))


@blueprint.route("/EpisodeOfCare", methods=["GET"])
@blueprint.route("/EpisodeOfCare/_search", methods=["POST"])
def search_episodes() -> Response:
    parsed = search.episode_of_care(_query(), _strict())
    reader = _reader()
    paging = parsed.paging
    where = replace(parsed.where, visible_to=policy.viewer())
    more: bool | None = None
    total: int | None
    if paging.counts:
        total, found = reader.views.search_entitlements(
            where, offset=paging.offset, count=0 if paging.summary_count else paging.count)
    else:
        # Bundle.total only when it is known without counting: this page reaches the end.
        found, more = reader.views.page_entitlements(where, offset=paging.offset,
                                                     count=paging.count)
        total = None if more or (paging.offset and not found) else paging.offset + len(found)
    matches = [entitlement.to_json(e, reader.name_of) for e in found]
    included: list[Any] = []
    person_ids = list(dict.fromkeys(e.person_id for e in found))
    if "EpisodeOfCare:patient" in parsed.includes:
        included += [reader.read("Patient", str(pid)) for pid in person_ids]
    if "Coverage:beneficiary" in parsed.includes:
        included += [reader.read("Coverage", cid) for e in found
                     for cid in funding.coverage_ids(e)]
    entitlement_ids = tuple(e.entitlement.id for e in found)
    if "CarePlan:entitlement" in parsed.includes and entitlement_ids:
        _, plans = reader.casework.search_plans(PlanFilter(entitlement_ids=entitlement_ids,
                                                           visible_to=policy.viewer()),
                                                count=None)
        included += [care_plan.to_json(p, reader.name_of) for p in plans]
    if "Task:focus" in parsed.includes and entitlement_ids:
        # A panel Task's focus is the plan, not the entitlement: it is not a Task:focus match.
        included += [t for t in casework_tasks(reader, TaskFilter(
            entitlement_ids=entitlement_ids, visible_to=policy.viewer()))
            if t["focus"]["reference"].startswith(
                "EpisodeOfCare/")]
    return _searchset(total, paging, matches, included, parsed.issues, more)


@blueprint.route("/Patient", methods=["GET"])
@blueprint.route("/Patient/_search", methods=["POST"])
def search_patients() -> Response:
    issues = search.unknown(_query(), {"_id", "identifier"}, _strict())
    page = search.paging(_query())
    reader = _reader()
    given = search.values(_query(), "_id")
    numbers = search.nhs_numbers(_query(), "identifier")
    if not given and not numbers:
        raise invalid("search Patient by identifier (NHS number) or _id: listing every "
                      "person is not offered", "identifier")
    ids = [i for i in map(local_id, given) if i is not None]
    if numbers:
        found = reader.views.person_ids_by_nhs_number(numbers)
        ids = [i for i in found if not given or i in ids]
    # Only the people the caller may see: the others are absent, and not counted.
    people = [p for p in (reader.views.person(i) for i in ids) if p and reader.sees_person(p)]
    matches = [patient.to_json(p, reader.name_of) for p in people]
    window = matches[page.offset:page.offset + (0 if page.summary_count else page.count)]
    return _searchset(len(matches), page, window, [], issues)


@blueprint.route("/<resource_type>", methods=["GET"])
@blueprint.route("/<resource_type>/_search", methods=["POST"])
def search_other(resource_type: str) -> Response:
    _known_type(resource_type)
    page = search.paging(_query())
    if resource_type in CONFORMANCE_TYPES:
        issues = search.unknown(_query(), {"url"}, _strict())
        wanted = _query().get("url")
        found = [r for r in registry.search(resource_type) if not wanted or r["url"] == wanted]
        window = found[page.offset:page.offset + (0 if page.summary_count else page.count)]
        return _searchset(len(found), page, window, [], issues)
    reader = _reader()
    if resource_type == "Organization":
        issues = search.unknown(_query(), {"_id", "identifier"}, _strict())
        codes = set(search.values(_query(), "_id")) | {
            v.rpartition("|")[2] for v in search.values(_query(), "identifier")}
        orgs = [reader.read("Organization", c) for c in sorted(codes)
                if c in reader.refdata.orgs] if codes else \
            [reader.read("Organization", c) for c in sorted(reader.refdata.orgs)]
        window = orgs[page.offset:page.offset + (0 if page.summary_count else page.count)]
        return _searchset(len(orgs), page, window, [], issues)
    # Encounter and Coverage are searched through the person they belong to.
    param = {"Encounter": "patient", "Coverage": "beneficiary"}[resource_type]
    issues = search.unknown(_query(), {param}, _strict())
    refs = search.values(_query(), param)
    if not refs:
        raise invalid(f"search {resource_type} by {param}=Patient/<id>", param)
    matches: list[Any] = []
    for ref in refs:
        person_id = ref.removeprefix("Patient/")
        number = local_id(person_id)
        person = reader.views.person(number) if number is not None else None
        if person is None:
            continue
        if resource_type == "Encounter":
            ents = reader.views.entitlements_of(person.id)
            if reader.sees_person(person, ents):
                matches += [detention.to_json(person, s, ents, reader.name_of)
                            for s in person.facts.stays if reader.sees_stay(s)]
        else:
            _, ents = reader.views.search_entitlements(EntitlementFilter(
                person_ids=(person.id,), visible_to=policy.viewer()), count=None)
            matches += [c for e in ents for role in ("la", "icb")
                        if (c := funding.to_json(e, role, reader.name_of))]
    window = matches[page.offset:page.offset + (0 if page.summary_count else page.count)]
    return _searchset(len(matches), page, window, [], issues)


@blueprint.route("/Patient/$s117-responsibility", methods=["GET", "POST"])
def s117_responsibility() -> Response:
    args = request.args if request.method == "GET" else \
        parameters.as_query(incoming.body("Parameters"))
    unknown = set(args) - {"identifier", "date"}
    if unknown:
        raise invalid(f"$s117-responsibility takes identifier and date, not "
                      f"{', '.join(sorted(unknown))}", *sorted(unknown))
    numbers = search.nhs_numbers(args, "identifier")
    if len(numbers) != 1:
        raise invalid("identifier=https://fhir.nhs.uk/Id/nhs-number|<NHS number> is required "
                      "once", "identifier")
    raw = args.get("date")
    try:
        as_of = date.fromisoformat(raw) if raw else date.today()
    except ValueError:
        raise invalid(f"date {raw!r} is not YYYY-MM-DD", "date") from None
    register = _register()
    reader = _reader()
    found = reader.views.person_ids_by_nhs_number((numbers[0],))
    person = reader.views.person(found[0]) if found else None
    # Whether someone is on the register at all is itself sensitive (they were detained):
    # a person the caller may not see is answered exactly as one who is not there.
    if person is None or not reader.sees_person(person):
        raise not_found("a person with this NHS number")
    answer = queries.responsibility(register.uow(), register.refdata,
                                    register.settings.policy, numbers[0], as_of)
    if not answer.known:
        raise not_found("a person with this NHS number")
    return fhir_json(responsibility.to_json(answer))
