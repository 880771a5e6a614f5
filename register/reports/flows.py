"""Entitlements begun and ended by month: aftercare starting (E1, including a reinstated
or renewed entitlement) and discharge from s117 (the joint end decision D1, or death)."""

from __future__ import annotations

from register.model import EntitlementStatus
from register.reports import Chart, Inputs, Report
from register.reports.periods import label, window


def flows(inputs: Inputs) -> Report:
    periods = window(inputs.on, "month")
    began = dict.fromkeys(periods, 0)
    ended = dict.fromkeys(periods, 0)
    for case in inputs.cases:
        for stored in case.entitlements:
            for change in stored.entitlement.status_history:
                counts = {EntitlementStatus.ACTIVE: began,
                          EntitlementStatus.ENDED: ended}.get(change.status)
                month = label(change.on, "month")
                if counts is not None and month in counts and change.on <= inputs.on:
                    counts[month] += 1
    return Report(
        "entitlement-flows", "New entitlements and discharges from s117 by month",
        "Aftercare beginning (the person left hospital after a qualifying detention, or "
        "their aftercare was reinstated) and ending (a joint decision that the person no "
        "longer needs aftercare, or their death), in each of the last twelve months.",
        ("month", "aftercare began", "discharged from s117"),
        tuple((m, began[m], ended[m]) for m in periods),
        Chart("bar", "month", ("aftercare began", "discharged from s117"), "Month",
              "Entitlements"))
