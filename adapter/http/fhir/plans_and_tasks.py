"""Council and joint casework in FHIR: CarePlan (S117AftercarePlan), Task (S117Task) and
Flag (S117Flag): searches, and the writes that become register commands.

- `CarePlan`: create and update (If-Match) a whole plan; read, vread, history, search.
- `Task`: record a review, an ordinary-residence decision, a dispute or a panel decision,
  or propose ending aftercare (POST); refer or resolve a dispute, answer or withdraw a
  proposal to end aftercare (PUT, If-Match: the person's record's version, which is the
  Task's); search, e.g. the panel agenda `Task?code=panel-decision&status=requested&owner=
  <GSS>` (oldest request first) or what waits for an ICB `Task?code=end-proposal&status=
  requested&owner=<ODS>`. The joint end decision is the agreed proposal, or made at once by
  `EpisodeOfCare/{id}/$end-entitlement`; both are shown as Tasks.
  A Task write about a person the caller does not see is 404, as if there were none.
- `Flag`: set by the register; read and search only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import Any
from uuid import uuid4

from flask import Response, request
from werkzeug.datastructures import MultiDict

from adapter.http import policy
from adapter.http.fhir import incoming, search
from adapter.http.fhir.errors import (
    FhirError,
    Issue,
    invalid,
    not_found,
    register_error,
    rule_refusal,
)
from adapter.http.fhir.reader import FhirReader, today
from adapter.http.fhir.routes import (
    _query,
    _reader,
    _searchset,
    _strict,
    blueprint,
    derived_page,
)
from adapter.http.fhir.writes import Write, if_match, new_command_id, respond
from fhir_profiles import canonical as url
from mappings.fhir import care_plan, task
from mappings.fhir.common import local_id
from mappings.fhir.task import TaskInput
from register import commands as c
from register.casework import AlertCode, TaskKind, TaskStatus
from register.errors import InvalidData
from register.rules import reviews
from register.store.casework_views import AlertFilter, PlanFilter, TaskFilter

TASK_STATUSES = {s.value for s in TaskStatus}


def _references(args: MultiDict[str, str], name: str, kind: str) -> tuple[str, ...]:
    out = []
    for value in search.values(args, name):
        ident = value.removeprefix(f"{kind}/")
        if not ident or "/" in ident:
            raise invalid(f"{name}={value!r}: expected {kind}/<id>", name)
        out.append(ident)
    return tuple(out)


def _patients(args: MultiDict[str, str]) -> tuple[int, ...]:
    ids = _references(args, "patient", "Patient")
    if any(not (i.isascii() and i.isdigit()) for i in ids):
        raise invalid("patient: expected Patient/<id>", "patient")
    # An id too long to be a register id names nobody: 0 is no person's id, so the search
    # matches nothing (dropping it would widen the search to everyone).
    return tuple(local_id(i) or 0 for i in ids)


def _codes(args: MultiDict[str, str], name: str, system: str,
           allowed: set[str]) -> tuple[str, ...]:
    codes = search._token(args, name, system)
    for code in codes:
        if code not in allowed:
            raise invalid(f"{name} {code!r} is not one of {', '.join(sorted(allowed))}", name)
    return codes


def _window(page: search.Paging) -> tuple[int, int | None]:
    return page.offset, 0 if page.summary_count else page.count


def _includes(args: MultiDict[str, str], supported: set[str],
              issues: list[Issue]) -> set[str]:
    asked = set(args.getlist("_include")) | set(args.getlist("_revinclude"))
    for name in asked - supported:
        issues.append(Issue("warning", "not-supported", f"_include {name!r} is not supported "
                            f"here (supported: {', '.join(sorted(supported))})", ["_include"]))
    return asked & supported


def _patients_of(reader: FhirReader, person_ids: list[int]) -> list[dict[str, Any]]:
    return [reader.read("Patient", str(p)) for p in dict.fromkeys(person_ids)]


# -- search ---------------------------------------------------------------------------------

@blueprint.route("/CarePlan", methods=["GET"])
@blueprint.route("/CarePlan/_search", methods=["POST"])
def search_plans() -> Response:
    args = _query()
    issues = search.unknown(args, {"_id", "patient", "status", "entitlement", "responsible-la",
                                   "responsible-icb", "_include", "_revinclude"}, _strict())
    page = search.paging(args)
    includes = _includes(args, {"CarePlan:entitlement", "CarePlan:patient"}, issues)
    statuses = search.values(args, "status")
    for status in statuses:
        if status not in ("draft", "active", "completed", "revoked"):
            raise invalid(f"status {status!r}: draft, active, completed or revoked", "status")
    where = PlanFilter(ids=search.values(args, "_id"), person_ids=_patients(args),
                       entitlement_ids=_references(args, "entitlement", "EpisodeOfCare"),
                       statuses=statuses,
                       local_authorities=search._token(args, "responsible-la", url.GSS_CODE),
                       icbs=search._token(args, "responsible-icb", url.ODS_CODE),
                       visible_to=policy.viewer())
    reader = _reader()
    offset, count = _window(page)
    total, plans = reader.casework.search_plans(where, offset=offset, count=count)
    matches = [care_plan.to_json(p, reader.name_of) for p in plans]
    included: list[Any] = []
    if "CarePlan:entitlement" in includes:
        included += [reader.read("EpisodeOfCare", e) for e in
                     dict.fromkeys(p.state.plan.entitlement_id for p in plans)]
    if "CarePlan:patient" in includes:
        included += _patients_of(reader, [p.person_id for p in plans])
    return _searchset(total, page, matches, included, issues)


def task_filter(args: MultiDict[str, str], on: date) -> TaskFilter:
    """Task search parameters as an index filter; `business-status=overdue` (or `due`) is
    judged by the due date against `on`."""
    business = _codes(args, "business-status", url.CS_BUSINESS_STATUS,
                      {"due", "overdue", "open", "referred-to-secretary-of-state", "resolved",
                       "pending", "deferred", "approved", "approved-with-changes",
                       "declined", "proposed", "agreed", "withdrawn"})
    timed = {"due", "overdue"} & set(business)
    if timed == {"due", "overdue"}:
        timed = set()  # both: every due review
    focus = search.values(args, "focus")
    return TaskFilter(
        person_ids=_patients(args),
        codes=_codes(args, "code", url.CS_TASK_TYPE, {k.value for k in TaskKind}),
        statuses=_codes(args, "status", "", TASK_STATUSES),
        owners=tuple(v.removeprefix("Organization/") for v in search.values(args, "owner")),
        icbs=search._token(args, "responsible-icb", url.ODS_CODE),
        entitlement_ids=tuple(f.removeprefix("EpisodeOfCare/") for f in focus
                              if f.startswith("EpisodeOfCare/")),
        plan_ids=tuple(f.removeprefix("CarePlan/") for f in focus
                       if f.startswith("CarePlan/")),
        business_statuses=tuple(b for b in business if b not in ("due", "overdue")),
        due_before=reviews.overdue_before(on) if timed == {"overdue"} else None,
        due_from=on if timed == {"due"} else None)


@blueprint.route("/Task", methods=["GET"])
@blueprint.route("/Task/_search", methods=["POST"])
def search_tasks() -> Response:
    args = _query()
    issues = search.unknown(args, {"_id", "patient", "code", "status", "business-status",
                                   "owner", "focus", "responsible-la", "responsible-icb",
                                   "_include"}, _strict())
    page = search.paging(args)
    includes = _includes(args, {"Task:focus", "Task:patient"}, issues)
    if any(not f.startswith(("EpisodeOfCare/", "CarePlan/"))
           for f in search.values(args, "focus")):
        raise invalid("focus: EpisodeOfCare/<id> or CarePlan/<id>", "focus")
    reader = _reader()
    where = replace(task_filter(args, today()), visible_to=policy.viewer())
    if args.get("responsible-la"):
        # The responsible council owns every task but a dispute (its interim lead).
        where = replace(where, owners=where.owners + search._token(args, "responsible-la",
                                                                   url.GSS_CODE))
    offset, count = _window(page)
    total, found, matches = _derived_search(
        reader, args, reader.task_json,
        lambda: reader.casework.search_tasks(where, offset=offset, count=count))
    included: list[Any] = []
    if "Task:focus" in includes:
        targets = dict.fromkeys(t["focus"]["reference"] for t in matches)
        included += [reader.read(*ref.split("/", 1)) for ref in targets]
    if "Task:patient" in includes:
        included += _patients_of(reader, [p for p, _ in found])
    return _searchset(total, page, matches, included, issues)


def _derived_search(reader: FhirReader, args: MultiDict[str, str], render: Any,
                    page_of: Callable[[], tuple[int, list[tuple[int, str]]]]
                    ) -> tuple[int, list[tuple[int, str]], list[dict[str, Any]]]:
    """(total, (person id, key) pairs, resources) of a Task or Flag search: by `_id` the
    caller's unseen ones are simply absent; otherwise one page of the index."""
    ids = search.values(args, "_id")
    if ids:
        matches = [r for i in ids if (r := reader.find_derived(i, render))]
        found = [(p, k) for p, k in (task.split_id(r["id"]) or (0, "") for r in matches) if k]
        return len(matches), found, matches
    total, found = page_of()
    return total, found, derived_page(reader, found, render)


