"""Reference-data organisation -> UK Core Organization (LA, ICB, sub-ICB location)."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.organization import Organization

from fhir_profiles import canonical as url
from register.refdata.shipped import OrganisationRecord

KINDS = {"la": "Local authority", "icb": "Integrated care board",
         "sub_icb": "Sub-ICB location (former CCG)"}


def to_json(org: OrganisationRecord) -> dict[str, Any]:
    identifiers = []
    if org.gss_code:
        identifiers.append({"system": url.GSS_CODE, "value": org.gss_code})
    if org.ods_code:
        identifiers.append({"system": url.ODS_CODE, "value": org.ods_code})
    data: dict[str, Any] = {
        "resourceType": "Organization", "id": org.code,
        "meta": {"profile": [url.UKCORE_ORGANIZATION]},
        "identifier": identifiers or [{"system": url.ODS_CODE, "value": org.code}],
        "active": org.valid_to is None,
        "type": [{"text": KINDS.get(org.kind, org.kind)}],
        "name": org.name,
    }
    if org.parent_code:
        data["partOf"] = {"reference": f"Organization/{org.parent_code}"}
    return data


def to_fhir(org: OrganisationRecord) -> Organization:
    return Organization.model_validate(to_json(org))
