"""An applied command -> FHIR R4 Provenance: what it wrote (each new version), when, who
asked (the organisation, and the person or system within it), and the message or request it
came from."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.provenance import Provenance

from fhir_profiles import canonical as url
from mappings.fhir.common import NameOf, instant
from register.store.provenance import ProvenanceRecord

ORG_SYSTEM = {"la": url.GSS_CODE, "icb": url.ODS_CODE, "trust": url.ODS_CODE}


def organisation(org: str | None, kind: str | None, name_of: NameOf) -> dict[str, Any]:
    """A reference to the acting organisation by its code (admins have no public code)."""
    if not org:
        return {"display": "s117 register (before access control)"}
    ref: dict[str, Any] = {"display": name_of(org) or org}
    if kind in ORG_SYSTEM:
        ref["identifier"] = {"system": ORG_SYSTEM[kind], "value": org}
    return ref


def to_json(record: ProvenanceRecord, name_of: NameOf) -> dict[str, Any]:
    agent: dict[str, Any] = {
        "type": {"coding": [{"system": url.PROVENANCE_AGENT_TYPE, "code": "author"}]},
        "who": organisation(record.agent_org, record.agent_type, name_of)}
    if record.agent_who:
        agent["who"] = {"display": record.agent_who}
        agent["onBehalfOf"] = organisation(record.agent_org, record.agent_type, name_of)
    created = any(t.endswith("/_history/1") for t in record.targets)
    return {
        "resourceType": "Provenance", "id": str(record.id),
        "target": [{"reference": t} for t in record.targets],
        "recorded": instant(record.recorded_at),
        "activity": {"coding": [{"system": url.DATA_OPERATION,
                                 "code": "CREATE" if created else "UPDATE"}],
                     "text": record.kind},
        "agent": [agent],
        "entity": [{"role": "source", "what": {"identifier": {
            "system": url.COMMAND_ID, "value": record.command_id}}}],
    }


def to_fhir(record: ProvenanceRecord, name_of: NameOf) -> Provenance:
    return Provenance.model_validate(to_json(record, name_of))
