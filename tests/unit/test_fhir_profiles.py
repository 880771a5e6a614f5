"""The conformance resources the register publishes (issue 3, Build 1): valid R4 by two
independent validators and a strict 4.0.1 client, complete (every canonical URL has its
resource), internally consistent, consistent with the engine's rule catalogue and the domain's
vocabularies, exactly what `tools/author_profiles.py` writes, and describing exactly what the
mappings emit (extension contents, operation answers, search parameter expressions)."""

from __future__ import annotations

import copy
import re
from collections import Counter
from datetime import date, datetime
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhirclient.models.capabilitystatement import CapabilityStatement
from fhirpathpy import evaluate
from fhirpathpy.models import models
from marshmallow import fields

from adapter.http.fhir.parameters import EndEntitlementParams, ReinstateParams
from fhir_profiles import canonical as url
from fhir_profiles import registry
from mappings.fhir import detention, entitlement, funding, message, patient, responsibility
from register.model import (
    EndReason,
    Entitlement,
    EntitlementStatus,
    Responsibility,
    RuleApplied,
    StatusChange,
)
from register.ports import StoredEntitlement, StoredPerson
from register.queries import ResponsibilityAnswer
from register.rules.citations import CITATIONS
from tests.builders import person, stay
from tests.fhir_js import errors, validate_with_fhirjs
from tools import author_profiles as author

Resource = dict[str, Any]
RESOURCES = registry.all_resources()
# Subscription topics are published as Basic (Backport IG): their canonical URL and metadata
# are extensions, checked in tests/unit/test_subscription_mapping.py.
CANONICAL = tuple(r for r in RESOURCES if r["resourceType"] != "Basic")
PROFILES = {url.PATIENT: "Patient", url.DETENTION: "Encounter",
            url.ENTITLEMENT: "EpisodeOfCare", url.FUNDING: "Coverage",
            url.AFTERCARE_PLAN: "CarePlan", url.TASK: "Task", url.FLAG: "Flag"}
BASES = {url.PATIENT: url.UKCORE_PATIENT, url.DETENTION: url.UKCORE_ENCOUNTER,
         url.ENTITLEMENT: url.UKCORE_EPISODE_OF_CARE,
         url.FUNDING: "http://hl7.org/fhir/StructureDefinition/Coverage",
         url.AFTERCARE_PLAN: url.UKCORE_CARE_PLAN, url.TASK: url.UKCORE_TASK,
         url.FLAG: url.UKCORE_FLAG}


def of_type(kind: str) -> list[Resource]:
    return [r for r in RESOURCES if r["resourceType"] == kind]


def named(resource: Resource) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


# -- valid R4, three ways ---------------------------------------------------------------------

def test_the_files_are_what_the_authoring_module_writes():
    on_disk = {f.name: f.read_text(encoding="utf-8") for f in author.FOLDER.glob("*.json")}
    assert on_disk == author.rendered(), "run `python -m tools.author_profiles`"


@pytest.mark.parametrize("resource", CANONICAL, ids=named)
def test_every_resource_is_valid_r4_in_the_python_models(resource: Resource):
    model = get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    assert model.id == resource["id"]
    assert resource["url"].endswith(f"/{resource['resourceType']}/{resource['id']}")
    assert (author.FOLDER / f"{resource['resourceType']}-{resource['id']}.json").exists()
    assert (resource["version"], resource["status"], resource["date"], resource["publisher"]) \
        == ("0.1.0", "active", "2026-11-22", "s117-register")
    assert resource["name"] and resource["description"]
    assert re.fullmatch(r"[A-Z][A-Za-z0-9_]{0,254}", resource["name"]), "computer-friendly"


def test_every_resource_is_valid_r4_for_fhir_js():
    assert errors(validate_with_fhirjs(list(RESOURCES))) == []


def test_fhir_js_is_a_real_check():
    broken = copy.deepcopy(registry.get("CodeSystem", "s117-event"))
    assert broken is not None
    broken["status"] = "live"
    broken["colour"] = "blue"
    assert len(errors(validate_with_fhirjs([broken]))) >= 2


