"""F: funding and charging of the services of an aftercare plan.

Each check raises a RuleViolation naming the rule and the field (`lines[i].<field>`, the
i-th service line of the plan as given), so every edge can point at the line at fault: a
FHIR `CarePlan.activity[i]`, a council file row.
"""

from __future__ import annotations

import re
from decimal import Decimal

from register.errors import InvalidData, RuleViolation
from register.model import (
    HOUSING_BENEFIT,
    NEED_CATEGORIES,
    PERSON,
    PERSONAL_BUDGETS,
    AftercarePlan,
    FundingBasis,
    ServiceLine,
)
from register.rules.ports import RefData

HUNDRED = Decimal(100)
_LA = re.compile(r"^[EW]0[6-9]\d{6}$|^E10\d{6}$")
_NHS = re.compile(r"^[A-Z0-9]{3,5}$")
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def payer_kind(funder: str, refdata: RefData) -> str | None:
    """`la`, `nhs`, `person`, `housing-benefit`, or None for a payer the register does not
    know (a council by GSS code, an ICB or sub-ICB location by ODS code)."""
    if funder in (PERSON, HOUSING_BENEFIT):
        return funder
    if refdata.name(funder) is None:
        return None
    if _LA.match(funder):
        return "la"
    return "nhs" if _NHS.match(funder) else None


def meets_disorder_need(line: ServiceLine, plan: AftercarePlan) -> bool:
    """The line meets a need arising from the mental disorder: it says so, or it meets a
    need the plan's assessment found to arise from it."""
    arising = {n.category for n in plan.needs if n.arises_from_disorder}
    return line.meets_disorder_need or bool(arising & set(line.needs))


def check_plan(plan: AftercarePlan, refdata: RefData) -> None:
    """F1-F5 and the shape of a plan, first fault first."""
    if not _ID.match(plan.id):
        raise InvalidData(f"plan id {plan.id!r} must be 1-64 letters, digits, '-' or '.'",
                          field="plan_id")
    seen_needs: set[str] = set()
    for i, need in enumerate(plan.needs):
        if need.category not in NEED_CATEGORIES:
            raise InvalidData(f"{need.category!r} is not a need category of the Code of "
                              "Practice 34.19 list", field=f"needs[{i}].category")
        if need.category in seen_needs:
            raise InvalidData(f"need {need.category!r} is assessed twice",
                              field=f"needs[{i}].category")
        seen_needs.add(need.category)
    if plan.care_coordinator is not None and not plan.care_coordinator.name.strip():
        raise InvalidData("a care coordinator needs a name", field="care_coordinator")
    ids: set[str] = set()
    for i, line in enumerate(plan.lines):
        if not _ID.match(line.id):
            raise InvalidData(f"service line id {line.id!r} must be 1-64 letters, digits, "
                              "'-' or '.'", field=f"lines[{i}].id")
        if line.id in ids:
            raise InvalidData(f"service line id {line.id!r} is used twice",
                              field=f"lines[{i}].id")
        ids.add(line.id)
        check_line(line, plan, refdata, f"lines[{i}]")
    _check_top_ups(plan)


