"""The validator (issue 3, Build 3): base R4 and the register's profiles, each refusal naming
the element. Also: what the mappings emit validates against the profile it claims."""

from __future__ import annotations

import copy
from datetime import datetime

import pytest

from fhir_profiles import canonical as url
from fhir_profiles.validate import validate
from mappings.fhir import detention, entitlement, funding, patient
from register.model import (
    Entitlement,
    EntitlementStatus,
    Responsibility,
    RuleApplied,
    StatusChange,
)
from register.ports import StoredEntitlement, StoredPerson
from tests.builders import person, stay

NHS = url.NHS_NUMBER


def good_patient() -> dict:
    return {"resourceType": "Patient", "meta": {"profile": [url.PATIENT]},
            "identifier": [{"system": NHS, "value": "9990000018"}]}


def stored_entitlement(status: EntitlementStatus = EntitlementStatus.ACTIVE) -> StoredEntitlement:
    from datetime import date

    ent = Entitlement(
        id="5f0c6a4e-2c1d-5e51-9b0a-0d7b1c7e1170", status=status, planned_on=date(2024, 2, 1),
        status_history=[StatusChange(EntitlementStatus.PLANNED, date(2024, 2, 1), "admitted"),
                        StatusChange(EntitlementStatus.ACTIVE, date(2024, 5, 10), "discharged")],
        responsibilities=[Responsibility(
            date(2024, 2, 1), "icb-2022", "E06000019", "QGH", original_body="QGH",
            basis=(RuleApplied("E1", "detained under s3", "Mental Health Act 1983 s117(1)"),
                   RuleApplied("N5", "GP practice in QGH", "SI 2022/635")))],
        started_on=date(2024, 5, 10),
        ended_on=date(2025, 1, 1) if status is EntitlementStatus.ENDED else None)
    return StoredEntitlement(ent, 7, 3, datetime(2024, 5, 10, 12), "E06000030",
                             date(2024, 6, 21))


def issues_of(resource: dict, profile: str | None = None) -> list[tuple[str, str, tuple]]:
    return [(i.code, i.diagnostics, i.expression) for i in validate(resource, profile)
            if i.severity == "error"]


def test_a_good_patient_has_no_issues():
    assert issues_of(good_patient()) == []


@pytest.mark.parametrize(("change", "code", "where"), [
    (lambda p: p.update(colour="blue"), "structure", "Patient.colour"),
    (lambda p: p.update(birthDate="yesterday"), "structure", "Patient.birthDate"),
    (lambda p: p.update(identifier=[]), "required", "Patient.identifier"),
    (lambda p: p.update(identifier=[{"system": "urn:other", "value": "1"}]), "required",
     "Patient.identifier"),
    (lambda p: p["identifier"][0].update(value="9990000019"), "value",
     "Patient.identifier[0].value"),
    (lambda p: p["identifier"][0].update(value="999000001"), "invariant", "Patient"),
    (lambda p: p["identifier"].append({"system": NHS, "value": "9990000026"}), "structure",
     "Patient.identifier[1]"),
])
def test_bad_patients_are_refused_naming_the_element(change, code: str, where: str):
    resource = good_patient()
    change(resource)
    found = issues_of(resource)
    assert found, "the change should have been refused"
    assert (code, where) in {(c, e[0]) for c, _, e in found}


def test_an_unknown_resource_type_and_an_unpublished_profile_of_ours():
    assert issues_of({"resourceType": "Dragon"})[0][0] == "structure"
    claimed = {**good_patient(), "meta": {"profile": [f"{url.BASE}/StructureDefinition/No"]}}
    assert issues_of(claimed)[0][0] == "not-found"
    other = {**good_patient(), "meta": {"profile": ["https://example.org/SD/Other"]}}
    assert issues_of(other) == []  # not ours: reported as information, not checked


def episode() -> dict:
    return entitlement.to_fhir(stored_entitlement(), lambda _: None).model_dump(
        mode="json", exclude_none=True)


def test_an_emitted_entitlement_validates_and_each_break_is_found():
    assert issues_of(episode()) == []
    wrong_type = episode()
    wrong_type["type"][0]["coding"][0]["code"] = "other"
    assert issues_of(wrong_type)[0][2] == ("EpisodeOfCare.type[0]",)

    no_citation = episode()
    basis = next(e for e in no_citation["extension"]
                 if e["url"] == url.EXT_RESPONSIBILITY_BASIS)
    basis["extension"] = [s for s in basis["extension"] if s["url"] != "citation"]
    assert any("citation is required" in d for _, d, _ in issues_of(no_citation))

    wrong_value = episode()
    la = next(e for e in wrong_value["extension"] if e["url"] == url.EXT_RESPONSIBLE_LA)
    la["valueString"] = la.pop("valueReference")["identifier"]["value"]
    assert any("must be of type Reference" in d for _, d, _ in issues_of(wrong_value))

    two_las = episode()
    two_las["extension"] += [copy.deepcopy(la) for la in two_las["extension"]
                             if la["url"] == url.EXT_RESPONSIBLE_LA]
    assert {c for c, _, _ in issues_of(two_las)} >= {"structure", "invariant"}

    unknown = episode()
    unknown["extension"].append({"url": f"{url.BASE}/StructureDefinition/Made-Up",
                                 "valueString": "x"})
    assert any("not an extension this register defines" in d
               for _, d, _ in issues_of(unknown))


def test_a_finished_entitlement_needs_an_end_date():
    ended = entitlement.to_fhir(stored_entitlement(EntitlementStatus.ENDED), lambda _: None)
    data = ended.model_dump(mode="json", exclude_none=True)
    assert issues_of(data) == []
    del data["period"]["end"]
    assert [c for c, _, _ in issues_of(data)] == ["invariant"]


def test_coverage_must_be_free_and_typed_from_our_code_system():
    stored = stored_entitlement()
    data = funding.to_fhir(stored, "la", lambda _: None).model_dump(mode="json",
                                                                   exclude_none=True)
    assert issues_of(data) == []
    charged = copy.deepcopy(data)
    charged["costToBeneficiary"][0]["valueMoney"]["value"] = 25
    assert "s117-cov-1" in issues_of(charged)[0][1]
    retyped = copy.deepcopy(data)
    retyped["type"]["coding"][0]["code"] = "private"
    assert issues_of(retyped)[0][0] == "code-invalid"


def test_emitted_patients_and_detentions_validate():
    facts = person(stay("H1", "2024-02-01", ("02", "2024-02-01"), ("03", "2024-02-20"),
                        discharged="2024-05-10"), n=3)
    stored = StoredPerson(11, 2, datetime(2024, 5, 10, 15), facts)
    for resource in (patient.to_fhir(stored, lambda _: None),
                     detention.to_fhir(stored, facts.stays[0], [], lambda _: None)):
        data = resource.model_dump(mode="json", exclude_none=True)
        assert issues_of(data) == [], data["resourceType"]
    encounter = detention.to_fhir(stored, facts.stays[0], [], lambda _: None).model_dump(
        mode="json", exclude_none=True)
    encounter["class"]["code"] = "AMB"
    assert issues_of(encounter)[0][0] == "value"