def test_capability_statement_parses_in_fhirclient():
    statement = registry.capability_statement("http://127.0.0.1:8080/fhir")
    assert statement["fhirVersion"] == "4.0.1" and statement["date"]
    assert statement["kind"] == "instance" and statement["status"] == "active"
    assert statement["format"] == ["json", "application/fhir+json"]
    assert statement["implementation"]["url"] == "http://127.0.0.1:8080/fhir"
    parsed = CapabilityStatement(statement)  # strict FHIR 4.0.1 models
    assert parsed.rest[0].mode == "server"


# -- complete ---------------------------------------------------------------------------------

def test_every_canonical_url_has_its_resource():
    published = {r["url"] for r in CANONICAL}
    ours = {value for name, value in vars(url).items() if isinstance(value, str) and (
        name.startswith(("EXT_", "CS_")) or value in PROFILES)}
    assert ours - published == set()
    assert {url.vs(u.rsplit("/", 1)[1]) for u in ours if "/CodeSystem/" in u} <= published
    stray = {r["url"] for r in CANONICAL if r["resourceType"] in (
        "StructureDefinition", "CodeSystem")} - ours
    assert stray == set(), "every profile, extension and code system is named in canonical.py"


def test_every_code_system_has_a_value_set_of_all_its_codes():
    for system in of_type("CodeSystem"):
        value_set = registry.by_url(system["valueSet"])
        assert value_set is not None and value_set["id"] == system["id"]
        assert value_set["compose"]["include"] == [{"system": system["url"]}]
        assert system["content"] == "complete" and system["caseSensitive"] is True
        assert all(c.get("display") and c.get("definition") for c in system["concept"])


def test_code_systems_have_no_duplicate_codes_and_count_them():
    for system in of_type("CodeSystem"):
        codes = Counter(c["code"] for c in system["concept"])
        assert max(codes.values()) == 1, system["id"]
        assert system["count"] == len(codes)


def test_uk_core_legal_status_codes_are_referenced_not_redefined():
    assert not any("egal" in r["id"] for r in of_type("CodeSystem") + of_type("ValueSet"))
    assert registry.by_url(url.UKCORE_LEGAL_STATUS_CS) is None


# -- the domain's vocabularies ----------------------------------------------------------------

def test_the_rule_code_system_has_every_rule_the_engine_cites():
    rules = registry.by_url(url.CS_RULE)
    assert rules is not None
    assert set(CITATIONS) <= registry.code_system(url.CS_RULE)
    for concept in rules["concept"]:
        assert re.fullmatch(r"[ELNFRDO][0-9][a-d]?", concept["code"])  # RULES.md ids, N5a-N5d
        if concept["code"] in CITATIONS:
            assert CITATIONS[concept["code"]] in concept["definition"], concept["code"]


def test_the_end_reasons_are_the_domains():
    assert registry.code_system(url.CS_END_REASON) == {r.value for r in EndReason}


def test_the_events_are_the_ones_process_message_takes():
    assert registry.code_system(url.CS_EVENT) == set(message.EVENTS)


def test_the_need_categories_are_the_sixteen_of_the_code_of_practice():
    assert len(registry.code_system(url.CS_NEED_CATEGORY)) == 16


def test_the_coverage_types_and_episode_type_are_what_the_mappings_emit():
    assert registry.code_system(url.CS_COVERAGE_TYPE) == {c for c, _ in funding.ROLES.values()}
    assert registry.code_system(url.CS_EPISODE_TYPE) == {entitlement.EPISODE_TYPE["code"]}


# -- the profiles and extensions hang together ------------------------------------------------

@pytest.mark.parametrize("canonical", sorted(PROFILES))
def test_each_profile_derives_from_uk_core(canonical: str):
    profile = registry.by_url(canonical)
    assert profile is not None
    assert (profile["kind"], profile["derivation"], profile["type"]) == (
        "resource", "constraint", PROFILES[canonical])
    assert profile["baseDefinition"] == BASES[canonical]
    assert profile["fhirVersion"] == "4.0.1" and "snapshot" not in profile


def _references(definition: Resource) -> list[str]:
    found = []
    for element in definition["differential"]["element"]:
        found += [element.get("binding", {}).get("valueSet", "")]
        for kind in element.get("type", []):
            found += kind.get("profile", []) + kind.get("targetProfile", [])
    return [u for u in found if u.startswith(url.BASE)]


