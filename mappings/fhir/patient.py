"""Person <-> S117Patient (UK Core Patient with the NHS number)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from fhir.resources.R4B.patient import Patient

from fhir_profiles import canonical as url
from mappings.fhir.common import NameOf, code_of_reference, logical_reference, meta
from register.model import Address, PersonName
from register.nhs_number import normalise
from register.ports import StoredPerson


@dataclass(frozen=True)
class PatientView:
    """What S117Patient carries: the person as the register knows them now."""

    nhs_number: str
    date_of_birth: date | None
    address: Address | None
    gp_practice: str | None
    died_on: date | None
    name: PersonName | None = None
    # The client's date the address took effect (Address.period.start), if it sent one.
    address_from: date | None = None


def view_of(person: StoredPerson) -> PatientView:
    facts = person.facts
    latest = max(facts.addresses, key=lambda a: a.valid_from) if facts.addresses else None
    return PatientView(facts.nhs_number, facts.date_of_birth, facts.current_address(),
                       facts.gp_registrations[-1].practice_ods if facts.gp_registrations
                       else None, facts.died_on, facts.current_name(),
                       address_from=latest.valid_from if latest else None)


def _address(address: Address, since: date | None) -> dict[str, Any]:
    out: dict[str, Any] = {"use": "home"}
    if since:
        # The day the register holds this address from (RULES.md N: history by date).
        out["period"] = {"start": since.isoformat()}
    if address.lines:
        out["line"] = list(address.lines)
    if address.postcode:
        out["postalCode"] = address.postcode
    if address.la_gss:
        out["district"] = address.la_gss
    if address.no_fixed_abode:
        out["text"] = "No fixed abode"
    return out


def to_json(person: StoredPerson, name_of: NameOf) -> dict[str, Any]:
    view = view_of(person)
    data: dict[str, Any] = {
        "resourceType": "Patient", "id": str(person.id),
        "meta": meta(person.version, person.updated_at, url.PATIENT),
        "identifier": [{"system": url.NHS_NUMBER, "value": view.nhs_number}],
    }
    if view.name:
        data["name"] = [{"use": "official", "family": view.name.family,
                         **({"given": list(view.name.given)} if view.name.given else {})}]
    if view.date_of_birth:
        data["birthDate"] = view.date_of_birth.isoformat()
    if view.died_on:
        data["deceasedDateTime"] = view.died_on.isoformat()
    if view.address:
        data["address"] = [_address(view.address, view.address_from)]
    if view.gp_practice:
        data["generalPractitioner"] = [logical_reference(view.gp_practice, name_of)]
    if person.facts.merged_into:
        data["active"] = False
    return data


def to_fhir(person: StoredPerson, name_of: NameOf) -> Patient:
    return Patient.model_validate(to_json(person, name_of))


def from_fhir(patient: Patient) -> PatientView:
    data = patient.model_dump(mode="json", exclude_none=True)
    nhs = normalise(next(i["value"] for i in data.get("identifier", [])
                         if i.get("system") == url.NHS_NUMBER))
    address, address_from = None, None
    if data.get("address"):
        a = data["address"][0]
        start = (a.get("period") or {}).get("start")
        address_from = date.fromisoformat(start[:10]) if start else None
        address = Address(postcode=a.get("postalCode"), lines=list(a.get("line", [])),
                          la_gss=a.get("district"),
                          no_fixed_abode=a.get("text") == "No fixed abode")
    gps = data.get("generalPractitioner") or []
    deceased = data.get("deceasedDateTime")
    names = data.get("name") or []
    # The official name if one is marked (UK Core), else the first with a family name.
    chosen = next((n for n in names if n.get("use") == "official" and n.get("family")),
                  next((n for n in names if n.get("family")), None))
    return PatientView(
        nhs_number=nhs,
        date_of_birth=date.fromisoformat(data["birthDate"]) if data.get("birthDate") else None,
        address=address, gp_practice=code_of_reference(gps[0]) if gps else None,
        died_on=date.fromisoformat(deceased[:10]) if deceased else None,
        name=PersonName(chosen["family"], list(chosen.get("given", []))) if chosen else None,
        address_from=address_from)
