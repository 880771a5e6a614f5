"""Aftercare plan <-> S117AftercarePlan (UK Core CarePlan).

A plan's services are `activity` entries whose `id` is the line id; each carries its funding
basis and funders' shares (rule F2) and the S117 Service Line extension (weekly cost, need
arising from the mental disorder, health care, request date, and the panel status the
register sets). Assessed needs are S117 Assessed Need extensions on the plan, the care
coordinator a contained CareTeam, the entitlement a `supportingInfo` reference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from fhir.resources.R4B.careplan import CarePlan

from fhir_profiles import canonical as url
from mappings.fhir.common import NameOf, code_of_reference, ext, extension, extensions, meta
from mappings.fhir.common import org_reference as organisation
from register import commands as c
from register.casework import LineState
from register.errors import InvalidData
from register.model import (
    HOUSING_BENEFIT,
    PERSON,
    AftercarePlan,
    AssessedNeed,
    CareCoordinator,
    FundingBasis,
    FundingShare,
    PlanStatus,
    ServiceLine,
    ServiceType,
)
from register.ports import StoredPlan

COORDINATOR = "coordinator"
TITLE = "Section 117 aftercare plan"


def number(value: Decimal) -> int | float:
    """A decimal as a JSON number: whole numbers stay whole."""
    return int(value) if value == value.to_integral_value() else float(value)


def decimal(value: Any, where: str) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise InvalidData(f"{value!r} is not a number", field=where) from None


# -- domain -> FHIR -------------------------------------------------------------------------

def _funder(code: str, person_id: int, name_of: NameOf) -> dict[str, Any]:
    if code == PERSON:
        return {"reference": f"Patient/{person_id}", "display": "the person"}
    if code == HOUSING_BENEFIT:
        return {"identifier": {"system": url.PAYER, "value": HOUSING_BENEFIT},
                "display": "Housing benefit"}
    return organisation(code, name_of)


def _activity(state: LineState, person_id: int, name_of: NameOf) -> dict[str, Any]:
    line = state.line
    service_line = [ext("meets-mental-disorder-need", valueBoolean=line.meets_disorder_need)]
    if line.weekly_cost is not None:
        service_line.insert(0, ext("weekly-cost", valueMoney={
            "value": number(line.weekly_cost), "currency": "GBP"}))
    if line.health_care is not None:
        service_line.append(ext("health-care", valueBoolean=line.health_care))
    if line.requested_on:
        service_line.append(ext("requested", valueDate=line.requested_on.isoformat()))
    service_line.append(ext("panel", valueCode=state.panel.value))
    if state.panel_reason:
        service_line.append(ext("panel-reason", valueString=state.panel_reason))
    detail: dict[str, Any] = {
        "code": {"coding": [{"system": url.CS_SERVICE_TYPE,
                             "code": line.service_type.value}]},
        "status": ("cancelled" if state.panel.value == "declined" else
                   "not-started" if state.panel.value in ("pending", "deferred")
                   else "in-progress")}
    if line.needs:
        detail["reasonCode"] = [{"coding": [{"system": url.CS_NEED_CATEGORY, "code": n}]}
                                for n in line.needs]
    if line.starts_on or line.ends_on:
        detail["scheduledPeriod"] = {k: v.isoformat() for k, v in (
            ("start", line.starts_on), ("end", line.ends_on)) if v}
    if line.provider:
        detail["performer"] = [{"display": line.provider}]
    if line.description:
        detail["description"] = line.description
    return {"id": line.id, "extension": [
        ext(url.EXT_FUNDING_BASIS, valueCoding={"system": url.CS_FUNDING_BASIS,
                                                "code": line.funding_basis.value}),
        *(ext(url.EXT_FUNDING_SHARE, extension=[
            ext("funder", valueReference=_funder(s.funder, person_id, name_of)),
            ext("percent", valueDecimal=number(s.percent))]) for s in line.funders),
        ext(url.EXT_SERVICE_LINE, extension=service_line)], "detail": detail}


def _coordinator(coordinator: CareCoordinator, name_of: NameOf) -> dict[str, Any]:
    participant: dict[str, Any] = {"role": [{"text": "Care coordinator"}],
                                   "member": {"display": coordinator.name}}
    if coordinator.organisation:
        participant["onBehalfOf"] = organisation(coordinator.organisation, name_of)
    return {"resourceType": "CareTeam", "id": COORDINATOR, "status": "active",
            "name": "Care coordinator", "participant": [participant]}


def to_json(stored: StoredPlan, name_of: NameOf) -> dict[str, Any]:
    plan = stored.state.plan
    data: dict[str, Any] = {"resourceType": "CarePlan", "id": plan.id,
                            "meta": meta(stored.version, stored.updated_at, url.AFTERCARE_PLAN)}
    if plan.care_coordinator:
        data["contained"] = [_coordinator(plan.care_coordinator, name_of)]
    if plan.needs:
        data["extension"] = [ext(url.EXT_ASSESSED_NEED, extension=[
            ext("category", valueCoding={"system": url.CS_NEED_CATEGORY, "code": n.category}),
            ext("arises-from-disorder", valueBoolean=n.arises_from_disorder),
            *([ext("note", valueString=n.note)] if n.note else [])]) for n in plan.needs]
    if plan.external_id and plan.external_system:
        data["identifier"] = [{"system": url.care_plan_id_system(plan.external_system),
                               "value": plan.external_id}]
    data.update({"status": plan.status.value, "intent": "plan", "title": TITLE,
                 "subject": {"reference": f"Patient/{stored.person_id}"}})
    if plan.agreed_on or plan.ends_on:
        data["period"] = {k: v.isoformat() for k, v in (("start", plan.agreed_on),
                                                       ("end", plan.ends_on)) if v}
    if plan.recorded_on:
        data["created"] = plan.recorded_on.isoformat()
    if plan.author:
        data["author"] = organisation(plan.author, name_of)
    if plan.care_coordinator:
        data["careTeam"] = [{"reference": f"#{COORDINATOR}"}]
    data["supportingInfo"] = [{"reference": f"EpisodeOfCare/{plan.entitlement_id}"}]
    if stored.state.lines:
        data["activity"] = [_activity(s, stored.person_id, name_of)
                            for s in stored.state.lines]
    return data


def to_fhir(stored: StoredPlan, name_of: NameOf) -> CarePlan:
    return CarePlan.model_validate(to_json(stored, name_of))


# -- FHIR -> domain -------------------------------------------------------------------------

@dataclass(frozen=True)
class PlanInput:
    """What a client sent, before the register checks it (RecordCarePlan without ids)."""

    person_id: int
    entitlement_id: str | None
    status: PlanStatus
    lines: tuple[ServiceLine, ...]
    needs: tuple[AssessedNeed, ...]
    care_coordinator: CareCoordinator | None
    agreed_on: date | None
    ends_on: date | None
    author: str | None
    external_id: str | None
    external_system: str | None


def _reference_id(ref: dict[str, Any] | None, kind: str, where: str) -> str:
    reference = (ref or {}).get("reference") or ""
    if not reference.startswith(f"{kind}/") or not reference[len(kind) + 1:]:
        raise InvalidData(f"expected a reference to {kind}/<id>, not {reference!r}", field=where)
    return reference[len(kind) + 1:]


def _payer(ref: dict[str, Any], person_id: int, where: str) -> str:
    reference = ref.get("reference") or ""
    if reference.startswith("Patient/"):
        if reference != f"Patient/{person_id}":
            raise InvalidData("only the person whose plan it is can pay a share", field=where)
        return PERSON
    identifier = ref.get("identifier") or {}
    if identifier.get("system") == url.PAYER:
        return str(identifier.get("value"))
    code = code_of_reference(ref)
    if not code:
        raise InvalidData("a funder is an Organization (reference or identifier), the "
                        "person's Patient, or housing benefit", field=where)
    return code


def _day(value: str | None, where: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise InvalidData(f"{value!r} is not a date", field=where) from None


def _line(activity: dict[str, Any], person_id: int, where: str,
          new_id: Callable[[], str]) -> ServiceLine:
    basis = extension(activity, url.EXT_FUNDING_BASIS)
    code = ((basis or {}).get("valueCoding") or {}).get("code")
    detail = activity.get("detail") or {}
    service = [c.get("code") for c in (detail.get("code") or {}).get("coding", [])
               if c.get("system") == url.CS_SERVICE_TYPE]
    if not service:
        raise InvalidData("the service type is a code of s117-service-type",
                        field=f"{where}.detail.code")
    shares = []
    for i, share in enumerate(extensions(activity, url.EXT_FUNDING_SHARE)):
        parts = {p.get("url"): p for p in share.get("extension") or []}
        at = f"{where}.extension.where(url='{url.EXT_FUNDING_SHARE}')[{i}]"
        shares.append(FundingShare(
            _payer((parts.get("funder") or {}).get("valueReference") or {}, person_id, at),
            decimal((parts.get("percent") or {}).get("valueDecimal"), at)))
    parts = {p.get("url"): p for p in (extension(activity, url.EXT_SERVICE_LINE) or {}).get(
        "extension") or []}
    cost = (parts.get("weekly-cost") or {}).get("valueMoney")
    period = detail.get("scheduledPeriod") or {}
    performer = (detail.get("performer") or [{}])[0]
    return ServiceLine(
        id=activity.get("id") or new_id(), service_type=ServiceType(service[0]),
        funding_basis=FundingBasis(code), funders=shares,
        weekly_cost=decimal(cost.get("value"), f"{where}.weekly-cost") if cost else None,
        provider=performer.get("display") or "", description=detail.get("description") or "",
        starts_on=_day(period.get("start"), f"{where}.detail.scheduledPeriod.start"),
        ends_on=_day(period.get("end"), f"{where}.detail.scheduledPeriod.end"),
        meets_disorder_need=(parts.get("meets-mental-disorder-need") or {}).get(
            "valueBoolean", True),
        health_care=(parts.get("health-care") or {}).get("valueBoolean"),
        needs=[c.get("code") for r in detail.get("reasonCode") or []
               for c in r.get("coding", []) if c.get("system") == url.CS_NEED_CATEGORY],
        requested_on=_day((parts.get("requested") or {}).get("valueDate"),
                          f"{where}.requested"))


def _coordinator_of(data: dict[str, Any]) -> CareCoordinator | None:
    refs = [r.get("reference", "") for r in data.get("careTeam") or []]
    if not refs:
        return None
    if len(refs) > 1 or not refs[0].startswith("#"):
        raise InvalidData("the care coordinator is one contained CareTeam (#id)",
                        field="CarePlan.careTeam")
    team = next((c for c in data.get("contained") or []
                 if c.get("resourceType") == "CareTeam" and c.get("id") == refs[0][1:]), None)
    participants = (team or {}).get("participant") or []
    name = ((participants[0] if participants else {}).get("member") or {}).get("display")
    if not name:
        raise InvalidData("the care coordinator's CareTeam names its member (member.display)",
                        field="CarePlan.contained")
    return CareCoordinator(name, code_of_reference(participants[0].get("onBehalfOf")))


def from_json(data: dict[str, Any], existing: AftercarePlan | None = None) -> PlanInput:
    """Read a CarePlan the profile has already accepted. A service without an `id` is a
    new line: it gets the next free number (the ids the server returns must be sent back
    to update a line rather than replace it)."""
    person_id = _reference_id(data.get("subject"), "Patient", "CarePlan.subject")
    if not person_id.isdigit():
        raise InvalidData(f"Patient/{person_id} is not a patient of this register",
                        field="CarePlan.subject")
    entitlements = [_reference_id(r, "EpisodeOfCare", f"CarePlan.supportingInfo[{i}]")
                    for i, r in enumerate(data.get("supportingInfo") or [])
                    if (r.get("reference") or "").startswith("EpisodeOfCare/")]
    if len(entitlements) > 1:
        raise InvalidData("a plan belongs to one entitlement", field="CarePlan.supportingInfo")
    try:
        status = PlanStatus(data.get("status"))
    except ValueError:
        raise InvalidData(f"status {data.get('status')!r}: a plan is draft, active, completed "
                        "or revoked", field="CarePlan.status") from None
    taken = {a.get("id") for a in data.get("activity") or []} | \
        {ln.id for ln in (existing.lines if existing else [])}
    counter = iter(range(1, 10_000))

    def new_id() -> str:
        found = next(str(n) for n in counter if str(n) not in taken)
        taken.add(found)
        return found

    lines = tuple(_line(a, int(person_id), f"CarePlan.activity[{i}]", new_id)
                  for i, a in enumerate(data.get("activity") or []))
    needs = []
    for need in extensions(data, url.EXT_ASSESSED_NEED):
        parts = {p.get("url"): p for p in need.get("extension") or []}
        needs.append(AssessedNeed(
            ((parts.get("category") or {}).get("valueCoding") or {}).get("code", ""),
            (parts.get("arises-from-disorder") or {}).get("valueBoolean", True),
            (parts.get("note") or {}).get("valueString", "")))
    external = [(i.get("system", ""), i.get("value")) for i in data.get("identifier") or []
                if i.get("system", "").startswith(url.care_plan_id_system(""))]
    period = data.get("period") or {}
    return PlanInput(
        person_id=int(person_id), entitlement_id=entitlements[0] if entitlements else None,
        status=status, lines=lines, needs=tuple(needs),
        care_coordinator=_coordinator_of(data),
        agreed_on=_day(period.get("start"), "CarePlan.period.start"),
        ends_on=_day(period.get("end"), "CarePlan.period.end"),
        author=code_of_reference(data.get("author")),
        external_id=external[0][1] if external else None,
        external_system=external[0][0].rsplit("/", 1)[1] if external else None)


def command(command_id: str, plan_id: str, given: PlanInput, nhs_number: str,
            if_version: int | None) -> c.RecordCarePlan:
    """The command a CarePlan write asks for: the whole plan, as the client sent it; the
    route has found the person (`nhs_number`) and the plan's id."""
    return c.RecordCarePlan(
        command_id=command_id, nhs_number=nhs_number, plan_id=plan_id,
        entitlement_id=given.entitlement_id, status=given.status, lines=given.lines,
        needs=given.needs, care_coordinator=given.care_coordinator, agreed_on=given.agreed_on,
        ends_on=given.ends_on, author=given.author, external_id=given.external_id,
        external_system=given.external_system, if_version=if_version)


