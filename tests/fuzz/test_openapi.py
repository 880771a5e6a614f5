"""schemathesis against the OpenAPI document `/fhir/openapi.json` serves, on a live
`s117 serve` (issue 3 "Bad input", issue 9 "Fuzzing"): every operation the server documents,
with generated and mutated input, answers without a server error, and every refusal is an
OperationOutcome that says why.

The document is built here from the same CapabilityStatement the server serves (so the test
ids exist before the server starts); schemathesis's own pytest plugin does not run on pytest 9,
so each operation is driven through its hypothesis strategy directly."""

from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.http.fhir.openapi import document
from fhir_profiles import registry
from tests.fuzz.conftest import EXAMPLES

PLACEHOLDER = "http://127.0.0.1:1/fhir"
SCHEMA = schemathesis.openapi.from_dict(
    document(registry.capability_statement(PLACEHOLDER), PLACEHOLDER))
OPERATIONS = {op.ok().label: op.ok() for op in SCHEMA.get_all_operations()}


def refusal_says_why(response: requests.Response, request: str = "") -> None:
    assert response.status_code < 500, \
        f"server error {response.status_code} for {request}: {response.text}"
    if response.status_code < 400 or response.status_code == 405:
        return
    body = response.json()
    assert body.get("resourceType") == "OperationOutcome", body
    assert body["issue"] and all(i.get("diagnostics") for i in body["issue"]), body


def test_every_documented_operation_is_fuzzed() -> None:
    assert len(OPERATIONS) >= 30
    assert {"GET /Patient/$s117-responsibility", "POST /$process-message",
            "PUT /Patient/{id}", "POST /EpisodeOfCare/{id}/$end-entitlement"} <= set(OPERATIONS)


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_every_operation_refuses_bad_input_with_a_reason(label: str, fuzz_base: str) -> None:
    operation = OPERATIONS[label]

    @given(st.data())
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(data: st.DataObject) -> None:
        case = data.draw(operation.as_strategy())
        response = case.call(base_url=f"{fuzz_base}/fhir", timeout=30)
        refusal_says_why(response, case.as_curl_command(base_url=f"{fuzz_base}/fhir"))

    fuzz()