def check_line(line: ServiceLine, plan: AftercarePlan, refdata: RefData, where: str) -> None:
    _check_shape(line, where)
    kinds = _check_funders(line, refdata, where)
    basis, accommodation = line.funding_basis, line.is_accommodation
    arising = meets_disorder_need(line, plan)
    # F1 with F4: what meets a need arising from the disorder is s117 and free.
    if arising and basis not in (FundingBasis.S117, FundingBasis.S117A_TOP_UP):
        rule = "F4" if accommodation else "F1"
        raise RuleViolation(
            f"{line.service_type.value} meets a need arising from the mental disorder: it is "
            f"an s117 service, free to the person, not {basis.value}"
            + (" (specialist accommodation must not be funded by the person or housing "
               "benefit)" if accommodation else ""), rule=rule, field=f"{where}.funding_basis")
    if basis is FundingBasis.S117:
        if not arising:
            raise RuleViolation(
                "an s117 service must meet a need arising from the mental disorder "
                "(s117(6)); a need that does not is met under the Care Act, CHC or FNC",
                rule="F2", field=f"{where}.meets_disorder_need")
        for _, kind in kinds:
            if kind in (PERSON, HOUSING_BENEFIT):
                rule = "F4" if accommodation or kind == HOUSING_BENEFIT else "F1"
                raise RuleViolation(
                    f"an s117 {line.service_type.value} service may not be paid by "
                    f"{'the person' if kind == PERSON else 'housing benefit'}: s117 services "
                    "are free; a top-up for a preferred placement is recorded as its own "
                    "s117a-top-up line", rule=rule, field=f"{where}.funders")
    if basis is FundingBasis.S117A_TOP_UP:
        if not accommodation:
            raise RuleViolation("an s117A top-up pays for a preferred, more expensive "
                                "placement: only accommodation can be topped up", rule="F4",
                                field=f"{where}.service_type")
        if any(kind != PERSON for _, kind in kinds):
            raise RuleViolation("an s117A top-up is the person's own payment: its funder is "
                                f"'{PERSON}'", rule="F4", field=f"{where}.funders")
    la_share = sum((line.share_of(f) for f, kind in kinds if kind == "la"), Decimal(0))
    if line.is_health_care and la_share == HUNDRED:
        raise RuleViolation(f"{line.service_type.value} is health care: a local authority "
                            "cannot fund it alone", rule="F3", field=f"{where}.funders")
    if line.service_type in PERSONAL_BUDGETS and line.requested_on is None:
        raise RuleViolation(f"a {line.service_type.value} records the date it was requested "
                            "(and its decision, by the panel)", rule="F5",
                            field=f"{where}.requested_on")


def _check_shape(line: ServiceLine, where: str) -> None:
    if line.starts_on and line.ends_on and line.ends_on < line.starts_on:
        raise InvalidData(f"the service ends ({line.ends_on}) before it starts "
                          f"({line.starts_on})", field=f"{where}.ends_on")
    if line.weekly_cost is not None and line.weekly_cost < 0:
        raise InvalidData("a weekly cost cannot be negative", field=f"{where}.weekly_cost")
    for need in line.needs:
        if need not in NEED_CATEGORIES:
            raise InvalidData(f"{need!r} is not a need category of the Code of Practice 34.19 "
                              "list", field=f"{where}.needs")


def _check_funders(line: ServiceLine, refdata: RefData,
                   where: str) -> list[tuple[str, str]]:
    """F2: funders are known, each once, with shares in (0, 100] that add up to 100."""
    if not line.funders:
        raise RuleViolation(f"{line.service_type.value} has no funder: every service line "
                            "says who pays", rule="F2", field=f"{where}.funders")
    kinds: list[tuple[str, str]] = []
    for share in line.funders:
        kind = payer_kind(share.funder, refdata)
        if kind is None:
            raise RuleViolation(f"unknown funder {share.funder!r}: a council (GSS code), an "
                                f"ICB or sub-ICB location (ODS code), '{PERSON}' or "
                                f"'{HOUSING_BENEFIT}'", rule="F2", field=f"{where}.funders")
        if any(f == share.funder for f, _ in kinds):
            raise RuleViolation(f"funder {share.funder} is named twice", rule="F2",
                                field=f"{where}.funders")
        if not Decimal(0) < share.percent <= HUNDRED:
            raise RuleViolation(f"share of {share.funder} is {share.percent}%: each share is "
                                "more than 0 and at most 100", rule="F2",
                                field=f"{where}.funders")
        kinds.append((share.funder, kind))
    total = sum((s.percent for s in line.funders), Decimal(0))
    if total != HUNDRED:
        raise RuleViolation(f"the funders' shares of {line.service_type.value} add up to "
                            f"{total.normalize():f}%, not 100%", rule="F2",
                            field=f"{where}.funders")
    return kinds


def _check_top_ups(plan: AftercarePlan) -> None:
    top_ups = [i for i, ln in enumerate(plan.lines)
               if ln.funding_basis is FundingBasis.S117A_TOP_UP]
    placements = [ln for ln in plan.lines
                  if ln.funding_basis is FundingBasis.S117 and ln.is_accommodation]
    if top_ups and not placements:
        raise RuleViolation("an s117A top-up tops up an s117 placement: the plan has no "
                            "accommodation funded under s117", rule="F4",
                            field=f"lines[{top_ups[0]}].funding_basis")