def expression(field: str | None) -> str:
    """A register field (`lines[1].funders`) as the CarePlan element it came from."""
    if not field:
        return "CarePlan"
    head, _, rest = field.partition(".")
    if head.startswith("lines["):
        where = f"CarePlan.activity{head[5:]}"
        return {"funders": f"{where}.extension.where(url='{url.EXT_FUNDING_SHARE}')",
                "funding_basis": f"{where}.extension.where(url='{url.EXT_FUNDING_BASIS}')",
                "service_type": f"{where}.detail.code", "id": f"{where}.id",
                "needs": f"{where}.detail.reasonCode",
                "ends_on": f"{where}.detail.scheduledPeriod.end"}.get(
            rest, f"{where}.extension.where(url='{url.EXT_SERVICE_LINE}')")
    if head.startswith("needs["):
        return f"CarePlan.extension.where(url='{url.EXT_ASSESSED_NEED}'){head[5:]}"
    return {"plan_id": "CarePlan.id", "status": "CarePlan.status",
            "entitlement_id": "CarePlan.supportingInfo", "agreed_on": "CarePlan.period.start",
            "ends_on": "CarePlan.period.end", "author": "CarePlan.author",
            "care_coordinator": "CarePlan.contained",
            "care_coordinator.organisation": "CarePlan.contained"}.get(field, "CarePlan")
