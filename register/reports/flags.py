"""The Ombudsman's recurring failures (RULES.md O1-O4) counted: for each flag, how many
people have it in force today, how many were raised and cleared in the last twelve months,
and how many have been raised for more than three months without being put right."""

from __future__ import annotations

from datetime import timedelta

from register.casework import OMBUDSMAN
from register.reports import Chart, Inputs, Report
from register.rules.reviews import add_months

TITLES = {"O1": "O1 no plan at discharge", "O2": "O2 no assessment in the first-review window",
          "O3": "O3 entitlement not acknowledged", "O4": "O4 charged for s117 services"}


def ombudsman_flags(inputs: Inputs) -> Report:
    year_ago = add_months(inputs.on, -12)
    counts = {rule: [0, 0, 0, 0] for rule in OMBUDSMAN.values()}
    for case in inputs.cases:
        visible = {s.entitlement.id for s in case.entitlements}
        for alert in case.casework.alerts:
            rule = OMBUDSMAN.get(alert.code)
            if rule is None or alert.entitlement_id not in visible:
                continue
            row = counts[rule]
            if alert.active_on(inputs.on):
                row[0] += 1
                row[3] += inputs.on - alert.since > timedelta(days=91)
            row[1] += year_ago < alert.since <= inputs.on
            row[2] += alert.until is not None and year_ago < alert.until <= inputs.on
    return Report(
        "ombudsman-flags", f"Ombudsman flags on {inputs.on:%-d %B %Y}",
        "The failures the Local Government and Social Care Ombudsman keeps finding, raised "
        "and cleared by the register as the facts change: no aftercare plan on the discharge "
        "date (O1), no assessment or s117 meeting within the first-review window (O2), the "
        "entitlement not acknowledged by the responsible bodies (O3), and people charged for "
        "services s117 makes free until refunded (O4). The people are on the caseload page "
        "(Ombudsman flags) and in s117 flags.",
        ("flag", "in force now", "raised in the last 12 months",
         "cleared in the last 12 months", "in force over 3 months"),
        tuple((TITLES[rule], *row) for rule, row in counts.items()),
        Chart("barh", "flag", ("in force now", "raised in the last 12 months",
                               "cleared in the last 12 months"), "Flag", "People"))
