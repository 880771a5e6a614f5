"""FHIR writes: Patient create (plain and conditional) and update with If-Match, and the
entitlement operations $end-entitlement and $reinstate. Each request is first planned (checked
and turned into a command) and then applied, so a transaction Bundle can plan every entry and
apply them together. Every write becomes a register
command, so the same rules judge it as judge an HL7 message; a refusal changes nothing.

Entitlements themselves are not created or updated directly: the rules derive them from
detentions, and a client that tries gets a 405 that says which operation to use instead."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl
from uuid import uuid4

from flask import Response, current_app, request
from werkzeug.datastructures import MultiDict

from adapter.http import policy
from adapter.http.fhir import incoming, parameters
from adapter.http.fhir.errors import FhirError, Issue, invalid, not_found, rule_refusal
from adapter.http.fhir.reader import FhirReader
from adapter.http.fhir.responses import base_url, resource_response
from adapter.http.fhir.routes import blueprint
from adapter.http.fhir.search import nhs_numbers
from fhir_profiles import canonical as url
from mappings.fhir import patient
from mappings.fhir.common import LONDON, local_id
from register import commands as c
from register.access import OrgType
from register.errors import CommandRefused, ConcurrencyConflict
from register.model import EndReason, EntitlementStatus
from register.nhs_number import problem
from register.ports import StoredEntitlement, StoredPerson

_ETAG = re.compile(r'^(?:W/)?"(\d+)"$')


def _reader() -> FhirReader:
    return current_app.extensions["s117.fhir"]


def new_command_id() -> str:
    # HTTP writes are not replayed by a sender the way HL7 messages are, so each request is
    # its own command; conditional create is how a client avoids creating twice.
    return f"fhir:{uuid4()}"


def if_match(raw: str | None) -> int | None:
    if raw is None:
        return None
    found = _ETAG.match(raw.strip())
    if not found:
        raise invalid(f'If-Match must be a version ETag such as W/"3", not {raw!r}')
    return int(found.group(1))


@dataclass(frozen=True)
class Write:
    """A write checked and turned into a register command, not yet applied."""

    resource_type: str
    command: c.Command | None  # None: nothing to apply (a conditional create that matched)
    resource_id: str | None  # None for a create: found once applied
    nhs_number: str
    created: bool = False
    # How to find the resource once applied, when its id is not known before (a Task).
    locate: Callable[[], str] | None = None
    # The element a register field (e.g. `lines[1].funders`) came from in this resource.
    expression: Callable[[str | None], str] | None = None
    authorised: bool = False  # checked against the caller, who is now its agent


def _update_person(view: patient.PatientView, if_version: int | None) -> c.UpdatePerson:
    # A new address or GP takes effect from Address.period.start when the client sends it,
    # else the day the client tells us (commands carry UK time); the basis says which.
    return c.UpdatePerson(command_id=new_command_id(), nhs_number=view.nhs_number,
                          occurred_at=datetime.now(LONDON).replace(tzinfo=None),
                          date_of_birth=view.date_of_birth, address=view.address,
                          gp_practice=view.gp_practice, name=view.name,
                          if_version=if_version, effective=view.address_from,
                          dated_by="Patient.address.period.start" if view.address_from
                          else "")


def _patient_view(data: dict[str, Any]) -> patient.PatientView:
    incoming.checked(data, url.PATIENT)
    numbers = [i.get("value") for i in data.get("identifier", [])
               if i.get("system") == url.NHS_NUMBER]
    if len(numbers) != 1:
        raise FhirError(422, Issue("error", "required", "a Patient needs exactly one valid NHS "
                                   "number (system https://fhir.nhs.uk/Id/nhs-number)",
                                   ["Patient.identifier"]))
    if reason := problem(str(numbers[0])):
        raise FhirError(422, Issue("error", "value", reason, ["Patient.identifier"]))
    if data.get("deceasedDateTime") or data.get("deceasedBoolean"):
        raise FhirError(422, Issue("error", "business-rule", "a death is recorded from the "
                                   "trust's message ($process-message `death` or HL7 A03), "
                                   "not by editing the Patient", ["Patient.deceased"]))
    return patient.from_fhir(patient.Patient.model_validate(data))


def _existing(condition: str) -> list[int]:
    args = MultiDict(parse_qsl(condition.removeprefix("?"), keep_blank_values=True))
    unknown = set(args) - {"identifier"}
    if unknown:
        raise invalid(f"If-None-Exist supports identifier only, not {', '.join(sorted(unknown))}",
                      "If-None-Exist")
    numbers = nhs_numbers(args, "identifier")
    if not numbers:
        raise invalid("If-None-Exist needs identifier=https://fhir.nhs.uk/Id/nhs-number|<n>",
                      "If-None-Exist")
    return _reader().views.person_ids_by_nhs_number(numbers)


def _may_see_person(person_id: int) -> bool:
    reader = _reader()
    person = reader.views.person(person_id)
    return person is not None and reader.sees_person(person)


def plan_create_patient(data: dict[str, Any], if_none_exist: str | None) -> Write:
    view = _patient_view(data)
    matches = _existing(if_none_exist) if if_none_exist else \
        _reader().views.person_ids_by_nhs_number((view.nhs_number,))
    if len(matches) > 1:
        raise FhirError(412, Issue("error", "multiple-matches",
                                   "If-None-Exist matches more than one Patient"))
    if matches and not _may_see_person(matches[0]):
        # Existence is not disclosed (issue 20): the same refusal, naming no record, whether
        # or not the number is on the register under someone the caller does not see.
        raise policy.forbidden(f"{policy.viewer().org} may not register this person here: "
                               "a trust's patients reach the register with their admission "
                               "($process-message or HL7 v2 A01)")
    if matches and if_none_exist:
        return Write("Patient", None, str(matches[0]), view.nhs_number)
    if matches:
        raise FhirError(409, Issue("error", "duplicate", "a Patient with this NHS number is "
                                   f"already registered as Patient/{matches[0]}: update it, "
                                   "or create with If-None-Exist", ["Patient.identifier"]))
    return Write("Patient", _update_person(view, None), None, view.nhs_number, created=True)


def plan_update_patient(resource_id: str, data: dict[str, Any], etag: str | None) -> Write:
    if data.get("id") != resource_id:
        raise invalid(f"the body's id {data.get('id')!r} must equal the URL's {resource_id!r}",
                      "Patient.id")
    person_id = local_id(resource_id)
    stored = _reader().views.person(person_id) if person_id is not None else None
    if stored is None:
        # Ids are the register's own; a client cannot choose one (update-as-create is off).
        raise not_found(f"Patient/{resource_id}")
    view = _patient_view(data)
    if view.nhs_number != stored.facts.nhs_number:
        raise FhirError(422, Issue("error", "business-rule", "the NHS number of a Patient does "
                                   "not change by update: the trust's merge (HL7 A40 or "
                                   "$process-message `merge`) moves a record to a new number",
                                   ["Patient.identifier"]))
    return Write("Patient", _update_person(view, if_match(etag)), resource_id,
                 view.nhs_number)


def plan_operation(resource_id: str, operation: str, data: dict[str, Any],
                   etag: str | None) -> Write:
    """`EpisodeOfCare/{id}/$end-entitlement` or `$reinstate` as a command."""
    stored = _reader().views.entitlement(resource_id)
    if stored is None:
        raise not_found(f"EpisodeOfCare/{resource_id}")
    person = _reader().views.person(stored.person_id)
    assert person is not None  # an entitlement row always has its person
    nhs, version = person.facts.nhs_number, if_match(etag)
    if data.get("resourceType") != "Parameters":
        raise invalid(f"${operation} takes a Parameters resource", "resourceType")
    command: c.Command
    if operation == "end-entitlement":
        given = parameters.load(parameters.EndEntitlementParams(), data)
        command = c.EndEntitlement(
            command_id=new_command_id(), nhs_number=nhs, entitlement_id=resource_id,
            decision_date=given["decision_date"], la_agreed=given["la_agreed"],
            icb_agreed=given["icb_agreed"], person_involved=given["person_involved"],
            reasons=tuple(EndReason(r) for r in given["reason"]), note=given["note"],
            moved_to_suitable_accommodation=given["moved_to_suitable_accommodation"],
            la_agreed_by=given["la_agreed_by"], la_agreed_on=given["la_agreed_on"],
            icb_agreed_by=given["icb_agreed_by"], icb_agreed_on=given["icb_agreed_on"],
            carer_involved=given["carer_involved"], end_date=given["end_date"],
            notice=parameters.written_notice(given), if_version=version)
    elif operation == "record-charge":
        given = parameters.load(parameters.RecordChargeParams(), data)
        command = c.RecordCharge(command_id=new_command_id(), nhs_number=nhs,
                                 entitlement_id=resource_id, if_version=version, **given)
    elif operation == "reinstate":
        given = parameters.load(parameters.ReinstateParams(), data)
        command = c.ReinstateEntitlement(command_id=new_command_id(), nhs_number=nhs,
                                         entitlement_id=resource_id, on=given["date"],
                                         reason=given["reason"], if_version=version)
    else:
        raise FhirError(404, Issue("error", "not-supported",
                                   f"EpisodeOfCare has no operation ${operation}"))
    return Write("EpisodeOfCare", command, resource_id, nhs)


# What each casework command is called in a refusal, and who records it: either responsible
# body (joint), the responsible council alone (council), or a council party (dispute, L5).
_CASEWORK: dict[type[c.Command], tuple[str, str]] = {
    c.EndEntitlement: ("the joint end decision", "joint"),
    c.ProposeEnd: ("a proposal to end aftercare", "joint"),
    c.RespondToEndProposal: ("an answer to a proposal to end aftercare", "joint"),
    c.WithdrawEndProposal: ("the withdrawal of a proposal to end aftercare", "joint"),
    c.ReinstateEntitlement: ("a reinstatement", "joint"),
    c.RecordCharge: ("a charge for s117 services", "joint"),
    c.RecordCarePlan: ("an aftercare plan", "joint"),
    c.RecordReview: ("a review", "joint"),
    c.RecordPanelDecision: ("a panel decision", "joint"),
    c.RecordOrdinaryResidence: ("an ordinary-residence decision", "council"),
    c.OpenDispute: ("a dispute", "dispute"),
    c.UpdateDispute: ("a dispute", "dispute"),
}


def _target(command: c.Command, person: StoredPerson) -> StoredEntitlement | None:
    """The entitlement a casework command is about: the one it names, through its plan or
    dispute, or (as the service does) the person's latest that was not cancelled."""
    views = _reader().views
    named = getattr(command, "entitlement_id", None)
    if isinstance(command, c.RecordPanelDecision):
        plan = _reader().casework.plan(command.plan_id)
        named = plan.state.plan.entitlement_id if plan else None
    elif isinstance(command, c.UpdateDispute):
        dispute = person.facts.dispute(command.dispute_id)
        named = dispute.entitlement_id if dispute else None
    elif isinstance(command, c.RespondToEndProposal | c.WithdrawEndProposal):
        proposal = person.facts.end_proposal(command.proposal_id)
        named = proposal.entitlement_id if proposal else None
    ents = views.entitlements_of(person.id)
    if named:
        return next((e for e in ents if e.entitlement.id == named), None)
    live = [e for e in ents if e.entitlement.status is not EntitlementStatus.CANCELLED]
    return live[-1] if live else None


