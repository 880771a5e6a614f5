"""Mutated FHIR JSON against the live writes (issue 3 "Bad input", issue 9 "Fuzzing"):
valid resources and messages with elements removed, retyped, nulled, duplicated, renamed or
nested too deep are answered 2xx or 4xx, never 5xx; a refusal is an OperationOutcome that
says what is wrong; and a refused write changes nothing."""

from __future__ import annotations

import copy
import json
from typing import Any

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from register.nhs_number import synthetic
from tests.fuzz.conftest import EXAMPLES

NHS = "https://fhir.nhs.uk/Id/nhs-number"
FHIR_JSON = {"Content-Type": "application/fhir+json"}
LEGAL_STATUS = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-LegalStatus"


def patient() -> dict[str, Any]:
    return {"resourceType": "Patient",
            "meta": {"profile": ["https://fhir.s117-register.uk/StructureDefinition/S117Patient"]},
            "identifier": [{"system": NHS, "value": synthetic(700)}],
            "birthDate": "1984-02-29",
            "address": [{"line": ["1 High Street"], "postalCode": "HR1 1AA"}],
            "generalPractitioner": [{"identifier": {
                "system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "M81001"}}]}


def message() -> dict[str, Any]:
    return {"resourceType": "Bundle", "id": "fuzz-1", "type": "message",
            "timestamp": "2025-01-10T10:00:00Z", "entry": [
                {"fullUrl": "urn:uuid:header", "resource": {
                    "resourceType": "MessageHeader",
                    "eventCoding": {"system": "https://fhir.s117-register.uk/CodeSystem/s117-event",
                                    "code": "admission"},
                    "sender": {"identifier": {
                        "system": "https://fhir.nhs.uk/Id/ods-organization-code",
                        "value": "RLQ"}},
                    "source": {"endpoint": "https://epr.trust.example/fhir"}}},
                {"fullUrl": "urn:uuid:patient", "resource": {
                    "resourceType": "Patient", "identifier": [{"system": NHS,
                                                               "value": synthetic(701)}]}},
                {"fullUrl": "urn:uuid:encounter", "resource": {
                    "resourceType": "Encounter", "status": "in-progress",
                    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                              "code": "IMP"},
                    "identifier": [{"value": "FUZZ-1"}],
                    "period": {"start": "2025-01-10T10:00:00Z"},
                    "extension": [{"url": LEGAL_STATUS, "extension": [
                        {"url": "legalStatusClassification", "valueCodeableConcept": {
                            "coding": [{"code": "03"}]}},
                        {"url": "legalStatusContext", "valueCodeableConcept": {
                            "coding": [{"code": "admission"}]}}]}]}}]}


def _paths(node: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [at]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*at, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*at, i))
    return found


ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30),
    st.just(""), st.just([]), st.just({}), st.just("x" * 5000),
    st.just({"resourceType": "Patient"}), st.just([[[[[[["deep"]]]]]]]))


@st.composite
def mutated(draw: st.DrawFn, original: dict[str, Any]) -> dict[str, Any] | list[Any]:
    doc: Any = copy.deepcopy(original)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        action = draw(st.sampled_from(["delete", "replace", "rename", "duplicate", "wrap"]))
        if action == "delete":
            del parent[last]
        elif action == "replace":
            parent[last] = copy.deepcopy(draw(ODD_VALUES))  # `just` values are shared
        elif action == "rename" and isinstance(parent, dict):
            parent[f"{last}{draw(st.sampled_from(['x', '_', 'Z']))}"] = parent.pop(last)
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[last]))
        else:
            parent[last] = [parent[last]] if not isinstance(parent[last], list) else \
                {"value": parent[last]}
    return doc


def _count(base: str, nhs: str) -> int:
    """Patients recorded with this NHS number, and entitlements in the register."""
    people = requests.get(f"{base}/fhir/Patient", params={"identifier": f"{NHS}|{nhs}"},
                          timeout=30).json()["total"]
    entitlements = requests.get(f"{base}/fhir/EpisodeOfCare", params={"_summary": "count"},
                                timeout=30).json()["total"]
    return people * 1_000_000 + entitlements


def _check(response: requests.Response) -> None:
    assert response.status_code < 500, f"{response.status_code}: {response.text[:2000]}"
    if response.status_code >= 400:
        body = response.json()
        assert body["resourceType"] == "OperationOutcome", body
        assert all(i.get("diagnostics") for i in body["issue"]), body


FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))


@given(body=mutated(patient()))
@FUZZ
def test_mutated_patients_are_refused_with_reasons_and_nothing_partial(fuzz_base: str,
                                                                       body: Any) -> None:
    before = _count(fuzz_base, synthetic(700))
    response = requests.post(f"{fuzz_base}/fhir/Patient", data=json.dumps(body),
                             headers=FHIR_JSON, timeout=30)
    _check(response)
    if response.status_code >= 400:
        assert _count(fuzz_base, synthetic(700)) == before
    else:  # a mutation that is still valid creates the Patient: remove nothing, note it
        assert response.status_code in (200, 201)


@given(body=mutated(message()))
@FUZZ
def test_mutated_trust_messages_are_refused_with_reasons(fuzz_base: str, body: Any) -> None:
    if isinstance(body, dict):
        body["id"] = f"fuzz-{abs(hash(json.dumps(body, sort_keys=True)))}"
    before = _count(fuzz_base, synthetic(701))
    response = requests.post(f"{fuzz_base}/fhir/$process-message", data=json.dumps(body),
                             headers=FHIR_JSON, timeout=30)
    _check(response)
    if response.status_code >= 400:
        assert _count(fuzz_base, synthetic(701)) == before


@given(body=st.one_of(mutated(patient()), mutated(message())))
@FUZZ
def test_validate_explains_every_mutation(fuzz_base: str, body: Any) -> None:
    _check(requests.post(f"{fuzz_base}/fhir/$validate", data=json.dumps(body),
                         headers=FHIR_JSON, timeout=30))


@given(raw=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
@FUZZ
def test_bytes_that_are_not_json_are_refused(fuzz_base: str, raw: bytes) -> None:
    for path in ("Patient", "$process-message", "$validate", ""):
        _check(requests.post(f"{fuzz_base}/fhir/{path}", data=raw, headers=FHIR_JSON,
                             timeout=30))


def test_json_nested_beyond_any_parser_is_refused(fuzz_base: str) -> None:
    for raw in (b"[" * 100_000, b'{"a":' * 50_000):
        for path in ("Patient", "$process-message", "$validate"):
            _check(requests.post(f"{fuzz_base}/fhir/{path}", data=raw, headers=FHIR_JSON,
                                 timeout=30))