@pytest.mark.parametrize("definition", of_type("StructureDefinition"), ids=named)
def test_each_structure_definition_is_well_formed(definition: Resource):
    elements = definition["differential"]["element"]
    ids = [e["id"] for e in elements]
    assert len(ids) == len(set(ids))
    for element in elements:
        assert element["id"].split(".")[0] == definition["type"]
        assert re.sub(r":[^.]+", "", element["id"]) == element["path"]
        if "sliceName" in element:
            assert element["id"].endswith(f":{element['sliceName']}")
            sliced = element["id"].rsplit(":", 1)[0]
            assert any(e["id"] == sliced and "slicing" in e for e in elements) or \
                definition["baseDefinition"] != "http://hl7.org/fhir/StructureDefinition/" \
                "Extension", f"{element['id']} has no slicing"
        if element.get("max") not in (None, "*"):
            assert element.get("min", 0) <= int(element["max"])
    for reference in _references(definition):
        assert registry.by_url(reference) is not None, reference
    for element in elements:
        for kind in element.get("type", []):
            for extension_url in kind.get("profile", []) if kind["code"] == "Extension" else []:
                extension = registry.by_url(extension_url)
                if extension is None:
                    continue  # UK Core's
                contexts = [c["expression"] for c in extension["context"]]
                assert element["path"].rsplit(".", 1)[0] in contexts, element["id"]


@pytest.mark.parametrize("definition", [d for d in of_type("StructureDefinition")
                                        if d["type"] == "Extension"], ids=named)
def test_each_extension_fixes_its_own_url(definition: Resource):
    assert (definition["kind"], definition["derivation"], definition["baseDefinition"]) == (
        "complex-type", "constraint", "http://hl7.org/fhir/StructureDefinition/Extension")
    assert all(c["type"] == "element" for c in definition["context"])
    fixed = {e["id"]: e.get("fixedUri") for e in definition["differential"]["element"]}
    assert fixed["Extension.url"] == definition["url"]


# -- they describe exactly what the mappings emit ---------------------------------------------

def _entitlement(n4: bool = True) -> StoredEntitlement:
    ent = Entitlement(
        id="5f0c6a4e-2c1d-5e51-9b0a-0d7b1c7e1170", status=EntitlementStatus.ACTIVE,
        planned_on=date(2021, 3, 1),
        status_history=[StatusChange(EntitlementStatus.PLANNED, date(2021, 3, 1), "admitted"),
                        StatusChange(EntitlementStatus.ACTIVE, date(2021, 5, 10), "left")],
        responsibilities=[
            Responsibility(date(2021, 3, 1), "who-pays-2020", "E06000019", "QGH",
                           original_body="18C", commissioning_body="18C" if n4 else None,
                           paying_body="92G" if n4 else None, paying_icb="QOX" if n4 else None,
                           basis=(RuleApplied("N4", "detained in 2021", CITATIONS["N4"]),
                                  RuleApplied("N6", "18C is now QGH", CITATIONS["N6"])))],
        started_on=date(2021, 5, 10), needs_review=["N8: cross-border"])
    return StoredEntitlement(ent, 7, 3, datetime(2024, 5, 10, 12), "E06000030",
                             date(2024, 6, 21))


def _emitted() -> list[Resource]:
    facts = person(stay("H1", "2021-03-01", ("02", "2021-03-01"), ("03", "2021-03-20"),
                        discharged="2021-05-10", restricted=True), n=3)
    stored = StoredPerson(11, 2, datetime(2024, 5, 10, 15), facts)
    ent = _entitlement()
    return [patient.to_json(stored, lambda _: None),
            detention.to_json(stored, facts.stays[0], [], lambda _: None),
            entitlement.to_json(ent, lambda _: None),
            *(c for role in ("la", "icb") if (c := funding.to_json(ent, role, lambda _: None)))]


def _sub_slices(definition: Resource) -> dict[str, set[str]]:
    """sub-extension name -> the value types its slice allows."""
    elements = definition["differential"]["element"]
    return {e["sliceName"]: {t["code"] for t in next(
        v for v in elements if v["id"] == f"{e['id']}.value[x]")["type"]}
        for e in elements if e["path"] == "Extension.extension" and "sliceName" in e}


