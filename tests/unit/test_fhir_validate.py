"""The validator (issue 3, Build 3): base R4 and the register's profiles, each refusal naming
the element and saying what is wrong. Also: whatever the mappings emit validates against the
profile it claims (property tests over the mappings' own domain strategies)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from fhir_profiles import canonical as url
from fhir_profiles.validate import Issue, validate
from mappings.fhir import detention, entitlement, funding, organisation, patient, responsibility
from register.model import (
    Entitlement,
    EntitlementStatus,
    Responsibility,
    RuleApplied,
    StatusChange,
)
from register.ports import StoredEntitlement, StoredPerson
from register.queries import ResponsibilityAnswer
from register.refdata.shipped import OrganisationRecord
from tests.builders import person, stay
from tests.unit.test_fhir_mappings import entitlements, name_of, people, stays

NHS = url.NHS_NUMBER
Resource = dict[str, Any]
CHECKED = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


def good_patient(nhs: str = "9990000018") -> Resource:
    return {"resourceType": "Patient", "meta": {"profile": [url.PATIENT]},
            "identifier": [{"system": NHS, "value": nhs}], "birthDate": "1980-05-01"}


def errors(resource: Resource, profile: str | None = None) -> list[Issue]:
    return [i for i in validate(resource, profile) if i.severity == "error"]


def found(resource: Resource, profile: str | None = None) -> set[tuple[str, str]]:
    """(code, first expression) of every error."""
    return {(i.code, i.expression[0] if i.expression else "") for i in errors(resource, profile)}


def stored_entitlement(status: EntitlementStatus = EntitlementStatus.ACTIVE, *,
                       n4: bool = False) -> StoredEntitlement:
    ent = Entitlement(
        id="5f0c6a4e-2c1d-5e51-9b0a-0d7b1c7e1170", status=status, planned_on=date(2024, 2, 1),
        status_history=[StatusChange(EntitlementStatus.PLANNED, date(2024, 2, 1), "admitted"),
                        StatusChange(EntitlementStatus.ACTIVE, date(2024, 5, 10), "discharged")],
        responsibilities=[
            Responsibility(date(2021, 3, 1), "who-pays-2020", "E06000019", "QGH",
                           original_body="18C", commissioning_body="18C" if n4 else None,
                           paying_body="92G" if n4 else None, paying_icb="QOX" if n4 else None,
                           basis=(RuleApplied("N4", "detained in 2021", "Who Pays? 2020"),)),
            Responsibility(
                date(2024, 2, 1), "icb-2022", "E06000019", "QGH", original_body="QGH",
                commissioning_body="18C" if n4 else None, paying_body="92G" if n4 else None,
                paying_icb="QOX" if n4 else None,
                basis=(RuleApplied("E1", "detained under s3", "Mental Health Act 1983 s117(1)"),
                       RuleApplied("N5", "GP practice in QGH", "SI 2022/635")))],
        started_on=date(2024, 5, 10), needs_review=["N8: cross-border case"],
        ended_on=date(2025, 1, 1) if status is EntitlementStatus.ENDED else None)
    return StoredEntitlement(ent, 7, 3, datetime(2024, 5, 10, 12), "E06000030",
                             date(2024, 6, 21))


def episode(**kwargs: Any) -> Resource:
    # a deep copy: to_json shares some constants (the episode type) between resources
    return copy.deepcopy(entitlement.to_json(stored_entitlement(**kwargs), name_of))


def coverage(role: str = "la", **kwargs: Any) -> Resource:
    data = funding.to_json(stored_entitlement(**kwargs), role, name_of)
    assert data is not None
    return copy.deepcopy(data)


def encounter() -> Resource:
    facts = person(stay("H1", "2024-02-01", ("02", "2024-02-01"), ("03", "2024-02-20"),
                        discharged="2024-05-10"), n=3)
    stored = StoredPerson(11, 2, datetime(2024, 5, 10, 15), facts)
    return copy.deepcopy(detention.to_json(stored, facts.stays[0], [], name_of))


def ext_index(resource: Resource, ext_url: str) -> int:
    return next(i for i, e in enumerate(resource["extension"]) if e["url"] == ext_url)


# -- base R4 ---------------------------------------------------------------------------------

def test_a_good_patient_has_no_issues_at_all():
    assert validate(good_patient()) == []


@pytest.mark.parametrize(("change", "where"), [
    (lambda p: p.update(colour="blue"), "Patient.colour"),
    (lambda p: p["identifier"][0].update(sytem=NHS), "Patient.identifier[0].sytem"),
    (lambda p: p.update(birthDate="yesterday"), "Patient.birthDate"),
    (lambda p: p.update(birthDate="2020-02-30"), "Patient.birthDate"),
    (lambda p: p.update(deceasedDateTime="2024-01-01T10:00:00"), "Patient.deceasedDateTime"),
    (lambda p: p.update(active="yes"), "Patient.active"),
    (lambda p: p.update(active="true"), "Patient.active"),
    (lambda p: p.update(multipleBirthInteger="2"), "Patient.multipleBirthInteger"),
    (lambda p: p["identifier"][0].update(value=9990000018), "Patient.identifier[0].value"),
    (lambda p: p.update(name={"family": "Smith"}), "Patient.name"),
    (lambda p: p.update(gender=None), "Patient.gender"),
    (lambda p: p.update(name=[]), "Patient.name"),
    (lambda p: p.update(name=[{}]), "Patient.name[0]"),
    (lambda p: p.update(id="x" * 65), "Patient.id"),
    (lambda p: p.update(extension=[{"url": "https://example.org/x"}]), "Patient.extension[0]"),
    (lambda p: p.update(contained=[{"resourceType": "Dragon"}]),
     "Patient.contained[0].resourceType"),
    (lambda p: p.update(contained=[{"id": "x"}]), "Patient.contained[0].resourceType"),
    (lambda p: p.update(deceasedBoolean=False, deceasedDateTime="2024-01-01"), "Patient"),
])
def test_content_that_is_not_r4_is_a_structure_error_naming_the_element(
        change: Callable[[Resource], None], where: str):
    resource = good_patient()
    change(resource)
    issues = errors(resource)
    assert issues, "the change should have been refused"
    assert ("structure", where) in found(resource)
    assert all(i.code == "structure" for i in issues)  # base R4 issues stop the checking
    assert all(i.diagnostics.startswith(i.expression[0]) for i in issues)
    assert not any("pydantic" in i.diagnostics or "regex" in i.diagnostics for i in issues)


def test_plain_words_for_the_commonest_mistakes():
    said = {i.expression[0]: i.diagnostics for i in errors({
        **good_patient(), "colour": "blue", "active": "yes",
        "meta": {"profile": [url.PATIENT], "lastUpdated": "2024-05-10"}})}
    assert "not an element FHIR R4 has here" in said["Patient.colour"]
    assert "true or false" in said["Patient.active"]
    assert "time zone" in said["Patient.meta.lastUpdated"]


def test_an_unknown_resource_type_is_an_error_and_nothing_crashes():
    assert found({"resourceType": "Dragon"}) == {("structure", "resourceType")}
    assert found({"colour": "blue"}) == {("structure", "resourceType")}
    assert found({"resourceType": "HumanName"}) == {("structure", "resourceType")}
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": {"resourceType": "Dragon"}},
                        {"resource": {"resourceType": 5}}]}
    assert found(bundle) == {("structure", "Bundle.entry[0].resource.resourceType"),
                             ("structure", "Bundle.entry[1].resource.resourceType")}


# -- S117Patient ------------------------------------------------------------------------------

@pytest.mark.parametrize(("change", "code", "where"), [
    # the NHS number is required (slice nhsNumber 1..1)
    (lambda p: p.update(identifier=[{"system": "urn:other", "value": "1"}]), "required",
     "Patient.identifier"),
    (lambda p: p["identifier"][0].pop("value"), "required", "Patient.identifier[0].value"),
    # a check digit that does not match (9990000018 is valid, ...19 is not)
    (lambda p: p["identifier"][0].update(value="9990000019"), "value",
     "Patient.identifier[0].value"),
    # nine digits: the profile's invariant s117-pat-1
    (lambda p: p["identifier"][0].update(value="999000001"), "invariant", "Patient"),
    # a second NHS number
    (lambda p: p["identifier"].append({"system": NHS, "value": "9990000042"}), "invalid",
     "Patient.identifier[1]"),
])
def test_bad_patients_are_refused_naming_the_element(
        change: Callable[[Resource], None], code: str, where: str):
    resource = good_patient()
    change(resource)
    assert (code, where) in found(resource)
    assert not any(c == "structure" for c, _ in found(resource))  # valid R4: a 422, not a 400


def test_the_check_digit_error_is_the_only_one_and_is_plain():
    [issue] = errors(good_patient("9990000019"))
    assert issue.expression == ("Patient.identifier[0].value",)
    assert "check digit" in issue.diagnostics and "9990000019" in issue.diagnostics
    assert errors(good_patient("9990000042")) == []
    unclaimed = good_patient("9990000019")
    del unclaimed["meta"]
    assert errors(unclaimed) == []  # the check belongs to the profile


def test_which_profiles_are_checked():
    unpublished = f"{url.BASE}/StructureDefinition/No"
    ours_unpublished = {**good_patient(), "meta": {"profile": [unpublished]}}
    assert found(ours_unpublished) == {("not-found", "Patient.meta.profile[0]")}
    other = {**good_patient(), "meta": {"profile": ["https://example.org/SD/Other"]}}
    assert [(i.severity, i.code) for i in validate(other)] == [("warning", "not-found")]
    uk_core = {**good_patient("9990000019"), "meta": {"profile": [url.UKCORE_PATIENT]}}
    assert [i.severity for i in validate(uk_core)] == ["information"]
    base = {**good_patient("9990000019"), "meta": {"profile": [
        "http://hl7.org/fhir/StructureDefinition/Patient"]}}
    assert validate(base) == []
    # a profile given explicitly replaces the claimed ones; it must be for this type
    assert found(good_patient("9990000019"), url.PATIENT) == {
        ("value", "Patient.identifier[0].value")}
    assert found(good_patient(), f"{url.PATIENT}|0.1.0") == set()
    assert [i.code for i in errors(good_patient(), url.ENTITLEMENT)] == ["invalid"]


def test_profiles_claimed_inside_a_bundle_are_checked_with_the_entry_path():
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": good_patient()}, {"resource": good_patient("9990000019")}]}
    assert found(bundle) == {("value", "Bundle.entry[1].resource.identifier[0].value")}


# -- S117Entitlement, its extensions and its invariants ----------------------------------------

def test_an_emitted_entitlement_validates_and_each_break_is_found():
    assert validate(episode()) == []
    assert validate(episode(n4=True)) == []

    wrong_type = episode()
    wrong_type["type"][0]["coding"][0]["code"] = "other"
    assert found(wrong_type) == {("value", "EpisodeOfCare.type[0]")}

    no_type = episode()
    del no_type["type"]
    assert found(no_type) == {("required", "EpisodeOfCare.type")}

    no_citation = episode()
    at = ext_index(no_citation, url.EXT_RESPONSIBILITY_BASIS)
    basis = no_citation["extension"][at]
    basis["extension"] = [s for s in basis["extension"] if s["url"] != "citation"]
    [issue] = errors(no_citation)
    assert issue.code == "required" and "citation is required" in issue.diagnostics
    assert issue.expression == (f"EpisodeOfCare.extension[{at}].extension",)

    wrong_value = episode()
    at = ext_index(wrong_value, url.EXT_RESPONSIBLE_LA)
    la = wrong_value["extension"][at]
    la["valueString"] = la.pop("valueReference")["identifier"]["value"]
    assert found(wrong_value) == {("invalid", f"EpisodeOfCare.extension[{at}].valueString")}
    assert "must be of type Reference" in errors(wrong_value)[0].diagnostics

    two_las = episode()
    two_las["extension"].append(copy.deepcopy(two_las["extension"][at]))
    assert {c for c, _ in found(two_las)} == {"invalid", "invariant"}

    unknown = episode()
    unknown["extension"].append({"url": f"{url.BASE}/StructureDefinition/Made-Up",
                                 "valueString": "x"})
    [issue] = errors(unknown)
    assert issue.code == "invalid" and "not an extension this register defines" in \
        issue.diagnostics


def test_our_extensions_are_checked_wherever_they_appear():
    on_patient = good_patient()
    on_patient["extension"] = [episode()["extension"][0]]  # the responsible LA
    [issue] = errors(on_patient)
    assert issue.code == "invalid" and "may only be used on EpisodeOfCare" in issue.diagnostics
    assert issue.expression == ("Patient.extension[0]",)

    value_on_complex = episode(n4=True)
    at = ext_index(value_on_complex, url.EXT_COMMISSIONING_BODY)
    value_on_complex["extension"][at]["valueString"] = "18C"
    value_on_complex["extension"][at].pop("extension")
    assert ("invalid", f"EpisodeOfCare.extension[{at}].valueString") in found(value_on_complex)

    as_modifier = good_patient()
    as_modifier["modifierExtension"] = [{"url": url.EXT_NEXT_REVIEW_DUE,
                                         "valueDate": "2025-01-01"}]
    assert ("invalid", "Patient.modifierExtension[0]") in found(as_modifier)

    # without any profile claimed, a broken extension of ours is still found
    unclaimed = episode()
    unclaimed.pop("meta")
    due = unclaimed["extension"][ext_index(unclaimed, url.EXT_NEXT_REVIEW_DUE)]
    due["valueString"] = due.pop("valueDate")
    assert {c for c, _ in found(unclaimed)} == {"invalid"}


def test_a_finished_entitlement_needs_an_end_date():
    ended = episode(status=EntitlementStatus.ENDED)
    assert validate(ended) == []
    del ended["period"]["end"]
    [issue] = errors(ended)
    assert (issue.code, issue.expression) == ("invariant", ("EpisodeOfCare",))
    assert "end date" in issue.diagnostics and "s117-eoc-1" in issue.diagnostics


# -- S117Funding and S117Detention -------------------------------------------------------------

def test_coverage_must_be_free_and_typed_from_our_code_system():
    assert validate(coverage("la")) == []
    assert validate(coverage("icb", n4=True)) == []
    charged = coverage()
    charged["costToBeneficiary"][0]["valueMoney"]["value"] = 25
    [issue] = errors(charged)
    assert (issue.code, issue.expression) == ("invariant", ("Coverage",))
    assert "free" in issue.diagnostics
    retyped = coverage()
    retyped["type"]["coding"][0]["code"] = "private"
    assert found(retyped) == {("code-invalid", "Coverage.type")}
    assert "s117-social-care" in errors(retyped)[0].diagnostics
    wrong_basis = coverage()
    wrong_basis["extension"] = [{"url": url.EXT_FUNDING_BASIS,
                                 "valueCoding": {"system": url.CS_FUNDING_BASIS, "code": "x"}}]
    assert found(wrong_basis) == {("code-invalid", "Coverage.extension[0].valueCoding")}
    no_cost = coverage()
    del no_cost["costToBeneficiary"]
    assert found(no_cost) == {("required", "Coverage.costToBeneficiary")}


def test_a_detention_is_an_inpatient_stay():
    assert validate(encounter()) == []
    outpatient = encounter()
    outpatient["class"]["code"] = "AMB"
    assert found(outpatient) == {("value", "Encounter.class")}
    open_ended = encounter()
    del open_ended["period"]["end"]
    assert found(open_ended) == {("invariant", "Encounter")}
    no_code = encounter()
    at = ext_index(no_code, url.EXT_LEGAL_STATUS_PERIOD)
    no_code["extension"][at]["extension"].pop(0)
    assert found(no_code) == {("required", f"Encounter.extension[{at}].extension")}


# -- what the mappings emit validates against the profile it claims ----------------------------

@CHECKED
@given(people())
def test_every_emitted_patient_validates(stored: StoredPerson):
    assert errors(patient.to_json(stored, name_of)) == []


@CHECKED
@given(stays())
def test_every_emitted_detention_validates(drawn: tuple[StoredPerson, Any]):
    stored, one_stay = drawn
    assert errors(detention.to_json(stored, one_stay, [], name_of)) == []


@CHECKED
@given(entitlements())
def test_every_emitted_entitlement_and_coverage_validates(stored: StoredEntitlement):
    assert errors(entitlement.to_json(stored, name_of)) == []
    for role in ("la", "icb"):
        data = funding.to_json(stored, role, name_of)
        assert data is None or errors(data) == []


def test_emitted_organisations_and_operation_answers_validate():
    council = OrganisationRecord(code="E06000019", kind="la", name="Herefordshire, County of",
                                 gss_code="E06000019", ods_code="E06000019")
    assert [i.severity for i in validate(organisation.to_json(council))] == ["information"]
    answer = ResponsibilityAnswer(
        nhs_number="9990000018", as_of=date(2025, 1, 1), known=True, entitled=True,
        status="active", entitlement_id="x1", local_authority="E06000019", icb="QGH",
        commissioning_body="18C", paying_body="92G", residence_la="E06000030",
        out_of_area=True, next_review_due=date(2025, 2, 1), rule_set="icb-2022",
        basis=(RuleApplied("E1", "detained under s3", "MHA 1983 s117(1)"),),
        needs_review=("N8: cross-border",), names=(("QGH", "NHS Herefordshire ICB"),))
    assert validate(responsibility.to_json(answer)) == []


def test_base_r4_refuses_what_fhir_js_refuses():
    from tests.fhir_js import validate_with_fhirjs

    broken = [{**good_patient(), "colour": "blue"}, {**good_patient(), "active": "yes"},
              {**good_patient(), "birthDate": "yesterday"},
              {**good_patient(), "multipleBirthInteger": "2"},
              {**good_patient(), "name": {"family": "Smith"}}]
    assert not any(r["valid"] for r in validate_with_fhirjs(broken))
    assert all(errors(r) for r in broken)
    assert [r["valid"] for r in validate_with_fhirjs([good_patient(), episode(),
                                                      coverage(), encounter()])] == [True] * 4


# -- S117AftercarePlan (no mapping emits one yet) ---------------------------------------------

def care_plan(*shares: float) -> Resource:
    funders = ["Organization/QGH", "Organization/E06000019"]
    return {"resourceType": "CarePlan", "meta": {"profile": [url.AFTERCARE_PLAN]},
            "status": "active", "intent": "plan", "subject": {"reference": "Patient/11"},
            "activity": [{"extension": [
                {"url": url.EXT_FUNDING_BASIS,
                 "valueCoding": {"system": url.CS_FUNDING_BASIS, "code": "s117"}},
                *({"url": url.EXT_FUNDING_SHARE, "extension": [
                    {"url": "funder", "valueReference": {"reference": funder}},
                    {"url": "percent", "valueDecimal": share}]}
                  for funder, share in zip(funders, shares, strict=False))],
                "detail": {"status": "in-progress", "code": {"coding": [
                    {"system": url.CS_SERVICE_TYPE, "code": "supported-accommodation"}]},
                    "reasonCode": [{"coding": [
                    {"system": url.CS_NEED_CATEGORY, "code": "accommodation"}]}]}}]}


def test_an_aftercare_plan_service_says_its_funding_basis():
    plan = care_plan(100)
    plan["activity"][0]["extension"].pop(0)
    assert ("required", "CarePlan.activity[0].extension") in found(plan)
    plan = care_plan(100)
    plan["activity"][0]["extension"][0]["valueCoding"]["code"] = "housing-benefit"
    assert ("code-invalid", "CarePlan.activity[0].extension[0].valueCoding") in found(plan)


def test_an_aftercare_plan_with_shares_adding_to_100_validates():
    assert validate(care_plan(60, 40)) == []
    assert {c for c, _ in found(care_plan(60, 30))} == {"invariant"}


def test_a_rule_id_must_come_from_the_rule_code_system():
    resource = episode()
    at = ext_index(resource, url.EXT_RESPONSIBILITY_BASIS)
    rule = resource["extension"][at]["extension"][0]
    assert rule["url"] == "rule"
    rule["valueCoding"]["code"] = "Z9"
    assert found(resource) == {
        ("code-invalid", f"EpisodeOfCare.extension[{at}].extension[0].valueCoding")}