@blueprint.route("/Flag", methods=["GET"])
@blueprint.route("/Flag/_search", methods=["POST"])
def search_flags() -> Response:
    args = _query()
    issues = search.unknown(args, {"_id", "patient", "code", "status", "responsible-la",
                                   "responsible-icb", "_include"}, _strict())
    page = search.paging(args)
    includes = _includes(args, {"Flag:patient"}, issues)
    status = search.values(args, "status")
    if any(s not in ("active", "inactive") for s in status) or len(status) > 1:
        raise invalid("status: active or inactive", "status")
    on = today()
    where = AlertFilter(
        person_ids=_patients(args),
        codes=_codes(args, "code", url.CS_FLAG, {a.value for a in AlertCode}),
        owners=search._token(args, "responsible-la", url.GSS_CODE),
        icbs=search._token(args, "responsible-icb", url.ODS_CODE),
        # a flag that has not begun (a review not yet overdue) is not shown at all
        active_on=on if status == ("active",) else None,
        inactive_on=on if status == ("inactive",) else None, begun_by=on,
        visible_to=policy.viewer())
    reader = _reader()
    offset, count = _window(page)
    total, found, matches = _derived_search(
        reader, args, reader.flag_json,
        lambda: reader.casework.search_alerts(where, offset=offset, count=count))
    included = _patients_of(reader, [p for p, _ in found]) if "Flag:patient" in includes \
        else []
    return _searchset(total, page, matches, included, issues)


