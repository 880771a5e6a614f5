"""The Mental Health Act 2025 written notice (D8) and the Ombudsman flags (O1-O4) through
the FHIR API of `s117 serve`, as a council's system would use them: the locality policy
switches the notice rule set on (L6); `$end-entitlement` is refused 422 naming D8 without
the notice and accepted with it; `$record-charge` raises the charged-for-s117 Flag and its
refund clears it; `$s117-responsibility` lists the flags in force."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.servers import demo_server

U = "https://fhir.s117-register.uk"
NHS = "https://fhir.nhs.uk/Id/nhs-number"
FHIR_JSON = {"Content-Type": "application/fhir+json"}
HEREFORDSHIRE = "E06000019"
SARAH, NO_PLAN, NEVER_RECORDED = "9990000069", "9990000670", "9990000697"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder: Path = tmp_path_factory.mktemp("mha2025")
    policy = folder / "policy.yaml"
    policy.write_text("rule_sets:\n  mha-2025-s46-notice: {from: 2026-04-01, "
                      "applies_to: determinations-from}\n")
    with demo_server(folder, people=10, env={"S117_LOCALITY_POLICY": str(policy)}) as url:
        yield f"{url}/fhir"


def lookup(base: str, resource: str, nhs: str) -> dict[str, Any]:
    key = "identifier" if resource == "Patient" else "patient.identifier"
    found = requests.get(f"{base}/{resource}", params={key: f"{NHS}|{nhs}"}, timeout=10).json()
    return found["entry"][0]["resource"]


def operation(base: str, entitlement: str, name: str, **given: dict[str, Any]
              ) -> requests.Response:
    parameters = [{"name": key, **value} for key, values in given.items()
                  for value in (values if isinstance(values, list) else [values])]
    return requests.post(f"{base}/EpisodeOfCare/{entitlement}/${name}",
                         json={"resourceType": "Parameters", "parameter": parameters},
                         headers=FHIR_JSON, timeout=10)


def rule(response: requests.Response) -> str:
    return response.json()["issue"][0]["details"]["coding"][0]["code"]


DECISION = {"decision-date": {"valueDate": "2026-12-01"}, "la-agreed": {"valueBoolean": True},
            "la-agreed-by": {"valueString": "Herefordshire s117 lead"},
            "la-agreed-on": {"valueDate": "2026-12-01"}, "icb-agreed": {"valueBoolean": True},
            "icb-agreed-by": {"valueString": "QGH s117 commissioner"},
            "icb-agreed-on": {"valueDate": "2026-12-01"},
            "person-involved": {"valueBoolean": True},
            "reason": {"valueCoding": {"system": f"{U}/CodeSystem/s117-end-reason",
                                       "code": "no-longer-needed"}}}
NOTICE = {"notice-date": {"valueDate": "2026-12-01"},
          "notice-given-by": [{"valueString": HEREFORDSHIRE}, {"valueString": "QGH"}],
          "notice-method": {"valueCode": "post"},
          "notice-document": {"valueAttachment": {
              "contentType": "application/pdf", "title": "Letter ending s117 aftercare",
              "url": "https://docs.example.gov.uk/s117/notice-42.pdf"}}}


def test_d8_switched_on_an_end_without_the_notice_is_refused_and_with_it_accepted(base: str):
    patient = lookup(base, "Patient", SARAH)["id"]
    entitlement = lookup(base, "EpisodeOfCare", SARAH)["id"]
    review = {"resourceType": "Task", "status": "completed", "intent": "plan",
              "code": {"coding": [{"system": f"{U}/CodeSystem/s117-task-type",
                                   "code": "review"}]},
              "for": {"reference": f"Patient/{patient}"},
              "focus": {"reference": f"EpisodeOfCare/{entitlement}"},
              "executionPeriod": {"end": "2026-11-30"},
              "input": [{"type": {"coding": [{"system": f"{U}/CodeSystem/s117-task-parameter",
                                              "code": "person-involved"}]},
                         "valueBoolean": True}],
              "output": [{"type": {"coding": [{"system": f"{U}/CodeSystem/s117-task-parameter",
                                               "code": "needs-arise-from-disorder"}]},
                          "valueBoolean": False}]}
    assert requests.post(f"{base}/Task", json=review, headers=FHIR_JSON,
                         timeout=10).status_code == 201
    refused = operation(base, entitlement, "end-entitlement", **DECISION)
    assert refused.status_code == 422 and rule(refused) == "D8", refused.text
    assert "s46(2)" in refused.text
    one_body = operation(base, entitlement, "end-entitlement", **DECISION, **{
        **NOTICE, "notice-given-by": {"valueString": HEREFORDSHIRE}})
    assert one_body.status_code == 422 and rule(one_body) == "D8", one_body.text
    partial = operation(base, entitlement, "end-entitlement", **DECISION,
                        **{"notice-date": NOTICE["notice-date"]})
    assert partial.status_code == 400 and "notice-method" in partial.text
    assert lookup(base, "EpisodeOfCare", SARAH)["status"] == "active"  # nothing changed
    done = operation(base, entitlement, "end-entitlement", **DECISION, **NOTICE)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "finished"


def flags(base: str, nhs: str, code: str) -> list[dict[str, Any]]:
    patient = lookup(base, "Patient", nhs)["id"]
    bundle = requests.get(f"{base}/Flag", params={"patient": f"Patient/{patient}",
                                                  "code": code}, timeout=10).json()
    return [e["resource"] for e in bundle.get("entry", [])]


def test_o4_record_charge_raises_the_flag_and_the_refund_clears_it(base: str):
    entitlement = lookup(base, "EpisodeOfCare", NO_PLAN)["id"]
    charge = {"charge-id": {"valueString": "HC-9"}, "charged-from": {"valueDate": "2026-01-01"},
              "charged-to": {"valueDate": "2026-06-30"}, "amount": {"valueDecimal": 1820.5},
              "charged-by": {"valueString": HEREFORDSHIRE}}
    assert operation(base, entitlement, "record-charge", **charge).status_code == 200
    [flag] = flags(base, NO_PLAN, "charged-for-s117")
    assert flag["status"] == "active" and "£1,820.50" in flag["code"]["text"]
    assert "(rule O4)" in flag["code"]["text"]
    bad = operation(base, entitlement, "record-charge", **charge,
                    **{"refunded-on": {"valueDate": "2026-10-01"}})
    assert bad.status_code in (400, 422) and "refunded" in bad.text
    refunded = operation(base, entitlement, "record-charge", **charge,
                         **{"refunded-amount": {"valueDecimal": 1900},
                            "refunded-on": {"valueDate": "2026-10-01"}})
    assert refunded.status_code == 200, refunded.text
    [flag] = flags(base, NO_PLAN, "charged-for-s117")
    assert flag["status"] == "inactive" and flag["period"]["end"] == "2026-10-01"


def test_o1_o3_flags_in_the_responsibility_answer_and_as_fhir_flags(base: str):
    answer = requests.post(f"{base}/Patient/$s117-responsibility", json={
        "resourceType": "Parameters", "parameter": [
            {"name": "identifier", "valueIdentifier": {"system": NHS,
                                                       "value": NEVER_RECORDED}}]},
        headers=FHIR_JSON, timeout=10).json()
    listed = {p["valueCode"] for p in answer["parameter"] if p["name"] == "flag"}
    assert {"no-aftercare-plan", "no-assessment", "entitlement-not-acknowledged"} <= listed
    [o3] = flags(base, NEVER_RECORDED, "entitlement-not-acknowledged")
    assert o3["status"] == "active" and "(rule O3)" in o3["code"]["text"]
    assert not flags(base, NO_PLAN, "entitlement-not-acknowledged")  # met at a review