def _value_type(extension: Resource) -> str:
    [key] = [k for k in extension if k.startswith("value")]
    return key.removeprefix("value")


def test_every_extension_emitted_is_described_exactly_by_its_definition():
    seen = set()
    for resource in _emitted():
        assert resource["meta"]["profile"] == [next(
            p for p, kind in PROFILES.items() if kind == resource["resourceType"])]
        for extension in resource.get("extension", []):
            definition = registry.by_url(extension["url"])
            if extension["url"] == url.UKCORE_LEGAL_STATUS:
                continue
            assert definition is not None, extension["url"]
            assert resource["resourceType"] in [c["expression"] for c in definition["context"]]
            seen.add(extension["url"])
            slices = _sub_slices(definition)
            if "extension" in extension:
                assert slices, f"{extension['url']} is simple but was emitted as complex"
                for part in extension["extension"]:
                    assert part["url"] in slices, (extension["url"], part["url"])
                    assert _value_type(part).lower() in {t.lower() for t in
                                                         slices[part["url"]]}
            else:
                element = next(e for e in definition["differential"]["element"]
                               if e["id"] == "Extension.value[x]")
                assert _value_type(extension) in {t["code"][:1].upper() + t["code"][1:]
                                                  for t in element["type"]}
    emitted_somewhere = {url.EXT_LEGAL_STATUS_PERIOD, url.EXT_RESPONSIBLE_LA,
                         url.EXT_RESPONSIBLE_ICB, url.EXT_COMMISSIONING_BODY,
                         url.EXT_PAYING_BODY, url.EXT_RESPONSIBILITY_BASIS,
                         url.EXT_RESPONSIBILITY_PERIOD, url.EXT_RESIDENCE_LA,
                         url.EXT_NEEDS_REVIEW, url.EXT_NEXT_REVIEW_DUE, url.EXT_RULE_SET}
    assert emitted_somewhere <= seen


def _parameters(operation: str, use: str) -> dict[str, Resource]:
    definition = registry.get("OperationDefinition", operation)
    assert definition is not None
    return {p["name"]: p for p in definition["parameter"] if p["use"] == use}


def test_the_responsibility_answer_is_what_its_operation_definition_says():
    declared = _parameters("s117-responsibility", "out")
    answer = ResponsibilityAnswer(
        nhs_number="9990000018", as_of=date(2025, 1, 1), known=True, entitled=True,
        status="active", entitlement_id="x1", local_authority="E06000019", icb="QGH",
        commissioning_body="18C", paying_body="92G", residence_la="E06000030",
        out_of_area=True, next_review_due=date(2025, 2, 1), review_overdue=False,
        rule_set="who-pays-2020", basis=(RuleApplied("N4", "2021", CITATIONS["N4"]),
                                         RuleApplied("N6", "successor", CITATIONS["N6"])),
        needs_review=("N8: cross-border",), original_body="QGH",
        flags=("entitled", "no-assessment"),
        timeline=(Responsibility(date(2021, 3, 1), "who-pays-2020", "E06000019", "92G",
                                 "92G", effective_to=date(2022, 6, 30), nhs_rule="N4",
                                 needs_review=("N8: a", "N8: b")),
                  Responsibility(date(2022, 7, 1), "who-pays-2020", "E06000019", "QGH",
                                 "QGH", nhs_rule="N5b")))
    emitted = responsibility.to_json(answer)["parameter"]
    assert {p["name"] for p in emitted} == set(declared), "every out parameter is emitted"
    for name, count in Counter(p["name"] for p in emitted).items():
        assert declared[name]["max"] == "*" or count <= int(declared[name]["max"]), name
    for parameter in emitted:
        spec = declared[parameter["name"]]
        if "part" in parameter:
            parts = {p["name"]: p["type"].lower() for p in spec["part"]}
            sent = {p["name"]: _value_type(p).lower() for p in parameter["part"]}
            assert sent.items() <= parts.items()  # optional parts (a history's `to`) may go
            assert {p["name"] for p in spec["part"] if p["min"] >= 1} <= set(sent)
        else:
            assert _value_type(parameter).lower() == spec["type"].lower(), parameter["name"]
    required = {n for n, p in declared.items() if p["min"] >= 1}
    not_known = responsibility.to_json(ResponsibilityAnswer(
        "9990000018", date(2025, 1, 1), True, False, "not-entitled"))["parameter"]
    assert {p["name"] for p in not_known} == required