# -- CarePlan writes -------------------------------------------------------------------------

def _person(reader: FhirReader, person_id: int) -> str:
    stored = reader.views.person(person_id)
    if stored is None:
        raise invalid(f"Patient/{person_id} is not known to this server", "CarePlan.subject")
    return stored.facts.nhs_number


def _plan_input(data: dict[str, Any], existing: Any = None) -> care_plan.PlanInput:
    incoming.checked(data, url.AFTERCARE_PLAN)
    try:
        return care_plan.from_json(data, existing)
    except InvalidData as exc:
        raise FhirError(422, Issue("error", "invalid", exc.message,
                                   [exc.field or "CarePlan"])) from None
    except ValueError as exc:  # a code the profile's bindings let through
        raise FhirError(422, Issue("error", "code-invalid", str(exc), ["CarePlan"])) from None


def plan_create_plan(data: dict[str, Any]) -> Write:
    reader = _reader()
    given = _plan_input(data)
    nhs = _person(reader, given.person_id)
    # Ids are the register's own (FHIR create: an id in the body is ignored).
    plan_id = str(uuid4())
    return Write("CarePlan", care_plan.command(new_command_id(), plan_id, given, nhs, None),
                 plan_id, nhs, created=True, expression=care_plan.expression)


def plan_update_plan(resource_id: str, data: dict[str, Any], etag: str | None) -> Write:
    if data.get("id") != resource_id:
        raise invalid(f"the body's id {data.get('id')!r} must equal the URL's {resource_id!r}",
                      "CarePlan.id")
    reader = _reader()
    stored = reader.casework.plan(resource_id)
    if stored is None:
        raise not_found(f"CarePlan/{resource_id}")  # ids are the register's: no create here
    given = _plan_input(data, stored.state.plan)
    if given.person_id != stored.person_id:
        raise FhirError(422, Issue("error", "business-rule", "a plan does not move to another "
                                   "person", ["CarePlan.subject"]))
    nhs = _person(reader, given.person_id)
    return Write("CarePlan", care_plan.command(new_command_id(), resource_id, given, nhs,
                                               if_match(etag)),
                 resource_id, nhs, expression=care_plan.expression)


