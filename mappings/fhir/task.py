"""Casework tasks <-> S117Task (UK Core Task).

Ids are `<patient id>-<key>`: the key is the task's own within the person, so a Task is
found from its id without an index. A task carries no version of its own (it is derived
from the person's record): `meta.lastUpdated` is when that record last changed.

The date something was done (a review held, a decision made) is `executionPeriod.end`;
`executionPeriod.start` is when the work began (a funding request, a dispute opened);
a due review's deadline is `restriction.period.end`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

from fhir.resources.R4B.task import Task

from fhir_profiles import canonical as url
from mappings import attendees
from mappings.fhir.care_plan import number
from mappings.fhir.common import NameOf, code_of_reference, instant, org_reference
from register import commands as c
from register.casework import AgendaItem, CaseTask, DueReview, TaskKind, TaskStatus
from register.errors import InvalidData
from register.model import (
    Attendee,
    Dispute,
    DisputeStatus,
    EndDecision,
    EndProposal,
    EndReason,
    NoticeMethod,
    OrdinaryResidenceDecision,
    PanelDecision,
    PanelOutcome,
    Review,
    WrittenNotice,
)

DISPLAY = {TaskKind.REVIEW: "s117 review", TaskKind.OR_DECISION: "Ordinary residence decision",
           TaskKind.OR_DISPUTE: "Ordinary residence dispute",
           TaskKind.PANEL: "Panel decision", TaskKind.END: "Joint end decision",
           TaskKind.END_PROPOSAL: "Proposal to end aftercare"}


def task_id(person_id: int, key: str) -> str:
    return f"{person_id}-{key}"


def split_id(resource_id: str) -> tuple[int, str] | None:
    person, _, key = resource_id.partition("-")
    return (int(person), key) if person.isdigit() and key else None


# -- domain -> FHIR -------------------------------------------------------------------------

def _param(name: str, **value: Any) -> dict[str, Any]:
    return {"type": {"coding": [{"system": url.CS_TASK_PARAMETER, "code": name}]}, **value}


def _coding(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def _review(r: Review, name_of: NameOf) -> tuple[list[Any], list[Any]]:
    inputs = [_param("attendee", valueString=attendees.written(a)) for a in r.attendees]
    inputs.append(_param("person-involved", valueBoolean=r.person_involved))
    if r.carer_involved is not None:
        inputs.append(_param("carer-involved", valueBoolean=r.carer_involved))
    if r.reviewed_by:
        inputs.append(_param("reviewed-by", valueReference=org_reference(r.reviewed_by,
                                                                         name_of)))
    outputs = [_param("needs-arise-from-disorder", valueBoolean=r.needs_arise_from_disorder)]
    if r.outcome:
        outputs.insert(0, _param("outcome", valueString=r.outcome))
    return inputs, outputs


def _or_decision(d: OrdinaryResidenceDecision, name_of: NameOf) -> tuple[list[Any], list[Any]]:
    inputs = [_param("local-authority", valueReference=org_reference(d.la_gss, name_of)),
              _param("decided-by", valueString=d.decided_by)]
    if d.decided_by_org:
        inputs.append(_param("decided-by-organisation",
                             valueReference=org_reference(d.decided_by_org, name_of)))
    if d.evidence:
        inputs.append(_param("evidence", valueString=d.evidence))
    return inputs, []


def _dispute(d: Dispute, name_of: NameOf) -> tuple[list[Any], list[Any]]:
    inputs = [_param("party", valueReference=org_reference(p, name_of)) for p in d.parties]
    inputs.append(_param("interim-lead", valueReference=org_reference(d.interim_lead, name_of)))
    if d.note:
        inputs.append(_param("note", valueString=d.note))
    outputs = []
    if d.referred_on:
        outputs.append(_param("referred", valueDate=d.referred_on.isoformat()))
    if d.resolved_la:
        outputs.append(_param("resolved-local-authority",
                              valueReference=org_reference(d.resolved_la, name_of)))
    return inputs, outputs


def _panel(d: PanelDecision, name_of: NameOf) -> tuple[list[Any], list[Any]]:
    inputs = [_param("service-line", valueString=d.line_id)]
    if d.weekly_cost is not None:
        inputs.append(_param("weekly-cost", valueMoney={"value": number(d.weekly_cost),
                                                        "currency": "GBP"}))
    outputs = [_param("outcome", valueCodeableConcept=_coding(url.CS_PANEL_STATUS,
                                                              d.outcome.value))]
    outputs += [_param("member", valueReference=org_reference(m, name_of)) for m in d.members]
    if d.note:
        outputs.append(_param("note", valueString=d.note))
    return inputs, outputs


def _agenda(item: AgendaItem) -> tuple[list[Any], list[Any]]:
    line = item.state.line
    inputs = [_param("service-line", valueString=line.id),
              _param("service-type", valueCodeableConcept=_coding(
                  url.CS_SERVICE_TYPE, line.service_type.value))]
    if line.weekly_cost is not None:
        inputs.append(_param("weekly-cost", valueMoney={"value": number(line.weekly_cost),
                                                        "currency": "GBP"}))
    if item.state.panel_reason:
        inputs.append(_param("panel-reason", valueString=item.state.panel_reason))
    if item.state.decision is not None and item.state.decision.note:
        inputs.append(_param("note", valueString=item.state.decision.note))
    return inputs, []


def _end(d: EndDecision) -> tuple[list[Any], list[Any]]:
    inputs = []
    for name, value in (("la-agreed-by", d.la_agreed_by), ("icb-agreed-by", d.icb_agreed_by)):
        if value:
            inputs.append(_param(name, valueString=value))
    for name, day in (("la-agreed-on", d.la_agreed_on), ("icb-agreed-on", d.icb_agreed_on)):
        if day:
            inputs.append(_param(name, valueDate=day.isoformat()))
    inputs.append(_param("person-involved", valueBoolean=d.person_involved))
    if d.carer_involved is not None:
        inputs.append(_param("carer-involved", valueBoolean=d.carer_involved))
    inputs += [_param("reason", valueCodeableConcept=_coding(url.CS_END_REASON, r.value))
               for r in d.reasons]
    inputs.append(_param("moved-to-suitable-accommodation",
                         valueBoolean=d.moved_to_suitable_accommodation))
    if d.note:
        inputs.append(_param("note", valueString=d.note))
    if d.notice is not None:  # D8: the joint notice in writing to the person
        notice = d.notice
        inputs.append(_param("notice-date", valueDate=notice.given_on.isoformat()))
        inputs += [_param("notice-given-by", valueString=body) for body in notice.given_by]
        inputs.append(_param("notice-method", valueCode=notice.method.value))
        document = {k: v for k, v in (("title", notice.document_title),
                                      ("url", notice.document_url),
                                      ("contentType", notice.document_type),
                                      ("hash", notice.document_hash)) if v}
        inputs.append(_param("notice-document", valueAttachment=document))
    return inputs, [_param("end-date", valueDate=d.ends_on.isoformat())]


def _proposal(p: EndProposal, name_of: NameOf) -> tuple[list[Any], list[Any]]:
    inputs = [_param("proposed-by", valueReference=org_reference(p.proposed_by_org, name_of)),
              _param("review-date", valueDate=p.review_on.isoformat()),
              _param("person-involved", valueBoolean=p.person_involved)]
    if p.carer_involved is not None:
        inputs.append(_param("carer-involved", valueBoolean=p.carer_involved))
    inputs += [_param("reason", valueCodeableConcept=_coding(url.CS_END_REASON, r.value))
               for r in p.reasons]
    if p.note:
        inputs.append(_param("note", valueString=p.note))
    if p.end_date:
        inputs.append(_param("end-date", valueDate=p.end_date.isoformat()))
    if p.moved_to_suitable_accommodation:
        inputs.append(_param("moved-to-suitable-accommodation", valueBoolean=True))
    outputs = []
    if p.agreed is not None:
        outputs.append(_param("agreed", valueBoolean=p.agreed))
        outputs.append(_param("responded-by", valueReference=org_reference(
            p.responded_by_org or "", name_of)))
        if p.response_reason:
            outputs.append(_param("reason", valueString=p.response_reason))
    return inputs, outputs


def _due(due: DueReview) -> tuple[list[Any], list[Any]]:
    return [_param("rule", valueCodeableConcept=_coding(url.CS_RULE, due.rule_id)),
            _param("reason", valueString=due.reason)], []


def _parts(task: CaseTask, name_of: NameOf) -> tuple[list[Any], list[Any]]:
    record = task.record
    if isinstance(record, Review):
        return _review(record, name_of)
    if isinstance(record, OrdinaryResidenceDecision):
        return _or_decision(record, name_of)
    if isinstance(record, Dispute):
        return _dispute(record, name_of)
    if isinstance(record, PanelDecision):
        return _panel(record, name_of)
    if isinstance(record, AgendaItem):
        return _agenda(record)
    if isinstance(record, EndDecision):
        return _end(record)
    if isinstance(record, EndProposal):
        return _proposal(record, name_of)
    return _due(record)


def _description(task: CaseTask) -> str:
    record = task.record
    if isinstance(record, DueReview):
        return f"s117 review due by {record.due} ({record.rule_id})"
    if isinstance(record, AgendaItem):
        line = record.state.line
        return (f"panel decision needed on {line.service_type.value} (plan {record.plan_id}, "
                f"line {line.id}): {record.state.panel_reason}")
    if isinstance(record, Review):
        return f"s117 review held on {record.on}"
    if isinstance(record, OrdinaryResidenceDecision):
        return f"ordinarily resident in {record.la_gss}: decided by {record.decided_by}"
    if isinstance(record, Dispute):
        return (f"ordinary residence disputed between {', '.join(record.parties)}: "
                f"{record.status.value}")
    if isinstance(record, PanelDecision):
        return f"panel decision on line {record.line_id}: {record.outcome.value}"
    if isinstance(record, EndProposal):
        return (f"{record.proposed_by_org} proposes ending s117 aftercare (D1): "
                f"{record.status.value}")
    return f"joint decision to end s117 aftercare from {record.ends_on}"  # EndDecision


def business_status(task: CaseTask, today: date) -> str | None:
    if task.due_on is not None and task.status is TaskStatus.REQUESTED:
        return "overdue" if today > task.due_on else "due"
    return task.business_status


def to_json(person_id: int, updated: datetime, task: CaseTask, name_of: NameOf,
            today: date, version: int | None = None) -> dict[str, Any]:
    """`version` is the person's record's: a Task changes only with it, so it is the Task's
    ETag too (If-Match on an update)."""
    inputs, outputs = _parts(task, name_of)
    focus = f"CarePlan/{task.plan_id}" if task.plan_id and task.kind is TaskKind.PANEL \
        else f"EpisodeOfCare/{task.entitlement_id}"
    meta: dict[str, Any] = {"lastUpdated": instant(updated), "profile": [url.TASK]}
    if version:
        meta = {"versionId": str(version), **meta}
    data: dict[str, Any] = {
        "resourceType": "Task", "id": task_id(person_id, task.key), "meta": meta,
        "status": task.status.value,
        "intent": "order" if task.status is TaskStatus.REQUESTED else "plan",
        "code": {"coding": [{"system": url.CS_TASK_TYPE, "code": task.kind.value,
                             "display": DISPLAY[task.kind]}]},
        "description": _description(task),
        "focus": {"reference": focus}, "for": {"reference": f"Patient/{person_id}"},
        "authoredOn": task.authored_on.isoformat()}
    if status := business_status(task, today):
        data["businessStatus"] = {"coding": [{"system": url.CS_BUSINESS_STATUS,
                                              "code": status}]}
    period = {"start": task.authored_on.isoformat()}
    if task.done_on:
        period["end"] = task.done_on.isoformat()
    data["executionPeriod"] = period
    if task.due_on:
        data["restriction"] = {"period": {"end": task.due_on.isoformat()}}
    if isinstance(task.record, EndProposal):
        data["requester"] = org_reference(task.record.proposed_by_org, name_of)
        if task.record.response_reason and not task.record.agreed:
            data["statusReason"] = {"text": task.record.response_reason}
    if task.owner:
        data["owner"] = org_reference(task.owner, name_of)
    if inputs:
        data["input"] = inputs
    if outputs:
        data["output"] = outputs
    return data


def to_fhir(person_id: int, updated: datetime, task: CaseTask, name_of: NameOf,
            today: date, version: int | None = None) -> Task:
    return Task.model_validate(to_json(person_id, updated, task, name_of, today, version))


# -- FHIR -> what a client asks the register to record ----------------------------------------

@dataclass(frozen=True)
class TaskInput:
    """A Task sent by a client, read: its kind, whose, about what, and its parameters."""

    kind: TaskKind
    status: str
    person_id: int
    focus_type: str | None  # EpisodeOfCare or CarePlan
    focus_id: str | None
    started: date | None  # executionPeriod.start
    done: date | None  # executionPeriod.end
    business_status: str | None
    inputs: dict[str, list[Any]]
    outputs: dict[str, list[Any]]
    owner: str | None = None  # the organisation's code
    status_reason: str = ""

    def one(self, name: str, output: bool = False) -> Any:
        found = (self.outputs if output else self.inputs).get(name) or []
        return found[0] if found else None


def _values(params: list[dict[str, Any]], where: str) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for i, param in enumerate(params):
        codes = [c.get("code") for c in (param.get("type") or {}).get("coding", [])
                 if c.get("system") == url.CS_TASK_PARAMETER]
        if not codes:
            raise InvalidData("each parameter is typed by a code of s117-task-parameter",
                            field=f"{where}[{i}].type")
        value = next((v for k, v in param.items() if k.startswith("value")), None)
        if isinstance(value, dict) and "coding" in value:
            value = value["coding"][0].get("code") if value["coding"] else None
        elif isinstance(value, dict) and ("reference" in value or "identifier" in value):
            value = code_of_reference(value)
        elif isinstance(value, dict) and "value" in value and "currency" in value:
            value = Decimal(str(value["value"]))
        out.setdefault(codes[0], []).append(value)
    return out


def _day(value: str | None, where: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise InvalidData(f"{value!r} is not a date", field=where) from None


def from_json(data: dict[str, Any]) -> TaskInput:
    codes = [c.get("code") for c in (data.get("code") or {}).get("coding", [])
             if c.get("system") == url.CS_TASK_TYPE]
    try:
        kind = TaskKind(codes[0] if codes else None)
    except ValueError:
        raise InvalidData("Task.code is a code of s117-task-type", field="Task.code") from None
    subject = (data.get("for") or {}).get("reference") or ""
    person = subject.removeprefix("Patient/")
    if not subject.startswith("Patient/") or not person.isdigit():
        raise InvalidData("Task.for is the person: Patient/<id>", field="Task.for")
    focus = (data.get("focus") or {}).get("reference") or ""
    focus_type, _, focus_id = focus.partition("/")
    if focus and focus_type not in ("EpisodeOfCare", "CarePlan"):
        raise InvalidData("Task.focus is the EpisodeOfCare (or, for a panel decision, the "
                        "CarePlan)", field="Task.focus")
    period = data.get("executionPeriod") or {}
    statuses = [c.get("code") for c in (data.get("businessStatus") or {}).get("coding", [])]
    reason = data.get("statusReason") or {}
    reason_text = reason.get("text") or next(
        (c.get("display") or c.get("code") for c in reason.get("coding", [])), None) or ""
    owner = data.get("owner")
    return TaskInput(
        kind=kind, status=data.get("status", ""), person_id=int(person),
        focus_type=focus_type or None, focus_id=focus_id or None,
        started=_day(period.get("start"), "Task.executionPeriod.start"),
        done=_day(period.get("end"), "Task.executionPeriod.end"),
        business_status=statuses[0] if statuses else None,
        inputs=_values(data.get("input") or [], "Task.input"),
        outputs=_values(data.get("output") or [], "Task.output"),
        owner=code_of_reference(owner) if isinstance(owner, dict) else None,
        status_reason=str(reason_text).strip())


def attendee(text: str, where: str) -> Attendee:
    found = attendees.read(text)
    if found is None:
        raise InvalidData(f"attendee {text!r}: write 'name (role, ORG)'", field=where)
    return found


PANEL_OUTCOMES = {o.value: o for o in PanelOutcome}
DISPUTE_STATUSES = {s.value: s for s in DisputeStatus}


# -- what a client asks the register to record -> a command ----------------------------------

Finder = Callable[[CaseTask], bool]
"""How to find the Task a command makes, once it is applied (its key is derived)."""


def _required(given: TaskInput, name: str, output: bool = False) -> Any:
    value = given.one(name, output)
    if value is None:
        where = "output" if output else "input"
        raise InvalidData(f"{given.kind.value}: {where} {name!r} is required",
                          field=f"Task.{where}")
    return value


def _on(given: TaskInput, which: str = "end") -> date:
    day = given.done if which == "end" else given.started
    if day is None:
        raise InvalidData(f"{given.kind.value}: executionPeriod.{which} is the date it "
                          "happened", field=f"Task.executionPeriod.{which}")
    return day


def _status(given: TaskInput, *allowed: str) -> None:
    if given.status not in allowed:
        raise InvalidData(f"a {given.kind.value} Task is recorded with status "
                          f"{' or '.join(allowed)}", field="Task.status")


def command(command_id: str, given: TaskInput, nhs_number: str, entitlement_id: str | None,
            last_stay: str | None) -> tuple[c.Command, Finder]:
    """The command a new Task asks for (a review, an ordinary-residence decision, a dispute
    opened, a panel decision), and how to find the Task it makes. The route has resolved the
    references: the person (`nhs_number`), the focus entitlement and its latest qualifying
    stay. InvalidData names the element at fault."""
    if given.kind is TaskKind.REVIEW:
        _status(given, "completed")
        on = given.done or _on(given, "start")
        attendees = tuple(attendee(a, "Task.input") for a in given.inputs.get("attendee", []))
        review = c.RecordReview(
            command_id=command_id, nhs_number=nhs_number, entitlement_id=entitlement_id,
            on=on, outcome=given.one("outcome", output=True) or "",
            person_involved=_required(given, "person-involved"),
            needs_arise_from_disorder=_required(given, "needs-arise-from-disorder", True),
            attendees=attendees, carer_involved=given.one("carer-involved"),
            reviewed_by=given.one("reviewed-by"))
        return review, lambda t: isinstance(t.record, Review) and t.record.on == on and (
            entitlement_id is None or t.entitlement_id == entitlement_id)
    if given.kind is TaskKind.OR_DECISION:
        _status(given, "completed")
        on, la = given.done or _on(given, "start"), _required(given, "local-authority")
        decision = c.RecordOrdinaryResidence(
            command_id=command_id, nhs_number=nhs_number, la_gss=la, decided_on=on,
            decided_by=_required(given, "decided-by"), evidence=given.one("evidence") or "",
            decided_by_org=given.one("decided-by-organisation"), stay_key=last_stay)
        return decision, lambda t: t.kind is TaskKind.OR_DECISION and \
            t.record.decided_on == on and t.record.la_gss == la
    if given.kind is TaskKind.OR_DISPUTE:
        _status(given, "in-progress")
        dispute_id = uuid4().hex[:16]
        dispute = c.OpenDispute(
            command_id=command_id, nhs_number=nhs_number, dispute_id=dispute_id,
            entitlement_id=entitlement_id, parties=tuple(given.inputs.get("party", [])),
            opened_on=_on(given, "start"), interim_lead=given.one("interim-lead"),
            note=given.one("note") or "")
        return dispute, lambda t: t.kind is TaskKind.OR_DISPUTE and t.record.id == dispute_id
    if given.kind is TaskKind.PANEL:
        _status(given, "completed")
        if given.focus_type != "CarePlan" or not given.focus_id:
            raise InvalidData("a panel decision's focus is the CarePlan/<id> of the line",
                              field="Task.focus")
        outcome = _required(given, "outcome", output=True)
        if outcome not in PANEL_OUTCOMES:
            raise InvalidData(f"outcome {outcome!r}: approved, approved-with-changes, "
                              "deferred or declined", field="Task.output")
        plan_id, line_id, on = given.focus_id, _required(given, "service-line"), _on(given)
        panel = c.RecordPanelDecision(
            command_id=command_id, nhs_number=nhs_number, plan_id=plan_id, line_id=line_id,
            outcome=PANEL_OUTCOMES[outcome], decided_on=on,
            members=tuple(given.outputs.get("member", [])),
            note=given.one("note", output=True) or "")
        return panel, lambda t: isinstance(t.record, PanelDecision) and \
            (t.record.plan_id, t.record.line_id, t.record.decided_on) == (plan_id, line_id, on)
    raise ValueError(f"no command for a {given.kind.value} Task")  # the route answers END


def dispute_update(command_id: str, given: TaskInput, nhs_number: str,
                   dispute_id: str) -> c.UpdateDispute:
    """A dispute Task updated: referred to the Secretary of State, or resolved."""
    if given.status == "completed" or given.business_status == "resolved":
        status, on = DisputeStatus.RESOLVED, _on(given)
    elif given.business_status == DisputeStatus.REFERRED.value:
        status = DisputeStatus.REFERRED
        referred = given.one("referred", output=True)
        on = date.fromisoformat(referred) if isinstance(referred, str) else _on(given, "start")
    else:
        raise InvalidData("update a dispute to refer it (businessStatus "
                          "referred-to-secretary-of-state, output referred) or to resolve it "
                          "(status completed, output resolved-local-authority, "
                          "executionPeriod.end)", field="Task.businessStatus")
    return c.UpdateDispute(
        command_id=command_id, nhs_number=nhs_number, dispute_id=dispute_id, status=status,
        on=on, resolved_la=given.one("resolved-local-authority", output=True),
        note=given.one("note") or "")


def _flag(given: TaskInput, name: str) -> bool | None:
    value = given.one(name)
    if value is not None and not isinstance(value, bool):
        raise InvalidData(f"input {name!r} is a valueBoolean", field="Task.input")
    return value


def _reasons(given: TaskInput) -> tuple[EndReason, ...]:
    try:
        return tuple(EndReason(r) for r in given.inputs.get("reason", []))
    except ValueError:
        raise InvalidData("each input 'reason' is a code of s117-end-reason",
                          field="Task.input") from None


def end_proposal(command_id: str, given: TaskInput, nhs_number: str, entitlement_id: str,
                 by: c.Agent, by_name: str, on: date) -> tuple[c.ProposeEnd, Finder]:
    """A new end-proposal Task: the caller's body proposes ending aftercare at a review
    (D1); the route has checked that `Task.owner` is the other body, who must answer."""
    _status(given, "requested")
    review = _day(given.one("review-date"), "Task.input")
    if review is None:
        raise InvalidData("end-proposal: input 'review-date' is the review the end was "
                          "proposed at (D1)", field="Task.input", rule="D1")
    involved = _flag(given, "person-involved")
    if involved is None:
        raise InvalidData("end-proposal: input 'person-involved' is required (D1)",
                          field="Task.input", rule="D1")
    proposal_id = f"P-{uuid4().hex[:12]}"
    proposal = c.ProposeEnd(
        command_id=command_id, nhs_number=nhs_number, proposal_id=proposal_id,
        entitlement_id=entitlement_id, by_org=by.org, by_kind=by.kind, by_name=by_name,
        on=on, review_on=review, reasons=_reasons(given), person_involved=involved,
        carer_involved=_flag(given, "carer-involved"), note=given.one("note") or "",
        end_date=_day(given.one("end-date"), "Task.input"),
        moved_to_suitable_accommodation=bool(_flag(given, "moved-to-suitable-accommodation")))
    return proposal, lambda t: isinstance(t.record, EndProposal) and t.record.id == proposal_id


_ANSWERS = {"accepted": True, "completed": True, "rejected": False}


def _notice(given: TaskInput) -> WrittenNotice | None:
    """D8: the joint notice in writing, sent with an agreement: all its inputs or none."""
    names = ("notice-date", "notice-given-by", "notice-method", "notice-document")
    present = [n for n in names if given.inputs.get(n)]
    if not present:
        return None
    if len(present) < len(names):
        missing = ", ".join(n for n in names if n not in present)
        raise InvalidData(f"a written notice (D8) gives its date, both bodies, the method and "
                          f"the document: missing {missing}", field="Task.input", rule="D8")
    document = given.one("notice-document")
    try:
        method = NoticeMethod(given.one("notice-method"))
    except ValueError:
        raise InvalidData("notice-method: post, email, in-person or portal",
                          field="Task.input") from None
    return WrittenNotice(
        given_on=_day(given.one("notice-date"), "Task.input"),  # type: ignore[arg-type]
        given_by=[str(b) for b in given.inputs["notice-given-by"]], method=method,
        document_title=str(document.get("title", "")) if isinstance(document, dict) else "",
        document_url=document.get("url") if isinstance(document, dict) else None,
        document_type=document.get("contentType") if isinstance(document, dict) else None,
        document_hash=document.get("hash") if isinstance(document, dict) else None)


def end_answer(command_id: str, given: TaskInput, nhs_number: str, proposal_id: str,
               by: c.Agent, by_name: str, on: date) -> c.Command:
    """An end-proposal Task updated: the other body agrees (status accepted) or declines
    (rejected, with Task.statusReason), or the proposer withdraws it (cancelled)."""
    if given.status == "cancelled":
        return c.WithdrawEndProposal(command_id=command_id, nhs_number=nhs_number,
                                     proposal_id=proposal_id, by_org=by.org, on=on,
                                     reason=given.status_reason)
    if given.status not in _ANSWERS:
        raise InvalidData("answer a proposal with status accepted (agree) or rejected "
                          "(decline, with statusReason); the proposer withdraws it with "
                          "status cancelled", field="Task.status", rule="D1")
    agree = _ANSWERS[given.status]
    if not agree and not given.status_reason:
        raise InvalidData("a declined proposal gives its reason in Task.statusReason (D1)",
                          field="Task.statusReason", rule="D1")
    return c.RespondToEndProposal(
        command_id=command_id, nhs_number=nhs_number, proposal_id=proposal_id, agree=agree,
        by_org=by.org, by_kind=by.kind, by_name=by_name, on=on, reason=given.status_reason,
        notice=_notice(given) if agree else None)


def answer_expression(field: str | None) -> str:
    """A field of an answer to (or withdrawal of) a proposal as the Task element it came
    from: the answering body is the Task's owner, its reason the statusReason."""
    return {"by_org": "Task.owner", "reason": "Task.statusReason", "proposal_id": "Task.status",
            "on": "Task.executionPeriod.end"}.get((field or "").split("[")[0]) or \
        expression(field)


def expression(field: str | None) -> str:
    """A register field of a Task's command as the Task element it came from."""
    return {"on": "Task.executionPeriod", "decided_on": "Task.executionPeriod.end",
            "opened_on": "Task.executionPeriod.start", "parties": "Task.input",
            "interim_lead": "Task.input", "members": "Task.output",
            "line_id": "Task.input", "plan_id": "Task.focus", "la_gss": "Task.input",
            "entitlement_id": "Task.focus", "resolved_la": "Task.output",
            "person_involved": "Task.input", "status": "Task.status",
            "review_on": "Task.input", "reasons": "Task.input", "reason": "Task.input",
            "by_org": "Task.requester", "by_name": "Task.input", "proposal_id": "Task.focus",
            "decision-date": "Task.executionPeriod.start", "end-date": "Task.input",
            "moved-to-suitable-accommodation": "Task.input", "notice-date": "Task.input",
            "notice-given-by": "Task.input", "notice-document": "Task.input"}.get(
        (field or "").split("[")[0], "Task")
