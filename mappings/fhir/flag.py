"""Alerts -> S117Flag (UK Core Flag). Set by the register, never written by clients. A flag
is `active` on the days its period covers (so "review overdue" becomes active the day after
the review was due, by itself); ids are `<patient id>-<key>`."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fhir.resources.R4B.flag import Flag

from fhir_profiles import canonical as url
from mappings.fhir.common import NameOf, instant, org_reference
from register.casework import Alert, AlertCode

DISPLAY = {AlertCode.ENTITLED: "Entitled to free s117 aftercare",
           AlertCode.DISPUTED: "Responsibility disputed",
           AlertCode.REVIEW_OVERDUE: "Review overdue",
           AlertCode.NO_PLAN: "No aftercare plan",
           AlertCode.NO_ASSESSMENT: "No assessment",
           AlertCode.NOT_ACKNOWLEDGED: "Entitlement not acknowledged",
           AlertCode.CHARGED: "Charged for s117 services",
           AlertCode.NO_COORDINATOR: "No care coordinator"}


def to_json(person_id: int, updated: datetime, alert: Alert, name_of: NameOf,
            today: date) -> dict[str, Any]:
    period = {"start": alert.since.isoformat()}
    if alert.until:
        period["end"] = alert.until.isoformat()
    data: dict[str, Any] = {
        "resourceType": "Flag", "id": f"{person_id}-{alert.key}",
        "meta": {"lastUpdated": instant(updated), "profile": [url.FLAG]},
        "status": "active" if alert.active_on(today) else "inactive",
        "category": [{"coding": [{"system": url.FLAG_CATEGORY, "code": "admin",
                                  "display": "Administrative"}]}],
        "code": {"coding": [{"system": url.CS_FLAG, "code": alert.code.value,
                             "display": DISPLAY[alert.code]}],
                 "text": f"{alert.reason} (rule {alert.rule_id})"},
        "subject": {"reference": f"Patient/{person_id}"}, "period": period}
    if alert.owner:
        data["author"] = org_reference(alert.owner, name_of)
    return data


def to_fhir(person_id: int, updated: datetime, alert: Alert, name_of: NameOf,
            today: date) -> Flag:
    return Flag.model_validate(to_json(person_id, updated, alert, name_of, today))