@blueprint.post("/CarePlan")
def create_plan() -> Response:
    return respond(plan_create_plan(incoming.body("CarePlan")))


@blueprint.put("/CarePlan/<resource_id>")
def update_plan(resource_id: str) -> Response:
    return respond(plan_update_plan(resource_id, incoming.body("CarePlan"),
                                    request.headers.get("If-Match")))


# -- Task writes -----------------------------------------------------------------------------

def _entitlement(reader: FhirReader, given: TaskInput, person_id: int) -> str | None:
    if given.focus_type != "EpisodeOfCare":
        return None
    stored = reader.views.entitlement(given.focus_id or "")
    if stored is None or stored.person_id != person_id:
        raise invalid(f"EpisodeOfCare/{given.focus_id} is not an entitlement of "
                      f"Patient/{person_id}", "Task.focus")
    return stored.entitlement.id


def _last_stay(reader: FhirReader, entitlement_id: str | None) -> str | None:
    stored = reader.views.entitlement(entitlement_id) if entitlement_id else None
    return stored.entitlement.qualifying_stays[-1] if stored else None


def _unseen(reader: FhirReader, person: Any) -> bool:
    """A caller with no connection to the person (not responsible, the person does not live
    in its area) is told nothing of them: a Task write about them is 404, not 403."""
    return person is None or not reader.sees_person(person)


def _agent() -> c.Agent:
    found = policy.caller()
    who = found.viewer if found else policy.viewer()
    return c.Agent(who.org, who.kind.value, found.subject if found else None)


def _by_name(given: TaskInput, agent: c.Agent) -> str:
    # Who acted within the body: the Task's `decided-by` input, else the token's subject.
    return str(given.one("decided-by") or agent.who or agent.org)


def _end_proposal(reader: FhirReader, given: TaskInput, stored: Any) -> Write:
    """D1 through FHIR: the caller's body proposes; the Task is owned by the other
    responsible body, who answers it."""
    entitlement_id = _entitlement(reader, given, given.person_id)
    if entitlement_id is None:
        raise invalid("an end-proposal's focus is the EpisodeOfCare/<id> to end", "Task.focus")
    target = reader.views.entitlement(entitlement_id)
    bodies = reader.bodies(target, stored)  # type: ignore[arg-type]
    agent = _agent()
    other = {"la": bodies.icb, "icb": bodies.local_authority}.get(agent.kind)
    if other is None:
        raise rule_refusal("a proposal to end aftercare is made by a responsible council or "
                           "ICB with its own token; an administrator records the joint "
                           "decision with $end-entitlement", "D1", "Task.requester")
    if given.owner != other:
        raise rule_refusal(f"Task.owner is the other responsible body, which must agree or "
                           f"decline: {other}, not {given.owner or 'none'}", "D1", "Task.owner")
    try:
        command, found = task.end_proposal(new_command_id(), given, stored.facts.nhs_number,
                                           entitlement_id, agent, _by_name(given, agent),
                                           given.started or today())
    except InvalidData as exc:  # keeps its rule id (D1) as a coded detail
        raise register_error(exc) from None
    return Write("Task", command, None, stored.facts.nhs_number, created=True,
                 locate=_finder(given.person_id, found), expression=task.expression)


def _task_input(data: dict[str, Any]) -> TaskInput:
    incoming.checked(data, url.TASK)
    try:
        return task.from_json(data)
    except InvalidData as exc:
        where = exc.field or "Task"
        raise FhirError(422 if "code" in where else 400,
                        Issue("error", "invalid", exc.message, [where])) from None


def _finder(person_id: int, found: task.Finder) -> Callable[[], str]:
    def locate() -> str:
        work = _reader().person_casework(person_id)
        match = next((t for t in work.casework.tasks if found(t)), None) if work else None
        if match is None:  # the command applied but made no task: a bug, not bad input
            raise FhirError(500, Issue("fatal", "exception", "the recorded task was not found"))
        return task.task_id(person_id, match.key)
    return locate