def test_the_responsibility_in_parameters_are_identifier_and_date():
    declared = _parameters("s117-responsibility", "in")
    assert {n: (p["min"], p["max"], p["type"], p.get("searchType"))
            for n, p in declared.items()} == {"identifier": (1, "1", "string", "token"),
                                              "date": (0, "1", "date", None)}
    definition = registry.get("OperationDefinition", "s117-responsibility")
    assert definition is not None
    assert (definition["type"], definition["instance"], definition["system"],
            definition["affectsState"], definition["resource"]) == (
        True, False, False, False, ["Patient"])


@pytest.mark.parametrize(("operation", "schema"), [
    ("end-entitlement", EndEntitlementParams), ("reinstate", ReinstateParams)])
def test_operation_inputs_are_the_ones_the_server_reads(operation: str, schema: Any):
    declared = _parameters(operation, "in")
    fields_ = {f.data_key or name: f for name, f in schema().fields.items()}
    assert set(declared) == set(fields_)
    for name, field in fields_.items():
        assert (declared[name]["min"] >= 1) == field.required, name
        assert (declared[name]["max"] == "*") == isinstance(field, fields.List), name
    definition = registry.get("OperationDefinition", operation)
    assert definition is not None
    assert (definition["instance"], definition["resource"]) == (True, ["EpisodeOfCare"])


@pytest.mark.parametrize(("code", "expected"), [
    ("responsible-la", (url.GSS_CODE, "E06000019")),
    ("responsible-icb", (url.ODS_CODE, "QGH")),
    ("residence-la", (url.GSS_CODE, "E06000030"))])
def test_search_parameter_expressions_find_the_emitted_codes(code: str,
                                                             expected: tuple[str, str]):
    parameter = registry.get("SearchParameter", code)
    assert parameter is not None
    assert (parameter["base"], parameter["type"], parameter["status"]) == (
        ["EpisodeOfCare"], "token", "active")
    resource = entitlement.to_json(_entitlement(), lambda _: None)
    found = evaluate(resource, parameter["expression"], {}, models["r4"])
    assert [(i["system"], i["value"]) for i in found] == [expected]


def test_out_of_area_is_declared_as_a_special_search_parameter():
    parameter = registry.get("SearchParameter", "out-of-area")
    assert parameter is not None and parameter["type"] == "special"


# -- the CapabilityStatement says what the server does ----------------------------------------

def test_capability_statement_names_every_search_parameter_operation_and_profile():
    rest = registry.capability_statement("http://127.0.0.1:8080/fhir")["rest"][0]
    resources = {r["type"]: r for r in rest["resource"]}
    assert {"Patient", "Encounter", "EpisodeOfCare", "Coverage", "Organization",
            "StructureDefinition", "CodeSystem", "ValueSet", "SearchParameter",
            "OperationDefinition"} <= set(resources)
    for kind in ("Patient", "Encounter", "EpisodeOfCare", "Coverage"):
        codes = {i["code"] for i in resources[kind]["interaction"]}
        assert {"read", "vread", "history-instance", "search-type"} <= codes, kind
        assert resources[kind]["profile"] == next(p for p, t in PROFILES.items() if t == kind)
    named_params = {s.get("definition") for r in rest["resource"]
                    for s in r.get("searchParam", [])}
    assert {sp["url"] for sp in of_type("SearchParameter")} <= named_params
    for sp in of_type("SearchParameter"):
        [base] = sp["base"]
        assert sp["code"] in {s["name"] for s in resources[base]["searchParam"]}, sp["id"]
    operations = {o["definition"] for r in rest["resource"] for o in r.get("operation", [])} \
        | {o["definition"] for o in rest.get("operation", [])}
    assert {op["url"] for op in of_type("OperationDefinition")} == operations
    assert any(o["name"] == "s117-responsibility" for o in resources["Patient"]["operation"])
    for kind in ("StructureDefinition", "CodeSystem", "ValueSet", "SearchParameter",
                 "OperationDefinition"):
        assert [s["name"] for s in resources[kind]["searchParam"]] == ["url"]