def _a_party(command: c.Command) -> None:
    """L5: a council disputes for itself, so it names itself among the parties (an admin
    records a dispute between any councils)."""
    who = policy.viewer()
    if isinstance(command, c.OpenDispute) and who.kind is OrgType.LA and \
            who.org not in command.parties:
        raise rule_refusal(f"{who.org} opens a dispute it is a party to: name it among the "
                           "parties", "L5", "Task.input")


def authorised(write: Write) -> Write:
    """The write as the caller may make it, with the caller as its agent (Provenance), or a
    403: Patient changes need the person to be visible to the caller; casework needs the
    caller to be a responsible body of the entitlement it is about."""
    command = write.command
    if command is None or write.authorised:
        return write
    reader = _reader()
    found = reader.views.person_ids_by_nhs_number((write.nhs_number,))
    person = reader.views.person(found[0]) if found else None
    rule = _CASEWORK.get(type(command))
    if rule is not None:
        what, who = rule
        target = _target(command, person) if person else None
        if target is None:
            if person is not None and not reader.sees_person(person):
                raise policy.forbidden(f"{policy.viewer().org} may not record {what} for "
                                       "this person")
        else:
            policy.may_write_casework(reader.bodies(target, person), what,
                                      council_only=who == "council", dispute=who == "dispute")
        _a_party(command)
    elif person is not None and not reader.sees_person(person):
        raise policy.forbidden(f"{policy.viewer().org} may not change this person's record: "
                               "it is not one it may see")
    caller = policy.caller()
    agent = c.Agent(caller.org, caller.viewer.kind.value, caller.subject) if caller else None
    return replace(write, command=replace(command, agent=agent), authorised=True)


