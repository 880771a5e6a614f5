"""Hospital stay <-> S117Detention (UK Core Encounter): the stay, every legal status period
in order (project extension) and the UK Core legal status on admission and discharge."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fhir.resources.R4B.encounter import Encounter

from fhir_profiles import canonical as url
from mappings.fhir.common import (
    NameOf,
    clinical,
    code_of_reference,
    ext,
    extensions,
    local_id,
    logical_reference,
    meta,
    naive_clinical,
    sub,
)
from register import legal_status
from register.model import LegalStatusPeriod, Stay
from register.ports import StoredEntitlement, StoredPerson

_NAMESPACE = uuid.UUID("a5d0c0de-117e-4c0b-8d11-e4c0de5e1117")


def encounter_id(person_id: int, stay: Stay) -> str:
    """Opaque and stable; the person id prefix lets a read find the stay without an index.
    The trust's visit number never appears in a URL."""
    return f"{person_id}-{uuid.uuid5(_NAMESPACE, stay.key).hex[:16]}"


def person_of(encounter_id_: str) -> int | None:
    head, _, tail = encounter_id_.partition("-")
    return local_id(head) if len(tail) == 16 else None


def find_stay(person: StoredPerson, encounter_id_: str) -> Stay | None:
    return next((s for s in person.facts.stays
                 if encounter_id(person.id, s) == encounter_id_), None)


@dataclass(frozen=True)
class DetentionView:
    stay_key: str
    trust_ods: str
    admitted_at: datetime
    discharged_at: datetime | None
    cancelled: bool
    legal_status: tuple[LegalStatusPeriod, ...]


def view_of(stay: Stay) -> DetentionView:
    return DetentionView(stay.key, stay.trust_ods, stay.admitted_at, stay.discharged_at,
                         stay.cancelled, tuple(stay.legal_status))


def _coding(code: str) -> dict[str, Any]:
    return {"system": url.UKCORE_LEGAL_STATUS_CS, "code": code,
            "display": legal_status.lookup(code).display}


def _ukcore(code: str, context: str) -> dict[str, Any]:
    return ext(url.UKCORE_LEGAL_STATUS, extension=[
        ext("legalStatusClassification", valueCodeableConcept={"coding": [_coding(code)]}),
        ext("legalStatusContext", valueCodeableConcept={"coding": [
            {"system": url.UKCORE_LEGAL_STATUS_CONTEXT_CS, "code": context}]})])


def _period(p: LegalStatusPeriod) -> dict[str, Any]:
    period = {"start": clinical(p.start), **({"end": clinical(p.end)} if p.end else {})}
    return ext(url.EXT_LEGAL_STATUS_PERIOD, extension=[
        ext("code", valueCodeableConcept={"coding": [_coding(p.code)]}),
        ext("period", valuePeriod=period), ext("restricted", valueBoolean=p.restricted)])


def _status(stay: Stay) -> str:
    if stay.cancelled:
        return "cancelled"
    return "finished" if stay.discharged_at else "in-progress"


def to_json(person: StoredPerson, stay: Stay, entitlements: list[StoredEntitlement],
            name_of: NameOf) -> dict[str, Any]:
    statuses = stay.legal_status
    extension = [_ukcore(statuses[0].code, "admission")] if statuses else []
    if statuses and stay.discharged_at:
        extension.append(_ukcore(statuses[-1].code, "discharge"))
    extension += [_period(p) for p in statuses]
    data: dict[str, Any] = {
        "resourceType": "Encounter", "id": encounter_id(person.id, stay),
        "meta": meta(person.version, person.updated_at, url.DETENTION),
        "identifier": [{"system": url.STAY_ID, "value": stay.key}],
        "status": _status(stay),
        "class": {"system": url.V3_ACT_CODE, "code": "IMP", "display": "inpatient encounter"},
        "subject": {"reference": f"Patient/{person.id}"},
        "period": {"start": clinical(stay.admitted_at),
                   **({"end": clinical(stay.discharged_at)} if stay.discharged_at else {})},
        "serviceProvider": logical_reference(stay.trust_ods, name_of),
    }
    if extension:  # FHIR JSON has no empty arrays
        data["extension"] = extension
    episodes = [e.entitlement.id for e in entitlements
                if stay.key in e.entitlement.qualifying_stays]
    if episodes:
        data["episodeOfCare"] = [{"reference": f"EpisodeOfCare/{i}"} for i in episodes]
    return data


def to_fhir(person: StoredPerson, stay: Stay, entitlements: list[StoredEntitlement],
            name_of: NameOf) -> Encounter:
    return Encounter.model_validate(to_json(person, stay, entitlements, name_of))


def _when(value: str | None) -> datetime | None:
    return naive_clinical(value) if value else None


def from_fhir(encounter: Encounter) -> DetentionView:
    data = encounter.model_dump(mode="json", exclude_none=True)
    periods = []
    for e in extensions(data, url.EXT_LEGAL_STATUS_PERIOD):
        code = sub(e, "code")["valueCodeableConcept"]["coding"][0]["code"]  # type: ignore[index]
        period = sub(e, "period")["valuePeriod"]  # type: ignore[index]
        restricted = sub(e, "restricted")
        periods.append(LegalStatusPeriod(
            legal_status.normalise(code), naive_clinical(period["start"]),
            _when(period.get("end")), bool(restricted and restricted["valueBoolean"])))
    key = next(i["value"] for i in data["identifier"] if i.get("system") == url.STAY_ID)
    return DetentionView(
        stay_key=key, trust_ods=code_of_reference(data["serviceProvider"]) or "",
        admitted_at=naive_clinical(data["period"]["start"]),
        discharged_at=_when(data["period"].get("end")),
        cancelled=data["status"] == "cancelled", legal_status=tuple(periods))
