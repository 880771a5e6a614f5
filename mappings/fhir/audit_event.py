"""An audit record -> FHIR R4 AuditEvent, in the shape of IHE Basic Audit Log Patterns (BALP):
type `rest` with the FHIR interaction as subtype, the client as requestor agent (its
organisation, the token's subject, its network address), the register as source, and as
entities the resources the request read or wrote, the people they belong to (role patient),
and for a search its query."""

from __future__ import annotations

import base64
from typing import Any

from fhir.resources.R4B.auditevent import AuditEvent

from fhir_profiles import canonical as url
from mappings.fhir.common import NameOf, instant
from mappings.fhir.provenance import organisation
from register.store.audit import AuditRecord

OUTCOME_TEXT = {"0": "success", "4": "refused or invalid (the caller's failure)",
                "8": "failed (the server's failure)"}
INTERACTIONS = {"read", "vread", "update", "patch", "delete", "history-instance",
                "history-type", "create", "search-type", "search", "capabilities",
                "transaction", "batch", "operation"}
# AuditEvent.entity.type (http://terminology.hl7.org/CodeSystem/audit-entity-type)
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"


def _subtype(record: AuditRecord) -> list[dict[str, Any]]:
    if record.subtype in INTERACTIONS:
        return [{"system": url.RESTFUL_INTERACTION, "code": record.subtype}]
    interaction = "operation" if record.subtype.startswith("$") else None
    out = [{"system": url.RESTFUL_INTERACTION, "code": interaction}] if interaction else []
    return out + [{"display": record.subtype}]


def _entity(reference: str, role: str) -> dict[str, Any]:
    if role == "message":
        return {"what": {"identifier": {"system": url.HL7V2_MESSAGE_ID, "value": reference}},
                "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"}}
    return {"what": {"reference": reference},
            "type": {"system": ENTITY_TYPE, "code": "1" if role == "patient" else "2",
                     "display": "Person" if role == "patient" else "System Object"},
            "role": {"system": OBJECT_ROLE, "code": "1" if role == "patient" else "4",
                     "display": "Patient" if role == "patient" else "Domain Resource"}}


def to_json(record: AuditRecord, name_of: NameOf) -> dict[str, Any]:
    requestor: dict[str, Any] = {
        "type": {"coding": [{"system": "http://dicom.nema.org/resources/ontology/DCM",
                             "code": "110153", "display": "Source Role ID"}]},
        "who": organisation(record.agent_org, record.agent_type, name_of)
        if record.agent_org else {"display": "no valid credentials"},
        "requestor": True}
    if record.agent_who:
        requestor["altId"] = record.agent_who
    if record.client_address:
        requestor["network"] = {"address": record.client_address, "type": "2"}
    entities = [_entity(ref, role) for ref, role in record.entities]
    if record.query:
        entities.append({"type": {"system": ENTITY_TYPE, "code": "2"},
                         "role": {"system": OBJECT_ROLE, "code": "24", "display": "Query"},
                         "query": base64.b64encode(record.query.encode()).decode()})
    data: dict[str, Any] = {
        "resourceType": "AuditEvent", "id": str(record.id),
        "type": {"system": url.AUDIT_EVENT_TYPE, "code": "rest",
                 "display": "Restful Operation"},
        "subtype": _subtype(record), "action": record.action,
        "recorded": instant(record.recorded_at), "outcome": record.outcome,
        "outcomeDesc": "; ".join(filter(None, (
            f"HTTP {record.status}" if record.status else None,
            OUTCOME_TEXT.get(record.outcome), record.detail))),
        "agent": [requestor],
        "source": {"site": record.path, "observer": {"display": "s117-register"},
                   "type": [{"system": url.SECURITY_SOURCE_TYPE, "code": "4",
                             "display": "Application Server"}]},
        # BALP's transaction entity: the request id, as in the access log and X-Request-ID
        "entity": [{"what": {"identifier": {"system": url.REQUEST_ID,
                                            "value": record.request_id}},
                    "type": {"system": ENTITY_TYPE, "code": "2",
                             "display": "System Object"}}, *entities],
    }
    return data


def to_fhir(record: AuditRecord, name_of: NameOf) -> AuditEvent:
    return AuditEvent.model_validate(to_json(record, name_of))