def _lost_race(writes: list[Write], conflict: ConcurrencyConflict) -> Exception:
    """Another writer committed first. A client that sent If-Match has lost a precondition
    (412, as if its version had been stale when it arrived); one that did not may retry (409)."""
    if any(w.command and w.command.if_version is not None for w in writes):
        return FhirError(412, Issue("error", "conflict", "the resource was changed by another "
                                    "request while this one was applied: read it again and "
                                    "reapply the change"))
    return conflict


def apply(writes: list[Write]) -> list[tuple[Write, dict[str, Any]]]:
    """Apply the planned writes in one transaction (all or none) and read back each result.
    A refusal names the element of the resource the refused field came from."""
    writes = [authorised(w) for w in writes]
    commanding = [w for w in writes if w.command]
    if commanding:
        try:
            outcomes = current_app.extensions["s117"].service.handle_all(
                [w.command for w in commanding])
        except CommandRefused as exc:
            if isinstance(exc.cause, ConcurrencyConflict):
                raise _lost_race(commanding, exc.cause) from None
            translate = commanding[exc.index].expression
            if translate is not None:
                exc.field = exc.cause.field = translate(exc.cause.field)
            raise
        except ConcurrencyConflict as exc:
            raise _lost_race(commanding, exc) from None
        forwarded = [o for o in outcomes if o.status == "forwarded"]
        if forwarded:
            # A replica's owner applies the change (docs/federation.md): accepted, not done;
            # the owner's answer is kept under the command id (s117 federation commands).
            raise FhirError(202, *(Issue("information", "informational",
                                         f"command {o.command_id}: {o.reason}")
                                   for o in forwarded))
    out = []
    for write in writes:
        if write.resource_id:
            resource_id = write.resource_id
        elif write.locate:
            resource_id = write.locate()
        else:
            resource_id = str(_reader().views.person_ids_by_nhs_number((write.nhs_number,))[0])
        if write.created and write.resource_type == "Patient":
            # A trust that registers a person before any stay gets the record back; it
            # sees it from its first stay on (register.access).
            with policy.unrestricted():
                out.append((write, _reader().read(write.resource_type, resource_id)))
        else:
            out.append((write, _reader().read(write.resource_type, resource_id)))
    return out


