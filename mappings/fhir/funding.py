"""Entitlement -> S117Funding (Coverage): one Coverage per responsible body. The council's is
s117 social care, the ICB's s117 health; for rule N4 the ICB's also names the paying body.
Aftercare is free (F1), so the cost to the person is always zero."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.coverage import Coverage

from fhir_profiles import canonical as url
from mappings.fhir.common import NameOf, ext, meta, org_identifier, org_reference
from register.model import EntitlementStatus
from register.ports import StoredEntitlement

ROLES = {"la": ("s117-social-care", "Section 117 social care"),
         "icb": ("s117-health", "Section 117 health care")}


def coverage_ids(stored: StoredEntitlement) -> list[str]:
    cur = stored.entitlement.current
    if cur is None:
        return []
    return [f"{stored.entitlement.id}-{role}" for role, code in
            (("la", cur.local_authority), ("icb", cur.icb)) if code]


def split_id(coverage_id: str) -> tuple[str, str] | None:
    entitlement_id, _, role = coverage_id.rpartition("-")
    return (entitlement_id, role) if role in ROLES and entitlement_id else None


def to_json(stored: StoredEntitlement, role: str, name_of: NameOf) -> dict[str, Any] | None:
    ent, cur = stored.entitlement, stored.entitlement.current
    payor = (cur.local_authority if role == "la" else cur.icb) if cur else None
    if cur is None or payor is None:
        return None
    code, display = ROLES[role]
    data: dict[str, Any] = {
        "resourceType": "Coverage", "id": f"{ent.id}-{role}",
        "meta": meta(stored.version, stored.updated_at, url.FUNDING),
        "status": "cancelled" if ent.status is EntitlementStatus.CANCELLED else "active",
        "type": {"coding": [{"system": url.CS_COVERAGE_TYPE, "code": code,
                             "display": display}]},
        "beneficiary": {"reference": f"Patient/{stored.person_id}"},
        "payor": [org_reference(payor, name_of)],
        "period": {"start": cur.effective_from.isoformat(),
                   **({"end": ent.ended_on.isoformat()} if ent.ended_on else {})},
        "costToBeneficiary": [{"valueMoney": {"value": 0, "currency": "GBP"}}],
    }
    if role == "icb" and cur.paying_body:
        parts = [ext("original", valueIdentifier=org_identifier(cur.paying_body))]
        if cur.paying_icb:
            parts.append(ext("successor", valueIdentifier=org_identifier(cur.paying_icb)))
        data["extension"] = [ext(url.EXT_PAYING_BODY, extension=parts)]
    return data


def to_fhir(stored: StoredEntitlement, role: str, name_of: NameOf) -> Coverage | None:
    data = to_json(stored, role, name_of)
    return Coverage.model_validate(data) if data else None