def plan_create_task(data: dict[str, Any]) -> Write:
    given = _task_input(data)
    reader = _reader()
    stored = reader.views.person(given.person_id)
    if stored is None or _unseen(reader, stored):
        # The same answer whether the person is not there or not the caller's to see.
        raise not_found(f"Patient/{given.person_id}")
    if given.kind is TaskKind.END_PROPOSAL:
        return _end_proposal(reader, given, stored)
    if given.kind is TaskKind.END:
        raise FhirError(422, Issue("error", "business-rule", "the joint end decision is made "
                                   "with EpisodeOfCare/{id}/$end-entitlement (rules D1-D5), "
                                   "which records it as a Task", ["Task.code"]))
    entitlement_id = _entitlement(reader, given, given.person_id)
    try:
        command, found = task.command(new_command_id(), given, stored.facts.nhs_number,
                                      entitlement_id, _last_stay(reader, entitlement_id))
    except InvalidData as exc:
        raise invalid(exc.message, exc.field or "Task") from None
    return Write("Task", command, None, stored.facts.nhs_number, created=True,
                 locate=_finder(given.person_id, found), expression=task.expression)


def plan_update_task(resource_id: str, data: dict[str, Any], etag: str | None) -> Write:
    if data.get("id") != resource_id:
        raise invalid(f"the body's id {data.get('id')!r} must equal the URL's {resource_id!r}",
                      "Task.id")
    version = if_match(etag)
    reader = _reader()
    parts = task.split_id(resource_id)
    work = reader.person_casework(parts[0]) if parts else None
    current = work.casework.task(parts[1]) if work and parts else None
    if work is None or current is None or _unseen(reader, work.person):
        raise not_found(f"Task/{resource_id}")
    given = _task_input(data)
    updatable = (TaskKind.OR_DISPUTE, TaskKind.END_PROPOSAL)
    if current.kind not in updatable or given.kind is not current.kind:
        raise FhirError(405, Issue("error", "not-supported", "only a dispute Task (to refer or "
                                   "resolve it) and a proposal to end aftercare (to answer or "
                                   "withdraw it) are updated; a review or decision is recorded "
                                   "again instead (a review on the same day replaces it)"))
    if given.person_id != work.person.id:
        raise invalid("a Task does not move to another person", "Task.for")
    nhs = work.person.facts.nhs_number
    command: c.Command
    try:
        if current.kind is TaskKind.END_PROPOSAL:
            agent = _agent()
            command = task.end_answer(new_command_id(), given, nhs,
                                      current.record.id,  # type: ignore[union-attr]
                                      agent, _by_name(given, agent), given.done or today())
            expression = task.answer_expression
        else:
            command = task.dispute_update(new_command_id(), given, nhs,
                                          current.record.id)  # type: ignore[union-attr]
            expression = task.expression
    except InvalidData as exc:
        raise register_error(exc) from None
    return Write("Task", replace(command, if_version=version), resource_id, nhs,
                 expression=expression)


@blueprint.post("/Task")
def create_task() -> Response:
    return respond(plan_create_task(incoming.body("Task")))


@blueprint.put("/Task/<resource_id>")
def update_task(resource_id: str) -> Response:
    return respond(plan_update_task(resource_id, incoming.body("Task"),
                                    request.headers.get("If-Match")))


@blueprint.route("/Flag", methods=["POST"])
@blueprint.route("/Flag/<resource_id>", methods=["PUT", "PATCH", "DELETE"])
def flags_are_derived(resource_id: str | None = None) -> Response:
    raise FhirError(405, Issue("error", "not-supported", "flags are set by the register from "
                               "the record (entitlement, disputes, reviews, the aftercare "
                               "plan): change what they are about instead"))


@blueprint.route("/CarePlan/<resource_id>", methods=["DELETE", "PATCH"])
@blueprint.route("/Task/<resource_id>", methods=["DELETE", "PATCH"])
def casework_is_not_deleted(resource_id: str) -> Response:
    raise FhirError(405, Issue("error", "not-supported", "casework is history and is not "
                               "deleted or patched: a plan is completed or revoked by update, "
                               "a dispute resolved by update"))
