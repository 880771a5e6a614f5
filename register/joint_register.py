"""The joint register the policies require (seeds 001, 002, 004): for each entitlement, who
is entitled and since when, the responsible bodies, the services and how their cost is split,
the last and next review, and the end date; and one row per service line. Pure: built from a
person's facts, entitlements and casework."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from register.casework import Casework, LineState, PlanState
from register.model import PERSON, Entitlement, FundingBasis, PersonFacts
from register.rules import reviews
from register.rules.funding import payer_kind
from register.rules.ports import RefData

ZERO = Decimal(0)


@dataclass(frozen=True)
class RegisterRow:
    nhs_number: str
    name: str  # the current name (PID-5, Patient.name); the register's readers see the person
    date_of_birth: date | None
    entitlement_id: str
    status: str
    planned_on: date
    entitled_since: date | None
    ended_on: date | None
    end_reasons: str
    responsible_la: str | None
    responsible_la_name: str | None
    responsible_icb: str | None
    responsible_icb_name: str | None
    commissioning_body: str | None
    paying_body: str | None
    residence_la: str | None
    out_of_area: bool
    dispute: str | None
    plan: str | None
    plan_status: str | None
    care_coordinator: str | None
    services: str
    weekly_cost_s117: Decimal
    weekly_la_share: Decimal
    weekly_nhs_share: Decimal
    weekly_person_top_up: Decimal
    last_review_on: date | None
    next_review_due: date | None
    review_overdue: bool
    flags: str
    needs_review: str


@dataclass(frozen=True)
class ServiceRow:
    nhs_number: str
    entitlement_id: str
    plan: str
    line: str
    service_type: str
    provider: str
    starts_on: date | None
    ends_on: date | None
    weekly_cost: Decimal | None
    funding_basis: str
    funders: str
    meets_disorder_need: bool
    panel: str
    funding_requested_on: date | None
    panel_decided_on: date | None
    days_to_decision: int | None  # request to decision, or to `on` while it waits


def _plan_name(state: PlanState) -> str:
    return state.plan.external_id or state.plan.id


def _funders(state: LineState) -> str:
    return "; ".join(f"{s.funder} {s.percent.normalize():f}%" for s in state.line.funders)


def rows_for(facts: PersonFacts, entitlement: Entitlement, residence_la: str | None,
             due: date | None, casework: Casework, on: date, refdata: RefData
             ) -> tuple[RegisterRow, list[ServiceRow]]:
    """One entitlement's row and its service lines; `due` is the next review as stored
    (with the locality policy in force when the person last changed)."""
    cur = entitlement.responsibility_on(on)  # the holder timeline's segment on the date
    la, icb = (cur.local_authority, cur.icb) if cur else (None, None)
    plans = [p for p in casework.plans if p.plan.entitlement_id == entitlement.id]
    plan = next((p for p in plans if p.plan.status.value == "active"), plans[-1]
                if plans else None)
    held = reviews.reviews_since_start(entitlement, facts.reviews)
    shares = {"la": ZERO, "nhs": ZERO, PERSON: ZERO, "total": ZERO}
    services, described = [], []
    for state in plans:
        for ls in state.lines:
            line = ls.line
            decided = ls.decision.decided_on if ls.decision else None
            # Without a request date, when the register was told of the plan stands in,
            # but only if it came first: a decision recorded with a plan told of later has
            # no known wait (never a negative one).
            requested = line.requested_on or state.plan.recorded_on
            if line.requested_on is None and requested and requested > (decided or on):
                requested = None
            waited = ((decided or on) - requested).days if requested and (
                decided or ls.panel.value in ("pending", "deferred")) else None
            services.append(ServiceRow(
                facts.nhs_number, entitlement.id, _plan_name(state), line.id,
                line.service_type.value, line.provider, line.starts_on, line.ends_on,
                line.weekly_cost, line.funding_basis.value, _funders(ls),
                ls.meets_disorder_need, ls.panel.value, line.requested_on, decided, waited))
            if state is not plan or (line.ends_on and line.ends_on <= on):
                continue
            cost = line.weekly_cost or ZERO
            described.append(f"{line.service_type.value}"
                             + (f" ({line.provider})" if line.provider else "")
                             + f" £{cost:,.2f}/wk {line.funding_basis.value}: {_funders(ls)}")
            if line.funding_basis is FundingBasis.S117:
                shares["total"] += cost
            for share in line.funders:
                kind = payer_kind(share.funder, refdata)
                if kind in ("la", "nhs") and line.funding_basis is FundingBasis.S117:
                    shares[kind] += cost * share.percent / 100
                elif kind == PERSON and line.funding_basis is FundingBasis.S117A_TOP_UP:
                    shares[PERSON] += cost * share.percent / 100
    disputes = [d for d in entitlement.disputes if d.is_open]
    active = sorted(a.code.value for a in casework.alerts
                    if a.entitlement_id == entitlement.id and a.active_on(on))
    status = entitlement.status_on(on)
    return RegisterRow(
        nhs_number=facts.nhs_number,
        name=name.text if (name := facts.current_name()) else "",
        date_of_birth=facts.date_of_birth,
        entitlement_id=entitlement.id, status=(status or entitlement.status).value,
        planned_on=entitlement.planned_on, entitled_since=reviews.last_started(entitlement),
        ended_on=entitlement.ended_on, end_reasons="; ".join(entitlement.end_reasons),
        responsible_la=la, responsible_la_name=refdata.name(la) if la else None,
        responsible_icb=icb, responsible_icb_name=refdata.name(icb) if icb else None,
        commissioning_body=cur.commissioning_body if cur else None,
        paying_body=cur.paying_body if cur else None, residence_la=residence_la,
        out_of_area=bool(residence_la and la and residence_la != la),
        dispute=disputes[0].status.value if disputes else None,
        plan=_plan_name(plan) if plan else None,
        plan_status=plan.plan.status.value if plan else None,
        care_coordinator=entitlement.care_coordinator, services=" | ".join(described),
        weekly_cost_s117=shares["total"].quantize(Decimal("0.01")),
        weekly_la_share=shares["la"].quantize(Decimal("0.01")),
        weekly_nhs_share=shares["nhs"].quantize(Decimal("0.01")),
        weekly_person_top_up=shares[PERSON].quantize(Decimal("0.01")),
        last_review_on=held[-1].on if held else None, next_review_due=due,
        review_overdue=reviews.overdue(due, on), flags="; ".join(active),
        needs_review="; ".join(entitlement.needs_review)), services
