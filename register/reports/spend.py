"""Spend by funder and funding basis: the weekly cost of the service lines in force today
in the aftercare plans of people receiving aftercare, split by each funder's share (F2)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from register.model import HOUSING_BENEFIT, PERSON, EntitlementStatus, PlanStatus
from register.reports import Chart, Inputs, Report, named

FUNDER_NAMES = {PERSON: "the person (top-up)", HOUSING_BENEFIT: "housing benefit"}


def spend(inputs: Inputs) -> Report:
    weekly: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for case in inputs.cases:
        for stored in case.entitlements:
            ent = stored.entitlement
            if ent.status_on(inputs.on) is not EntitlementStatus.ACTIVE:
                continue
            for state in case.casework.plans:
                plan = state.plan
                if plan.entitlement_id != ent.id or plan.status is not PlanStatus.ACTIVE:
                    continue
                for line in plan.lines:
                    if (line.starts_on and line.starts_on > inputs.on) or (
                            line.ends_on and line.ends_on <= inputs.on):
                        continue
                    for share in line.funders:
                        funder = FUNDER_NAMES.get(share.funder) or named(share.funder,
                                                                         inputs.name_of)
                        weekly[funder][line.funding_basis.value] += \
                            (line.weekly_cost or Decimal(0)) * share.percent / 100
    bases = tuple(sorted({b for f in weekly.values() for b in f}))
    rows = tuple((funder, *(round(float(weekly[funder][b]), 2) for b in bases),
                  round(float(sum(weekly[funder].values())), 2))
                 for funder in sorted(weekly))
    return Report(
        "spend", "Weekly spend by funder and funding basis",
        "The weekly cost, in pounds, of the services in force today in the aftercare plans "
        "of people receiving aftercare, split by each funder's share, by funding basis "
        "(s117 aftercare, or services outside it such as a top-up or continuing "
        "healthcare).",
        ("funder", *bases, "total per week"), rows,
        Chart("stacked", "funder", bases, "Funder", "Pounds per week"))
