"""Every report by its name: what the pages list and `s117 report NAME` takes."""

from __future__ import annotations

from collections.abc import Callable

from register.reports import Inputs, Report
from register.reports.caseloads import by_body, out_of_area
from register.reports.flags import ombudsman_flags
from register.reports.flows import flows
from register.reports.reviews import compliance, overdue
from register.reports.spend import spend

REPORTS: dict[str, tuple[str, Callable[[Inputs], Report]]] = {
    "review-compliance": ("Review compliance by month or quarter", compliance),
    "overdue-reviews": ("Reviews overdue today, by how long", overdue),
    "entitlement-flows": ("New entitlements and discharges from s117 by month", flows),
    "entitled-by-body": ("Entitled people by responsible council and ICB", by_body),
    "out-of-area": ("Out-of-area placements between areas", out_of_area),
    "spend": ("Weekly spend by funder and funding basis", spend),
    "ombudsman-flags": ("Ombudsman flags (O1-O4): in force, raised and cleared", ombudsman_flags),
}
PERIODS = ("month", "quarter")


def build(name: str, inputs: Inputs) -> Report:
    """The report; KeyError for a name not in REPORTS."""
    return REPORTS[name][1](inputs)
