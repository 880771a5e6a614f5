"""The casework forms of the staff pages (issue 21): each record a council or ICB keeps on
the register, as question pages that make the same commands the FHIR API and the council
file make, so the same rules refuse the same things (F1-F5, R3, D1-D6, L5).

A form acts on the person's latest entitlement the caller can see (`Case.entitlement`), or
on the plan, line, proposal or dispute its `target` names."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from adapter.auth.tokens import Caller
from adapter.bootstrap import Register
from adapter.http.pages.forms import FUNDER_ROWS, Field, Options
from adapter.http.pages.person import EntitlementView, PersonView
from mappings import attendees
from register import commands as c
from register.access import OrgType
from register.casework import PlanState
from register.errors import InvalidData
from register.model import (
    HOUSING_BENEFIT,
    NEED_CATEGORIES,
    PERSON,
    AssessedNeed,
    CareCoordinator,
    DisputeStatus,
    EndProposal,
    EndReason,
    EntitlementStatus,
    FundingBasis,
    FundingShare,
    NoticeMethod,
    PanelOutcome,
    PlanStatus,
    ServiceLine,
    ServiceType,
    WrittenNotice,
)

_PLANS = uuid.UUID("0b4b0c55-117a-4c1e-9d8e-5a6e1b7a2117")
YES_NO: Options = (("yes", "Yes"), ("no", "No"))
CARER: Options = (("yes", "Yes"), ("no", "No"), ("none", "The person has no carer or advocate"))
END_REASON_TEXT = {
    EndReason.NO_LONGER_NEEDED: "No longer needs aftercare for the mental disorder",
    EndReason.DIED: "Died",
    EndReason.DISCHARGED_FROM_SPECIALIST_SERVICES: "Discharged from specialist services",
    EndReason.TIME_ELAPSED: "Time has passed",
    EndReason.DEPRIVED_OF_LIBERTY_MCA: "Deprived of liberty under the Mental Capacity Act",
    EndReason.READMITTED_INFORMAL_OR_S2: "Readmitted informally or under section 2",
    EndReason.CTO_OR_LEAVE_ENDED: "CTO or section 17 leave ended",
    EndReason.REFUSED_SERVICES: "Refused services",
}


class NotAvailable(Exception):
    """The form does not apply to this person now (the message says why)."""


@dataclass(frozen=True)
class Case:
    register: Register
    caller: Caller
    view: PersonView
    target: str
    today: date

    @property
    def entitlement(self) -> EntitlementView:
        if not self.view.entitlements:
            raise NotAvailable("This person has no s117 entitlement you can see.")
        return self.view.entitlements[0]  # latest first

    def plan(self) -> PlanState:
        plan_id = self.target.partition("/")[0]
        found = next((p for p in self.entitlement.plans if p.plan.id == plan_id), None)
        if found is None:
            raise NotAvailable("There is no such aftercare plan for this person.")
        return found

    def line(self) -> ServiceLine | None:
        line_id = self.target.partition("/")[2]
        return self.plan().plan.line(line_id) if line_id else None

    def proposal(self) -> EndProposal:
        found = self.view.work.person.facts.end_proposal(self.target)
        if found is None or found.entitlement_id != self.entitlement.entitlement.id:
            raise NotAvailable("There is no such proposal to end aftercare.")
        return found

    def orgs(self, kind: str) -> Options:
        orgs = self.register.refdata.orgs.values()  # type: ignore[attr-defined]
        return tuple((o.code, f"{o.name} ({o.code})")
                     for o in sorted((o for o in orgs if o.kind == kind), key=lambda o: o.name))

    @property
    def nhs(self) -> str:
        return self.view.work.person.facts.nhs_number

    @property
    def org(self) -> str:
        return self.caller.org

    def bodies(self) -> tuple[str | None, str | None]:
        cur = self.entitlement.entitlement.current
        return (cur.local_authority, cur.icb) if cur else (None, None)


Build = Callable[[Case, dict[str, Any], str], c.Command]


@dataclass(frozen=True)
class CaseForm:
    key: str
    title: str  # the question page's heading
    done: str  # the confirmation's heading
    fields: Callable[[Case], tuple[Field, ...]]
    build: Build  # (case, values, command id) -> command
    where: dict[str, str]  # a refusal's register field -> the form field it is shown on
    initial: Callable[[Case], dict[str, Any]] = lambda case: {}
    resource: str = "Task"  # the SMART scope it needs, as the API's equivalent write
    council_only: bool = False
    dispute: bool = False  # a council party may open it (the council where the person lives)


def _date_raw(name: str, day: date | None) -> dict[str, str]:
    if day is None:
        return {}
    return {f"{name}[day]": str(day.day), f"{name}[month]": str(day.month),
            f"{name}[year]": str(day.year)}


def _yes(value: str | None) -> bool | None:
    return None if value in (None, "", "none") else value == "yes"


def _who(case: Case) -> str:
    return case.caller.subject or case.org


# -- review (R1-R3) ---------------------------------------------------------------------


def _review_fields(case: Case) -> tuple[Field, ...]:
    return (
        Field("on", "Date of the review", "date", "For example, 27 3 2026"),
        Field("attendees", "Who took part", "textarea",
              "One person a line: name (role, organisation code), for example "
              "Dee Patel (care coordinator, R1A)", required=False),
        Field("person_involved", "Did the person take part?", "radios",
              "The person must be involved in their s117 review (rule R3)", YES_NO),
        Field("carer_involved", "Did a carer or advocate take part?", "radios", "",
              CARER),
        Field("outcome", "What the review decided", "textarea", required=False),
        Field("needs_still_arise", "Do the person's needs still arise from their mental "
              "disorder?", "radios", "If not, the bodies may propose ending aftercare "
              "(rule D1)", YES_NO),
    )


def _review(case: Case, v: dict[str, Any], cid: str) -> c.Command:
    people = []
    for i, text in enumerate(line for line in (v.get("attendees") or "").splitlines()
                             if line.strip()):
        found = attendees.read(text.strip())
        if found is None:
            raise InvalidData(f"line {i + 1}, {text.strip()!r}: write Name (role, "
                              "organisation code)", field="attendees")
        people.append(found)
    return c.RecordReview(
        command_id=cid, nhs_number=case.nhs, entitlement_id=case.entitlement.entitlement.id,
        on=v["on"], outcome=v.get("outcome") or "",
        person_involved=v["person_involved"] == "yes",
        needs_arise_from_disorder=v["needs_still_arise"] == "yes",
        attendees=tuple(people), carer_involved=_yes(v.get("carer_involved")),
        reviewed_by=case.org if case.caller.viewer.kind is not OrgType.ADMIN else None)


# -- aftercare plan and its lines (F1-F5, care coordinator) ------------------------------


def _plan_fields(case: Case) -> tuple[Field, ...]:
    return (
        Field("status", "Status of the plan", "radios",
              "One plan per entitlement can be active", tuple(
                  (s.value, s.value.capitalize()) for s in PlanStatus)),
        Field("agreed_on", "Date the plan was agreed", "date", required=False),
        Field("coordinator", "Care coordinator", "text",
              "Every plan in force names one (Code of Practice 34.5)", required=False,
              width=20),
        Field("coordinator_org", "Care coordinator's organisation", "select", "",
              (("", "Choose"), *case.orgs("la"), *case.orgs("icb")), required=False),
        Field("needs", "Needs that arise from the mental disorder", "checkboxes",
              "The aspects of need of the Code of Practice 34.19 the assessment found",
              tuple((k, d.split(",")[0].rstrip(".")) for k, d in NEED_CATEGORIES.items()),
              required=False),
    )


def _plan_initial(case: Case) -> dict[str, Any]:
    if not case.target:
        return {"status": "active"}
    plan = case.plan().plan
    coordinator = plan.care_coordinator
    return {"status": plan.status.value, **_date_raw("agreed_on", plan.agreed_on),
            "coordinator": coordinator.name if coordinator else "",
            "coordinator_org": (coordinator.organisation or "") if coordinator else "",
            "needs": [n.category for n in plan.needs if n.arises_from_disorder]}


def _plan_command(case: Case, cid: str, **changes: Any) -> c.RecordCarePlan:
    """The plan sent whole, as the API and the council file send it."""
    if case.target:
        plan = case.plan().plan
        base: dict[str, Any] = dict(
            plan_id=plan.id, status=plan.status, lines=tuple(plan.lines),
            needs=tuple(plan.needs), care_coordinator=plan.care_coordinator,
            agreed_on=plan.agreed_on, ends_on=plan.ends_on, author=plan.author,
            external_id=plan.external_id, external_system=plan.external_system)
    else:
        base = dict(plan_id=str(uuid.uuid5(_PLANS, cid)), status=PlanStatus.ACTIVE,
                    author=case.org)
    base.update(changes)
    return c.RecordCarePlan(command_id=cid, nhs_number=case.nhs,
                            entitlement_id=case.entitlement.entitlement.id, **base)


def _plan(case: Case, v: dict[str, Any], cid: str) -> c.Command:
    kept = [n for n in (case.plan().plan.needs if case.target else [])
            if not n.arises_from_disorder]
    coordinator = CareCoordinator(v["coordinator"], v.get("coordinator_org") or None) \
        if v.get("coordinator") else None
    return _plan_command(case, cid, status=PlanStatus(v["status"]), agreed_on=v.get("agreed_on"),
                         care_coordinator=coordinator,
                         needs=tuple(kept + [AssessedNeed(n) for n in v.get("needs", [])]))


def _funder_options(case: Case) -> Options:
    return ((("", "Choose who pays"),) + case.orgs("la") + case.orgs("icb")
            + ((PERSON, "The person"), (HOUSING_BENEFIT, "Housing benefit")))


def _line_fields(case: Case) -> tuple[Field, ...]:
    return (
        Field("service_type", "Type of service", "select", "", (("", "Choose"),) + tuple(
            (s.value, s.value.replace("-", " ").capitalize()) for s in ServiceType)),
        Field("provider", "Provider", "text", required=False),
        Field("description", "The service in words", "textarea", required=False),
        Field("starts_on", "Start date", "date", required=False),
        Field("ends_on", "End date", "date", "Leave blank while it goes on", required=False),
        Field("weekly_cost", "Weekly cost in pounds", "money", required=False, width=10),
        Field("funding_basis", "Funding basis", "radios",
              "Section 117 for a need arising from the mental disorder (rule F1)", tuple(
                  (b.value, text) for b, text in (
                      (FundingBasis.S117, "Section 117 (free to the person)"),
                      (FundingBasis.CARE_ACT, "Care Act 2014"),
                      (FundingBasis.CHC, "NHS Continuing Healthcare"),
                      (FundingBasis.FNC, "NHS-funded nursing care"),
                      (FundingBasis.S117A_TOP_UP, "Top-up for a preferred placement "
                       "(s117A)")))),
        Field("funders", "Who pays, and what share", "funders",
              f"Up to {FUNDER_ROWS} funders; the shares add up to 100 (rule F2)",
              _funder_options(case)),
        Field("meets_disorder_need", "Does it meet a need arising from the mental "
              "disorder?", "radios", "", YES_NO),
        Field("requested_on", "Date funding was requested", "date",
              "Required for a personal health budget or direct payment (rule F5)",
              required=False),
    )


def _line_initial(case: Case) -> dict[str, Any]:
    line = case.line()
    if line is None:
        return {"funding_basis": "s117", "meets_disorder_need": "yes"}
    raw: dict[str, Any] = {
        "service_type": line.service_type.value, "provider": line.provider,
        "description": line.description, "funding_basis": line.funding_basis.value,
        "weekly_cost": f"{line.weekly_cost:.2f}" if line.weekly_cost is not None else "",
        "meets_disorder_need": "yes" if line.meets_disorder_need else "no",
        **_date_raw("starts_on", line.starts_on), **_date_raw("ends_on", line.ends_on),
        **_date_raw("requested_on", line.requested_on)}
    for i, share in enumerate(line.funders[:FUNDER_ROWS], start=1):
        raw[f"funders-{i}-org"], raw[f"funders-{i}-share"] = share.funder, f"{share.percent}"
    return raw


def _line(case: Case, v: dict[str, Any], cid: str) -> c.Command:
    plan = case.plan().plan
    old = case.line()
    line_id = old.id if old else f"L{len(plan.lines) + 1}"
    while old is None and plan.line(line_id) is not None:
        line_id += "a"
    line = ServiceLine(
        id=line_id, service_type=ServiceType(v["service_type"]),
        funding_basis=FundingBasis(v["funding_basis"]),
        funders=[FundingShare(org, share) for org, share in v["funders"]],
        weekly_cost=v.get("weekly_cost"), provider=v.get("provider") or "",
        description=v.get("description") or "", starts_on=v.get("starts_on"),
        ends_on=v.get("ends_on"), meets_disorder_need=v["meets_disorder_need"] == "yes",
        health_care=old.health_care if old else None, needs=old.needs if old else [],
        requested_on=v.get("requested_on"))
    lines = [line if ln.id == line_id else ln for ln in plan.lines]
    if old is None:
        lines.append(line)
    return _plan_command(case, cid, lines=tuple(lines))


# -- panel decision ---------------------------------------------------------------------


def _panel_fields(case: Case) -> tuple[Field, ...]:
    return (
        Field("outcome", "The panel's decision", "radios", "", tuple(
            (o.value, o.value.replace("-", " ").capitalize()) for o in PanelOutcome)),
        Field("decided_on", "Date of the decision", "date"),
        Field("members", "Organisations that decided", "checkboxes", "",
              tuple((code, code) for code in case.bodies() if code)),
        Field("note", "Note", "textarea", required=False),
    )


def _panel(case: Case, v: dict[str, Any], cid: str) -> c.Command:
    line = case.line()
    if line is None:
        raise NotAvailable("Choose the service line the panel decided on.")
    return c.RecordPanelDecision(
        command_id=cid, nhs_number=case.nhs, plan_id=case.plan().plan.id, line_id=line.id,
        outcome=PanelOutcome(v["outcome"]), decided_on=v["decided_on"],
        members=tuple(v["members"]), note=v.get("note") or "")


# -- ordinary residence and disputes (L1, L5) -------------------------------------------


def _or_fields(case: Case) -> tuple[Field, ...]:
    return (
        Field("la", "Council of ordinary residence", "select",
              "Where the person was ordinarily resident immediately before detention",
              (("", "Choose"), *case.orgs("la"))),
        Field("decided_by", "Who decided", "text", "A person or panel", width=20),
        Field("decided_on", "Date of the decision", "date"),
        Field("evidence", "Evidence the decision rests on", "textarea", required=False),
    )


def _or(case: Case, v: dict[str, Any], cid: str) -> c.Command:
    return c.RecordOrdinaryResidence(
        command_id=cid, nhs_number=case.nhs, la_gss=v["la"], decided_by=v["decided_by"],
        decided_on=v["decided_on"], evidence=v.get("evidence") or "",
        stay_key=case.entitlement.entitlement.qualifying_stays[-1]
        if case.entitlement.entitlement.qualifying_stays else None, decided_by_org=case.org)


def _dispute_fields(case: Case) -> tuple[Field, ...]:
    councils = case.orgs("la")
    return (
        Field("other", "The other council in the dispute", "select", "",
              (("", "Choose"), *((code, text) for code, text in councils
                                 if code != case.org))),
        Field("interim_lead", "Interim lead", "radios",
              "The council that arranges aftercare while the dispute lasts; by default "
              "where the person lives (rule L5)",
              (("mine", "Your council"), ("other", "The other council"),
               ("default", "Where the person lives"))),
        Field("opened_on", "Date the dispute was opened", "date"),
        Field("note", "What is disputed", "textarea", required=False),
    )


def _dispute(case: Case, v: dict[str, Any], cid: str) -> c.Command:
    lead = {"mine": case.org, "other": v["other"]}.get(v["interim_lead"])
    return c.OpenDispute(
        command_id=cid, nhs_number=case.nhs, dispute_id=f"D-{cid[-12:]}",
        entitlement_id=case.entitlement.entitlement.id, parties=(case.org, v["other"]),
        opened_on=v["opened_on"], interim_lead=lead, note=v.get("note") or "")


def _dispute_update_fields(case: Case) -> tuple[Field, ...]:
    return (
        Field("status", "What happened", "radios", "", (
            (DisputeStatus.REFERRED.value, "Referred to the Secretary of State"),
            (DisputeStatus.RESOLVED.value, "Resolved"))),
        Field("on", "Date", "date"),
        Field("resolved_la", "Council of ordinary residence", "select",
              "When resolved: the council the resolution names",
              (("", "Choose"), *case.orgs("la")), required=False),
        Field("note", "Note", "textarea", required=False),
    )


def _dispute_update(case: Case, v: dict[str, Any], cid: str) -> c.Command:
    return c.UpdateDispute(command_id=cid, nhs_number=case.nhs, dispute_id=case.target,
                           status=DisputeStatus(v["status"]), on=v["on"],
                           resolved_la=v.get("resolved_la") or None, note=v.get("note") or "")


# -- ending and reinstating (D1-D6) -----------------------------------------------------


def _propose_fields(case: Case) -> tuple[Field, ...]:
    ent = case.entitlement.entitlement
    reviews = [r for r in case.view.work.person.facts.reviews if r.entitlement_id == ent.id]
    return (
        Field("review_on", "The review at which the end was decided", "radios",
              "Ending is decided at a review (rule D1): record the review first",
              tuple((r.on.isoformat(), f"Review of {r.on.strftime('%-d %B %Y')}"
                     + (f": {r.outcome}" if r.outcome else ""))
                    for r in sorted(reviews, key=lambda r: r.on, reverse=True))),
        Field("reasons", "Why aftercare can end", "checkboxes",
              "Some reasons are never enough on their own (rule D3)",
              tuple((r.value, END_REASON_TEXT[r]) for r in EndReason)),
        Field("person_involved", "Was the person involved in the decision?", "radios",
              "", YES_NO),
        Field("carer_involved", "Was a carer or advocate involved?", "radios", "", CARER),
        Field("moved", "Has the person moved from specialist accommodation to other "
              "suitable accommodation?", "radios", "Rule D4, when the plan has s117 "
              "accommodation", (("yes", "Yes"), ("no", "No"), ("none", "Not applicable"))),
        Field("end_date", "Date aftercare would end", "date",
              "Leave blank for the day the other body agrees (rule D5)", required=False),
        Field("by_name", "Your name", "text", "Recorded as who proposed for your "
              "organisation", width=20),
        Field("note", "Note for the other body", "textarea", required=False),
    )


def _propose(case: Case, v: dict[str, Any], cid: str) -> c.Command:
    kind = case.caller.viewer.kind
    return c.ProposeEnd(
        command_id=cid, nhs_number=case.nhs, proposal_id=f"P-{cid[-12:]}",
        entitlement_id=case.entitlement.entitlement.id, by_org=case.org,
        by_kind=kind.value, by_name=v["by_name"], on=case.today,
        review_on=date.fromisoformat(v["review_on"]),
        reasons=tuple(EndReason(r) for r in v["reasons"]),
        person_involved=v["person_involved"] == "yes",
        carer_involved=_yes(v.get("carer_involved")), note=v.get("note") or "",
        end_date=v.get("end_date"), moved_to_suitable_accommodation=v.get("moved") == "yes")


def _respond_fields(case: Case) -> tuple[Field, ...]:
    return (
        Field("agree", "Does your organisation agree to end s117 aftercare?", "radios",
              "Aftercare ends only when both responsible bodies agree (rule D1)",
              (("yes", "Yes, agree: aftercare ends"), ("no", "No, decline"))),
        Field("reason", "Your reason", "textarea", "Required when you decline",
              required=False),
        Field("by_name", "Your name", "text", "Recorded as who answered for your "
              "organisation", width=20),
        Field("notice_on", "Date of the joint notice in writing to the person", "date",
              "Rule D8 (Mental Health Act 2025 s46(2)), once in force: when you agree, the "
              "notice both bodies gave the person", required=False),
        Field("notice_method", "How the notice was given", "radios", "Rule D8",
              tuple((m.value, m.value.replace("-", " ").capitalize()) for m in NoticeMethod),
              required=False),
        Field("notice_document", "The notice: its title, or its address in your document "
              "store", "text", "Rule D8", required=False),
    )


def _respond(case: Case, v: dict[str, Any], cid: str) -> c.Command:
    proposal = case.proposal()
    given = [n for n in ("notice_on", "notice_method", "notice_document") if v.get(n)]
    notice = None
    if given and len(given) < 3:
        missing = next(n for n in ("notice_on", "notice_method", "notice_document")
                       if n not in given)
        raise InvalidData("a written notice (D8) gives its date, the method and the "
                          "document", field=missing)
    if given:
        document = v["notice_document"]
        is_url = document.startswith(("https://", "http://"))
        la, icb = case.bodies()
        notice = WrittenNotice(v["notice_on"], [b for b in (la, icb) if b],
                               NoticeMethod(v["notice_method"]),
                               document_title="" if is_url else document,
                               document_url=document if is_url else None)
    return c.RespondToEndProposal(
        command_id=cid, nhs_number=case.nhs, proposal_id=proposal.id,
        agree=v["agree"] == "yes", by_org=case.org, by_kind=case.caller.viewer.kind.value,
        by_name=v["by_name"], on=case.today, reason=v.get("reason") or "", notice=notice)


def _withdraw_fields(case: Case) -> tuple[Field, ...]:
    return (Field("reason", "Why your organisation withdraws the proposal", "textarea",
                  "For example, the person's needs changed. Only the body that proposed "
                  "withdraws, while the other body has not answered (rule D1)",
                  required=False),)


def _withdraw(case: Case, v: dict[str, Any], cid: str) -> c.Command:
    return c.WithdrawEndProposal(
        command_id=cid, nhs_number=case.nhs, proposal_id=case.proposal().id,
        by_org=case.org, on=case.today, reason=v.get("reason") or "")


def _reinstate_fields(case: Case) -> tuple[Field, ...]:
    return (Field("on", "Date aftercare is needed again", "date"),
            Field("reason", "Why", "textarea", "For example, the person's needs arising "
                  "from the disorder returned soon after it ended (rule D6)"))


def _reinstate(case: Case, v: dict[str, Any], cid: str) -> c.Command:
    ent = case.entitlement.entitlement
    if ent.status is not EntitlementStatus.ENDED:
        raise NotAvailable("Only ended aftercare can be reinstated.")
    return c.ReinstateEntitlement(command_id=cid, nhs_number=case.nhs, entitlement_id=ent.id,
                                  on=v["on"], reason=v["reason"])


FORMS: dict[str, CaseForm] = {f.key: f for f in (
    CaseForm("review", "Record a review", "Review recorded", _review_fields, _review,
             {"on": "on", "person_involved": "person_involved", "attendees": "attendees",
              "reviewed_by": "attendees", "entitlement_id": "on"}),
    CaseForm("plan", "Aftercare plan", "Aftercare plan saved", _plan_fields, _plan,
             {"status": "status", "agreed_on": "agreed_on", "ends_on": "agreed_on",
              "care_coordinator": "coordinator", "needs": "needs"}, _plan_initial,
             resource="CarePlan"),
    CaseForm("line", "Service and funding", "Service saved", _line_fields, _line,
             {"service_type": "service_type", "funding_basis": "funding_basis",
              "funders": "funders", "meets_disorder_need": "meets_disorder_need",
              "requested_on": "requested_on", "ends_on": "ends_on",
              "weekly_cost": "weekly_cost", "id": "service_type"}, _line_initial,
             resource="CarePlan"),
    CaseForm("panel", "Record a panel decision", "Panel decision recorded", _panel_fields,
             _panel, {"decided_on": "decided_on", "members": "members", "line_id": "outcome"}),
    CaseForm("residence", "Record an ordinary-residence decision",
             "Ordinary-residence decision recorded", _or_fields, _or,
             {"la_gss": "la", "decided_on": "decided_on", "decided_by": "decided_by"},
             council_only=True),
    CaseForm("dispute", "Open an ordinary-residence dispute", "Dispute opened",
             _dispute_fields, _dispute,
             {"parties": "other", "interim_lead": "interim_lead", "opened_on": "opened_on",
              "entitlement_id": "other"}, council_only=True, dispute=True),
    CaseForm("dispute-update", "Refer or resolve the dispute", "Dispute updated",
             _dispute_update_fields, _dispute_update,
             {"status": "status", "on": "on", "resolved_la": "resolved_la"},
             council_only=True, dispute=True),
    CaseForm("end", "Propose ending s117 aftercare", "Proposal sent to the other body",
             _propose_fields, _propose,
             {"review_on": "review_on", "reason": "reasons", "person-involved":
              "person_involved", "moved-to-suitable-accommodation": "moved",
              "end-date": "end_date", "by_name": "by_name", "decision-date": "review_on",
              "status": "reasons", "proposal_id": "review_on", "by_org": "by_name"}),
    CaseForm("end-answer", "Answer the proposal to end aftercare", "Answer recorded",
             _respond_fields, _respond,
             {"reason": "reason", "by_name": "by_name", "by_org": "agree",
              "proposal_id": "agree", "decision-date": "agree", "status": "agree",
              "notice_on": "notice_on", "notice_method": "notice_method",
              "notice_document": "notice_document", "notice-date": "notice_on",
              "notice-given-by": "notice_on", "notice-document": "notice_document",
              "notice-method": "notice_method"}),
    CaseForm("end-withdraw", "Withdraw the proposal to end aftercare", "Proposal withdrawn",
             _withdraw_fields, _withdraw,
             {"reason": "reason", "by_org": "reason", "proposal_id": "reason",
              "on": "reason", "status": "reason"}),
    CaseForm("reinstate", "Reinstate aftercare", "Aftercare reinstated", _reinstate_fields,
             _reinstate, {"on": "on", "status": "on"}),
)}


def with_agent(command: c.Command, caller: Caller) -> c.Command:
    """The caller is the command's agent (its Provenance), as on the API."""
    return replace(command, agent=c.Agent(caller.org, caller.viewer.kind.value,
                                          caller.subject))