def location(resource: dict[str, Any]) -> str:
    where = f"{resource['resourceType']}/{resource['id']}"
    version = resource.get("meta", {}).get("versionId")
    return f"{where}/_history/{version}" if version else where


def respond(write: Write) -> Response:
    [(done, resource)] = apply([write])
    response = resource_response(resource, 201 if done.created else 200)
    response.headers["Location"] = f"{base_url()}/{location(resource)}"
    return response


@blueprint.post("/Patient")
def create_patient() -> Response:
    return respond(plan_create_patient(incoming.body("Patient"),
                                        request.headers.get("If-None-Exist")))


@blueprint.put("/Patient/<resource_id>")
def update_patient(resource_id: str) -> Response:
    return respond(plan_update_patient(resource_id, incoming.body("Patient"),
                                        request.headers.get("If-Match")))


@blueprint.route("/EpisodeOfCare", methods=["POST"])
@blueprint.route("/EpisodeOfCare/<resource_id>", methods=["PUT", "PATCH", "DELETE"])
def entitlement_is_derived(resource_id: str | None = None) -> Response:
    raise FhirError(405, Issue(
        "error", "not-supported", "entitlements are decided by the rules from the detention "
        "record, not written directly: send the detention (HL7 v2 or $process-message), or use "
        "EpisodeOfCare/{id}/$end-entitlement and $reinstate"))


@blueprint.post("/EpisodeOfCare/<resource_id>/$<operation>")
def entitlement_operation(resource_id: str, operation: str) -> Response:
    return respond(plan_operation(resource_id, operation, incoming.body("Parameters"),
                                   request.headers.get("If-Match")))
