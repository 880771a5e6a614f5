"""The conformance resources the register publishes (issue 3, Build 1): valid R4 by two
independent validators, complete (every canonical URL has its resource), consistent with the
engine's rule catalogue, and exactly what `fhir_profiles.author` writes."""

from __future__ import annotations

from collections import Counter

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhirclient.models.capabilitystatement import CapabilityStatement

from fhir_profiles import author, registry
from fhir_profiles import canonical as url
from register.rules.citations import CITATIONS
from tests.fhir_js import errors, validate_with_fhirjs

RESOURCES = registry.all_resources()


def test_the_files_are_what_the_authoring_module_writes():
    on_disk = {f.name: f.read_text(encoding="utf-8") for f in author.FOLDER.glob("*.json")}
    assert on_disk == author.rendered(), "run `python -m fhir_profiles.author`"


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: f"{r['resourceType']}/{r['id']}")
def test_every_resource_is_valid_r4_in_the_python_models(resource: dict):
    model = get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    assert model.id == resource["id"]
    assert resource["url"].endswith(f"/{resource['resourceType']}/{resource['id']}")


def test_every_resource_is_valid_r4_for_fhir_js():
    results = validate_with_fhirjs(list(RESOURCES))
    assert len(results) == len(RESOURCES)
    assert errors(results) == []


def test_every_canonical_url_has_its_resource():
    published = {r["url"] for r in RESOURCES}
    ours = {value for name, value in vars(url).items()
            if name.startswith(("EXT_", "CS_")) or name in (
                "PATIENT", "DETENTION", "ENTITLEMENT", "FUNDING", "AFTERCARE_PLAN")}
    assert ours - published == set()
    assert {url.vs(u.rsplit("/", 1)[1]) for u in ours if "/CodeSystem/" in u} <= published


def test_the_rule_code_system_has_every_rule_the_engine_cites():
    codes = registry.code_system(url.CS_RULE)
    assert set(CITATIONS) <= codes
    rules = registry.by_url(url.CS_RULE)
    assert rules is not None
    for concept in rules["concept"]:
        if concept["code"] in CITATIONS:
            assert concept["definition"] == CITATIONS[concept["code"]]


def test_code_systems_have_no_duplicate_codes_and_count_them():
    for system in registry.search("CodeSystem"):
        codes = Counter(c["code"] for c in system["concept"])
        assert max(codes.values()) == 1, system["id"]
        assert system["count"] == len(codes)


def test_the_end_reasons_are_the_domains():
    from register.model import EndReason

    assert registry.code_system(url.CS_END_REASON) == {r.value for r in EndReason}


def test_capability_statement_lists_what_is_published_and_parses_in_fhirclient():
    statement = registry.capability_statement("http://127.0.0.1:8080/fhir")
    assert statement["fhirVersion"] == "4.0.1" and statement["date"]
    assert statement["implementation"]["url"] == "http://127.0.0.1:8080/fhir"
    parsed = CapabilityStatement(statement)  # strict FHIR 4.0.1 models
    assert parsed.rest[0].mode == "server"
    rest = statement["rest"][0]
    named = {s.get("definition") for r in rest["resource"] for s in r.get("searchParam", [])}
    assert {sp["url"] for sp in registry.search("SearchParameter")} <= named
    operations = {o["definition"] for r in rest["resource"] for o in r.get("operation", [])} \
        | {o["definition"] for o in rest.get("operation", [])}
    assert {op["url"] for op in registry.search("OperationDefinition")} == operations
    profiles = {r.get("profile") for r in rest["resource"]}
    assert {url.PATIENT, url.DETENTION, url.ENTITLEMENT, url.FUNDING} <= profiles
