"""The FHIR API as a council or ICB uses it (issue 3 "Done when"): `s117 serve` on a demo
register, driven by two FHIR clients nobody here wrote (fhirclient, fhirpy) and by plain HTTP
for the writes, refusals and operations."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
import requests
from fhirclient import client as fhirclient_client
from fhirclient.models.capabilitystatement import CapabilityStatement
from fhirclient.models.episodeofcare import EpisodeOfCare as FcEpisodeOfCare
from fhirclient.models.patient import Patient as FcPatient
from fhirpy import SyncFHIRClient
from fhirpy.base.searchset import Raw

from register.nhs_number import synthetic
from tests.servers import demo_server

NHS = "https://fhir.nhs.uk/Id/nhs-number"
CS = "https://fhir.s117-register.uk/CodeSystem"
FHIR_JSON = {"Content-Type": "application/fhir+json"}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A demo register served by `s117 serve`, as the README tells a user to start it."""
    with demo_server(tmp_path_factory.mktemp("fhir")) as url:
        yield f"{url}/fhir"


def ident(nhs: str) -> str:
    return f"{NHS}|{nhs}"


def params(response: requests.Response) -> dict[str, list[dict]]:
    assert response.status_code == 200, response.text
    out: dict[str, list[dict]] = {}
    for p in response.json()["parameter"]:
        out.setdefault(p["name"], []).append(p)
    return out


def issues(response: requests.Response) -> list[dict]:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    return body["issue"]


def entitlement_of(base: str, nhs: str, status: str = "active") -> dict:
    found = requests.get(f"{base}/EpisodeOfCare", params={"patient.identifier": ident(nhs),
                                                          "status": status}, timeout=10).json()
    assert found["total"] == 1, found
    return found["entry"][0]["resource"]


# -- fhirclient: strict FHIR 4.0.1 models -------------------------------------------------

def test_fhirclient_prepares_against_the_capability_statement_and_reads(base: str):
    smart = fhirclient_client.FHIRClient(settings={"app_id": "s117-tests", "api_base": base})
    assert smart.prepare()
    statement = CapabilityStatement.read_from("metadata", smart.server)
    assert statement.fhirVersion == "4.0.1" and statement.date is not None
    served = {r.type for r in statement.rest[0].resource}
    assert {"Patient", "EpisodeOfCare", "Encounter", "Coverage", "Organization"} <= served

    bundle = FcPatient.where({"identifier": ident("9990000018")}).perform(smart.server)
    assert bundle.total == 1
    person = bundle.entry[0].resource
    assert person.identifier[0].value == "9990000018"
    episodes = FcEpisodeOfCare.where({"patient": f"Patient/{person.id}"}).perform_resources(
        smart.server)
    assert episodes and all(e.patient.reference == f"Patient/{person.id}" for e in episodes)
    again = FcEpisodeOfCare.read(episodes[0].id, smart.server)
    assert again.status == episodes[0].status


# -- fhirpy: search, chained parameter, paging ----------------------------------------------

def test_fhirpy_finds_an_entitlement_by_nhs_number_and_reads_why(base: str):
    client = SyncFHIRClient(base)
    found = client.resources("EpisodeOfCare").search(
        Raw(**{"patient.identifier": ident("9990000018")})).fetch()
    assert len(found) == 1
    episode = found[0]
    la = next(e for e in episode["extension"] if e["url"].endswith("ResponsibleLocalAuthority"))
    icb = next(e for e in episode["extension"] if e["url"].endswith("ResponsibleIcb"))
    assert la["valueReference"]["identifier"]["value"] == "E06000019"  # Herefordshire
    assert icb["valueReference"]["identifier"]["value"] == "QGH"
    basis = [e for e in episode["extension"] if e["url"].endswith("ResponsibilityBasis")]
    rules = {sub["valueCoding"]["code"] for b in basis for sub in b["extension"]
             if sub["url"] == "rule"}
    assert {"E1", "L1", "N5"} <= rules
    assert all(any(s["url"] == "citation" and s["valueString"] for s in b["extension"])
               for b in basis)


def test_fhirpy_pages_through_a_councils_caseload_with_absolute_next_links(base: str):
    client = SyncFHIRClient(base)
    search = client.resources("EpisodeOfCare").search(status="active")
    total = search.count()
    assert total > 5
    seen = [e.id for e in search.limit(5).fetch_all()]
    assert len(seen) == total and len(set(seen)) == total
    first_page = requests.get(f"{base}/EpisodeOfCare", params={"status": "active",
                                                               "_count": 5}, timeout=10).json()
    nexts = [link["url"] for link in first_page["link"] if link["relation"] == "next"]
    assert nexts and nexts[0].startswith("http://127.0.0.1:")


def test_a_caseload_page_is_not_counted_unless_the_total_is_asked_for(base: str):
    """Issue 22, Build 4: like HAPI FHIR, Bundle.total is given when it costs nothing (the
    page reaches the end) or is asked for (`_total=accurate`, `_summary=count`); otherwise
    the next link says there is more."""
    def get(**query: object) -> dict:
        answer = requests.get(f"{base}/EpisodeOfCare", params={"status": "active", **query},
                              timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def has_next(bundle: dict) -> bool:
        return any(link["relation"] == "next" for link in bundle["link"])
    total = get(_total="accurate", _count=2)["total"]
    assert total > 4
    first = get(_count=2)
    assert "total" not in first and has_next(first) and len(first["entry"]) == 2
    last = get(_count=2, _offset=total - 1)
    assert last["total"] == total and not has_next(last) and len(last["entry"]) == 1
    assert get(_summary="count")["total"] == total == get(_count=0)["total"]
    refused = requests.get(f"{base}/EpisodeOfCare", params={"_total": "some"}, timeout=10)
    assert refused.status_code == 400 and "_total" in refused.text


def test_summary_count_and_out_of_area_search(base: str):
    counted = requests.get(f"{base}/EpisodeOfCare", params={"out-of-area": "true",
                                                            "_summary": "count"}, timeout=10)
    body = counted.json()
    assert body["total"] >= 1 and not [e for e in body["entry"]
                                       if e["search"]["mode"] == "match"]
    hosted = requests.get(f"{base}/EpisodeOfCare", params={
        "residence-la": "E06000030", "out-of-area": "true",
        "_include": "EpisodeOfCare:patient"}, timeout=10).json()
    patients = [e["resource"] for e in hosted["entry"] if e["search"]["mode"] == "include"]
    assert any(p["identifier"][0]["value"] == "9990000018" for p in patients)


# -- $s117-responsibility ------------------------------------------------------------------

def test_responsibility_operation_names_bodies_rules_and_citations(base: str):
    answer = params(requests.get(f"{base}/Patient/$s117-responsibility",
                                 params={"identifier": ident("9990000018")}, timeout=10))
    assert answer["entitled"][0]["valueBoolean"] is True
    assert answer["local-authority"][0]["valueIdentifier"]["value"] == "E06000019"
    assert answer["icb"][0]["valueIdentifier"]["value"] == "QGH"
    parts = [{p["name"]: p for p in b["part"]} for b in answer["basis"]]
    assert {"E1", "L1", "N5"} <= {p["rule"]["valueCoding"]["code"] for p in parts}
    assert all(p["citation"]["valueString"] for p in parts)


def test_responsibility_as_it_stood_on_a_date_gives_commissioning_and_paying_bodies(base: str):
    answer = params(requests.get(f"{base}/Patient/$s117-responsibility", params={
        "identifier": ident("9990000042"), "date": "2022-01-01"}, timeout=10))
    assert answer["as-of"][0]["valueDate"] == "2022-01-01"
    assert answer["commissioning-body"][0]["valueIdentifier"]["value"] == "92G"
    assert answer["paying-body"][0]["valueIdentifier"]["value"] == "11M"


def test_responsibility_by_post_keeps_the_nhs_number_out_of_the_url(base: str):
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "identifier", "valueIdentifier": {"system": NHS, "value": "9990000042"}},
        {"name": "date", "valueDate": "2022-01-01"}]}
    posted = requests.post(f"{base}/Patient/$s117-responsibility", json=body,
                           headers=FHIR_JSON, timeout=10)
    by_get = requests.get(f"{base}/Patient/$s117-responsibility", params={
        "identifier": ident("9990000042"), "date": "2022-01-01"}, timeout=10)
    assert params(posted) == params(by_get)
    body["parameter"][0] = {"name": "identifier", "valueString": ident("9990000019")}
    bad = requests.post(f"{base}/Patient/$s117-responsibility", json=body, headers=FHIR_JSON,
                        timeout=10)
    assert bad.status_code == 400 and issues(bad)[0]["expression"] == ["identifier"]
    body["parameter"].append({"name": "colour", "valueString": "blue"})
    extra = requests.post(f"{base}/Patient/$s117-responsibility", json=body,
                          headers=FHIR_JSON, timeout=10)
    assert extra.status_code == 400 and issues(extra)[0]["expression"] == ["colour"]


def test_responsibility_refusals(base: str):
    unknown = requests.get(f"{base}/Patient/$s117-responsibility",
                           params={"identifier": ident("9990000093")}, timeout=10)
    assert unknown.status_code == 404 and issues(unknown)[0]["code"] == "not-found"
    bad = requests.get(f"{base}/Patient/$s117-responsibility",
                       params={"identifier": ident("9990000019")}, timeout=10)
    assert bad.status_code == 400 and issues(bad)[0]["expression"] == ["identifier"]
    date = requests.get(f"{base}/Patient/$s117-responsibility",
                        params={"identifier": ident("9990000018"), "date": "1/1/22"},
                        timeout=10)
    assert date.status_code == 400 and issues(date)[0]["expression"] == ["date"]


# -- reads, versions, refusals -------------------------------------------------------------

def test_unknown_parameters_are_reported_or_refused_when_strict(base: str):
    lenient = requests.get(f"{base}/EpisodeOfCare", params={"colour": "blue"}, timeout=10)
    assert lenient.status_code == 200
    outcome = [e for e in lenient.json()["entry"] if e["search"]["mode"] == "outcome"]
    assert "colour" in outcome[0]["resource"]["issue"][0]["diagnostics"]
    strict = requests.get(f"{base}/EpisodeOfCare", params={"colour": "blue"},
                          headers={"Prefer": "handling=strict"}, timeout=10)
    assert strict.status_code == 400 and issues(strict)[0]["expression"] == ["colour"]


def test_missing_resources_and_types_are_operation_outcomes(base: str):
    gone = requests.get(f"{base}/Patient/987654321", timeout=10)
    assert gone.status_code == 404 and issues(gone)[0]["code"] == "not-found"
    other = requests.get(f"{base}/Medication/1", timeout=10)
    assert other.status_code == 404 and issues(other)[0]["code"] == "not-supported"


# -- writes -------------------------------------------------------------------------------

def new_patient(nhs: str, postcode: str = "HR1 2HX") -> dict:
    return {"resourceType": "Patient",
            "meta": {"profile": ["https://fhir.s117-register.uk/StructureDefinition/S117Patient"]},
            "identifier": [{"system": NHS, "value": nhs}], "birthDate": "1975-03-02",
            "address": [{"use": "home", "line": ["1 High Street"], "postalCode": postcode}]}


def test_create_conditional_create_and_update_with_if_match(base: str):
    nhs = synthetic(900_001)
    created = requests.post(f"{base}/Patient", json=new_patient(nhs), headers=FHIR_JSON,
                            timeout=10)
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    assert created.headers["ETag"] == 'W/"1"'
    assert created.headers["Location"].endswith(f"/Patient/{pid}/_history/1")

    again = requests.post(f"{base}/Patient", json=new_patient(nhs), timeout=10,
                          headers={**FHIR_JSON, "If-None-Exist": f"identifier={ident(nhs)}"})
    assert again.status_code == 200 and again.json()["id"] == pid
    duplicate = requests.post(f"{base}/Patient", json=new_patient(nhs), headers=FHIR_JSON,
                              timeout=10)
    assert duplicate.status_code == 409

    moved = {**new_patient(nhs, "SN1 1AA"), "id": pid}
    updated = requests.put(f"{base}/Patient/{pid}", json=moved, timeout=10,
                           headers={**FHIR_JSON, "If-Match": 'W/"1"'})
    assert updated.status_code == 200, updated.text
    assert updated.headers["ETag"] == 'W/"2"'
    assert updated.json()["address"][0]["postalCode"] == "SN1 1AA"

    stale = requests.put(f"{base}/Patient/{pid}", json={**new_patient(nhs), "id": pid},
                         timeout=10, headers={**FHIR_JSON, "If-Match": 'W/"1"'})
    assert stale.status_code == 412, stale.text
    current = requests.get(f"{base}/Patient/{pid}", timeout=10).json()
    assert current["address"][0]["postalCode"] == "SN1 1AA"  # the stale write changed nothing
    first = requests.get(f"{base}/Patient/{pid}/_history/1", timeout=10).json()
    assert first["address"][0]["postalCode"] == "HR1 2HX"
    history = requests.get(f"{base}/Patient/{pid}/_history", timeout=10).json()
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]

    renumbered = {**moved, "identifier": [{"system": NHS, "value": synthetic(900_002)}]}
    refused = requests.put(f"{base}/Patient/{pid}", json=renumbered, headers=FHIR_JSON,
                           timeout=10)
    assert refused.status_code == 422 and issues(refused)[0]["expression"] == \
        ["Patient.identifier"]


@pytest.mark.parametrize(("body", "status", "says"), [
    (b'{"resourceType": "Patient", ', 400, "not valid JSON at line 1"),
    (b'["Patient"]', 400, "JSON object"),
    (json.dumps({"resourceType": "Observation"}).encode(), 400, "expected resourceType"),
    (json.dumps({"resourceType": "Patient", "colour": "blue",
                 "identifier": [{"system": NHS, "value": "9990000018"}]}).encode(), 400,
     "colour"),
    (json.dumps({"resourceType": "Patient", "birthDate": "yesterday",
                 "identifier": [{"system": NHS, "value": "9990000018"}]}).encode(), 400,
     "birthDate"),
    (json.dumps({"resourceType": "Patient",
                 "identifier": [{"system": NHS, "value": "9990000019"}]}).encode(), 422, ""),
    (b"[" * 5000 + b"]" * 5000, 400, ""),
])
def test_malformed_writes_get_an_operation_outcome_and_change_nothing(
        base: str, body: bytes, status: int, says: str):
    before = requests.get(f"{base}/Patient", params={"identifier": ident("9990000018")},
                          timeout=10).json()["entry"][0]["resource"]["meta"]["versionId"]
    response = requests.post(f"{base}/Patient", data=body, headers=FHIR_JSON, timeout=10)
    assert response.status_code == status, response.text
    assert says in json.dumps(issues(response))
    after = requests.get(f"{base}/Patient", params={"identifier": ident("9990000018")},
                         timeout=10).json()["entry"][0]["resource"]["meta"]["versionId"]
    assert after == before


def test_oversize_bodies_are_refused(base: str):
    huge = b'{"resourceType": "Patient", "text": "' + b"x" * (6 * 1024 * 1024) + b'"}'
    response = requests.post(f"{base}/Patient", data=huge, headers=FHIR_JSON, timeout=30)
    assert response.status_code == 413 and issues(response)[0]["code"] == "too-costly"


def test_entitlements_are_not_written_directly(base: str):
    episode = entitlement_of(base, "9990000018")
    response = requests.put(f"{base}/EpisodeOfCare/{episode['id']}", json=episode,
                            headers=FHIR_JSON, timeout=10)
    assert response.status_code == 405 and "$end-entitlement" in issues(response)[0][
        "diagnostics"]


# -- $end-entitlement and $reinstate --------------------------------------------------------

def decision(*reasons: str, la: bool = True, icb: bool = True, person: bool = True) -> dict:
    """A joint end decision: each body's agreement with who and when (rule D1)."""
    return {"resourceType": "Parameters", "parameter": [
        {"name": "decision-date", "valueDate": "2026-11-01"},
        {"name": "la-agreed", "valueBoolean": la}, {"name": "icb-agreed", "valueBoolean": icb},
        {"name": "la-agreed-by", "valueString": "s117 lead"},
        {"name": "la-agreed-on", "valueDate": "2026-11-01"},
        {"name": "icb-agreed-by", "valueString": "ICB s117 commissioner"},
        {"name": "icb-agreed-on", "valueDate": "2026-10-30"},
        {"name": "person-involved", "valueBoolean": person},
        *({"name": "reason", "valueCoding": {
            "system": "https://fhir.s117-register.uk/CodeSystem/s117-end-reason", "code": r}}
          for r in reasons)]}


def rule_of(response: requests.Response) -> str:
    return issues(response)[0]["details"]["coding"][0]["code"]


def test_end_decisions_that_break_a_rule_get_422_with_the_rule_id(base: str):
    episode = entitlement_of(base, "9990000026")
    end = f"{base}/EpisodeOfCare/{episode['id']}/$end-entitlement"
    alone = requests.post(end, json=decision("no-longer-needed", icb=False), headers=FHIR_JSON,
                          timeout=10)
    assert alone.status_code == 422 and rule_of(alone) == "D1"
    weak = requests.post(end, json=decision("time-elapsed"), headers=FHIR_JSON, timeout=10)
    assert weak.status_code == 422 and rule_of(weak) == "D3"
    cto = entitlement_of(base, "9990000050")
    on_cto = requests.post(f"{base}/EpisodeOfCare/{cto['id']}/$end-entitlement",
                           json=decision("no-longer-needed"), headers=FHIR_JSON, timeout=10)
    assert on_cto.status_code == 422 and rule_of(on_cto) == "D2"
    unknown = requests.post(end, json=decision("bored"), headers=FHIR_JSON, timeout=10)
    assert unknown.status_code == 400 and "reason" in issues(unknown)[0]["expression"][0]
    assert entitlement_of(base, "9990000026")["meta"]["versionId"] == episode["meta"][
        "versionId"]


def review(person: str, episode: str, day: str, needs_arise: bool) -> dict:
    """An s117 review held (S117Task), at which the bodies decide (rule D1)."""
    def param(code: str, **value: object) -> dict:
        return {"type": {"coding": [{"system": f"{CS}/s117-task-parameter", "code": code}]},
                **value}
    return {"resourceType": "Task", "status": "completed", "intent": "plan",
            "code": {"coding": [{"system": f"{CS}/s117-task-type", "code": "review"}]},
            "for": {"reference": person}, "focus": {"reference": f"EpisodeOfCare/{episode}"},
            "executionPeriod": {"start": day, "end": day},
            "input": [param("attendee", valueString="Dee Patel (care coordinator, R1A)"),
                      param("person-involved", valueBoolean=True),
                      param("carer-involved", valueBoolean=True)],
            "output": [param("outcome", valueString="well and settled"),
                       param("needs-arise-from-disorder", valueBoolean=needs_arise)]}


def test_a_joint_end_decision_ends_and_reinstate_brings_it_back(base: str):
    episode = entitlement_of(base, "9990000026")
    end = f"{base}/EpisodeOfCare/{episode['id']}/$end-entitlement"
    without_review = requests.post(end, json=decision("no-longer-needed"), timeout=10,
                                   headers=FHIR_JSON)
    assert without_review.status_code == 422 and rule_of(without_review) == "D1"
    held = requests.post(f"{base}/Task", json=review(episode["patient"]["reference"],
                                                     episode["id"], "2026-10-30", False),
                         headers=FHIR_JSON, timeout=10)
    assert held.status_code == 201, held.text
    episode = entitlement_of(base, "9990000026")
    version = episode["meta"]["versionId"]
    stale = requests.post(end, json=decision("no-longer-needed"), timeout=10,
                          headers={**FHIR_JSON, "If-Match": f'W/"{int(version) - 1}"'})
    assert stale.status_code == 412, stale.text
    ended = requests.post(end, json=decision("no-longer-needed"), timeout=10,
                          headers={**FHIR_JSON, "If-Match": f'W/"{version}"'})
    assert ended.status_code == 200, ended.text
    assert ended.json()["status"] == "finished"
    assert ended.json()["period"]["end"] == "2026-11-01"
    back = requests.post(f"{base}/EpisodeOfCare/{episode['id']}/$reinstate", json={
        "resourceType": "Parameters", "parameter": [
            {"name": "date", "valueDate": "2026-11-20"},
            {"name": "reason", "valueString": "needs arose again from the same disorder"}]},
        headers=FHIR_JSON, timeout=10)
    assert back.status_code == 200, back.text
    assert back.json()["status"] == "active"
    statuses = [h["status"] for h in back.json()["statusHistory"]]
    assert "finished" in statuses


# -- transaction and batch Bundles, $everything, OpenAPI -------------------------------------

def test_fhirpy_transaction_is_all_or_nothing(base: str):
    client = SyncFHIRClient(base)
    fresh, other = synthetic(900_003), synthetic(900_004)
    episode = entitlement_of(base, "9990000018")
    breaks_d1 = {"resource": decision("no-longer-needed", la=False),
                 "request": {"method": "POST",
                             "url": f"EpisodeOfCare/{episode['id']}/$end-entitlement"}}
    refused = requests.post(base, headers=FHIR_JSON, timeout=10, json={
        "resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": new_patient(fresh), "request": {"method": "POST", "url": "Patient"}},
            breaks_d1]})
    assert refused.status_code == 422
    assert issues(refused)[0]["expression"][0].startswith("Bundle.entry[1]")
    assert client.resources("Patient").search(identifier=ident(fresh)).count() == 0

    done = client.execute("", method="post", data={
        "resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": new_patient(fresh), "request": {"method": "POST", "url": "Patient"}},
            {"resource": new_patient(other), "request": {
                "method": "POST", "url": "Patient", "ifNoneExist": f"identifier={ident(other)}"}},
            {"request": {"method": "GET", "url": "Organization/E06000019"}}]})
    assert done["type"] == "transaction-response"
    assert [e["response"]["status"] for e in done["entry"]] == ["201 Created", "201 Created",
                                                                 "200 OK"]
    assert done["entry"][0]["response"]["location"].startswith("Patient/")
    assert client.resources("Patient").search(identifier=ident(fresh)).count() == 1


def test_a_batch_answers_each_entry_on_its_own(base: str):
    nhs = synthetic(900_005)
    answer = requests.post(base, headers=FHIR_JSON, timeout=10, json={
        "resourceType": "Bundle", "type": "batch", "entry": [
            {"resource": new_patient(nhs), "request": {"method": "POST", "url": "Patient"}},
            {"resource": new_patient(nhs), "request": {"method": "POST", "url": "Patient"}},
            {"request": {"method": "GET", "url": "Patient/987654321"}}]}).json()
    statuses = [e["response"]["status"] for e in answer["entry"]]
    assert statuses == ["201 Created", "409 Conflict", "404 Not Found"]
    assert answer["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"


def test_everything_returns_the_persons_whole_record(base: str):
    found = requests.get(f"{base}/Patient", params={"identifier": ident("9990000018")},
                         timeout=10).json()
    pid = found["entry"][0]["resource"]["id"]
    everything = requests.get(f"{base}/Patient/{pid}/$everything", timeout=10).json()
    kinds = [e["resource"]["resourceType"] for e in everything["entry"]]
    assert kinds[0] == "Patient" and {"Encounter", "EpisodeOfCare", "Coverage",
                                      "Organization"} <= set(kinds)
    orgs = {e["resource"]["id"] for e in everything["entry"]
            if e["resource"]["resourceType"] == "Organization"}
    assert {"E06000019", "QGH"} <= orgs
    # Trusts and GP practices are referred to by identifier only: no reference dangles.
    text = json.dumps(everything)
    referred = set(re.findall(r'"reference": "Organization/([^"]+)"', text))
    assert referred and referred <= orgs
    patient = everything["entry"][0]["resource"]
    assert "reference" not in patient["generalPractitioner"][0]
    assert patient["generalPractitioner"][0]["identifier"]["system"] == \
        "https://fhir.nhs.uk/Id/ods-organization-code"
    posted = requests.post(f"{base}/Patient/{pid}/$everything", headers=FHIR_JSON,
                           json={"resourceType": "Parameters"}, timeout=10)
    assert posted.status_code == 200 and posted.json()["total"] == everything["total"]
    refused = requests.post(f"{base}/Patient/{pid}/$everything", headers=FHIR_JSON, timeout=10,
                            json={"resourceType": "Parameters",
                                  "parameter": [{"name": "_since", "valueString": "x"}]})
    assert refused.status_code == 400


def test_openapi_document_follows_the_capability_statement(base: str):
    document = requests.get(f"{base}/openapi.json", timeout=10).json()
    assert document["openapi"].startswith("3.")
    statement = requests.get(f"{base}/metadata", timeout=10).json()
    for resource in statement["rest"][0]["resource"]:
        codes = {i["code"] for i in resource["interaction"]}
        if "read" in codes:
            assert "get" in document["paths"][f"/{resource['type']}/{{id}}"]
    assert "get" in document["paths"]["/Patient/$s117-responsibility"]


# -- $process-message -----------------------------------------------------------------------

EVENT = "https://fhir.s117-register.uk/CodeSystem/s117-event"
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
LEGAL_STATUS = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-LegalStatus"


def message(message_id: str, event: str, nhs: str, encounter: dict | None) -> dict:
    entries = [
        {"fullUrl": "urn:uuid:header", "resource": {
            "resourceType": "MessageHeader", "id": f"header-{message_id}",
            "eventCoding": {"system": EVENT, "code": event},
            "sender": {"identifier": {"system": ODS, "value": "RLQ"}},
            "source": {"endpoint": "https://epr.trust.example/fhir"}}},
        {"fullUrl": "urn:uuid:patient", "resource": {
            "resourceType": "Patient", "identifier": [{"system": NHS, "value": nhs}],
            "address": [{"postalCode": "HR1 1AA"}]}}]
    if encounter:
        entries.append({"fullUrl": "urn:uuid:encounter", "resource": encounter})
    return {"resourceType": "Bundle", "id": message_id, "type": "message",
            "timestamp": "2025-01-10T10:00:00Z", "entry": entries}


def stay(code: str, end: str | None = None) -> dict:
    return {"resourceType": "Encounter", "status": "finished" if end else "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                      "code": "IMP"},
            "identifier": [{"value": "V-2025-001"}],
            "period": {"start": "2025-01-10T10:00:00Z", **({"end": end} if end else {})},
            "extension": [{"url": LEGAL_STATUS, "extension": [
                {"url": "legalStatusClassification", "valueCodeableConcept": {
                    "coding": [{"code": code}]}},
                {"url": "legalStatusContext", "valueCodeableConcept": {
                    "coding": [{"code": "admission"}]}}]}]}


def test_process_message_applies_a_trusts_admission_and_discharge_once(base: str):
    nhs = synthetic(900_006)
    post = f"{base}/$process-message"
    admitted = requests.post(post, json=message("m-1", "admission", nhs, stay("03")),
                             headers=FHIR_JSON, timeout=10)
    assert admitted.status_code == 200, admitted.text
    header = admitted.json()["entry"][0]["resource"]
    assert header["response"] == {"identifier": "header-m-1", "code": "ok"}
    again = requests.post(post, json=message("m-1", "admission", nhs, stay("03")),
                          headers=FHIR_JSON, timeout=10)
    assert "duplicate" in again.json()["entry"][0]["resource"]["text"]["div"]
    discharged = requests.post(post, json=message(
        "m-2", "discharge", nhs, stay("03", end="2025-03-01T12:00:00Z")), headers=FHIR_JSON,
        timeout=10)
    assert discharged.status_code == 200, discharged.text
    answer = params(requests.get(f"{base}/Patient/$s117-responsibility",
                                 params={"identifier": ident(nhs)}, timeout=10))
    assert answer["entitled"][0]["valueBoolean"] is True
    assert answer["status"][0]["valueCode"] == "active"


def test_process_message_refusals_say_what_and_where_and_keep_nothing(base: str):
    nhs = synthetic(900_007)
    post = f"{base}/$process-message"
    unknown_code = requests.post(post, json=message("m-3", "admission", nhs, stay("77")),
                                 headers=FHIR_JSON, timeout=10)
    assert unknown_code.status_code == 400
    assert "legal status" in issues(unknown_code)[0]["diagnostics"]
    no_stay = requests.post(post, json=message("m-4", "admission", nhs, None),
                            headers=FHIR_JSON, timeout=10)
    assert no_stay.status_code == 400 and issues(no_stay)[0]["expression"] == ["Encounter"]
    wrong_event = message("m-5", "holiday", nhs, stay("03"))
    refused = requests.post(post, json=wrong_event, headers=FHIR_JSON, timeout=10)
    assert refused.status_code == 400
    assert "eventCoding" in issues(refused)[0]["expression"][0]
    found = requests.get(f"{base}/Patient", params={"identifier": ident(nhs)}, timeout=10)
    assert found.json()["total"] == 0


def test_post_search_keeps_the_nhs_number_out_of_the_url(base: str):
    found = requests.post(f"{base}/EpisodeOfCare/_search", timeout=10,
                          data={"patient.identifier": ident("9990000018")})
    assert found.status_code == 200, found.text
    assert found.json()["total"] == 1
    people = requests.post(f"{base}/Patient/_search", data={"identifier": ident("9990000018")},
                           timeout=10).json()
    assert people["entry"][0]["resource"]["identifier"][0]["value"] == "9990000018"


# -- $validate, and everything the server emits checked by an independent validator ----------

def test_validate_operation_names_the_element(base: str):
    bad = {**new_patient("9990000019"), "colour": "blue"}
    answer = requests.post(f"{base}/Patient/$validate", json=bad, headers=FHIR_JSON, timeout=10)
    assert answer.status_code == 200
    assert issues(answer)[0]["expression"] == ["Patient.colour"]
    digit = requests.post(f"{base}/$validate", headers=FHIR_JSON, timeout=10, json={
        "resourceType": "Parameters", "parameter": [{"name": "resource",
                                                     "resource": new_patient("9990000019")}]})
    assert [i["expression"] for i in issues(digit) if i["severity"] == "error"] == \
        [["Patient.identifier[0].value"]]
    fine = requests.post(f"{base}/Patient/$validate", json=new_patient("9990000018"),
                         headers=FHIR_JSON, timeout=10)
    assert [i["severity"] for i in issues(fine)] == ["information"]


def test_everything_the_server_emits_is_valid_r4_and_meets_its_profile(base: str):
    from fhir_profiles.validate import validate
    from tests.fhir_js import errors, validate_with_fhirjs

    emitted: list[dict] = []
    for nhs in ("9990000018", "9990000026", "9990000042", "9990000050"):
        found = requests.get(f"{base}/Patient", params={"identifier": ident(nhs)},
                             timeout=10).json()
        emitted.append(found)
        pid = found["entry"][0]["resource"]["id"]
        everything = requests.get(f"{base}/Patient/{pid}/$everything", timeout=10).json()
        emitted.append(everything)
        emitted += [e["resource"] for e in everything["entry"]]
        emitted.append(requests.get(f"{base}/Patient/$s117-responsibility",
                                    params={"identifier": ident(nhs)}, timeout=10).json())
    emitted.append(requests.get(f"{base}/metadata", timeout=10).json())
    emitted.append(requests.get(f"{base}/Patient/987654321", timeout=10).json())
    emitted.append(requests.get(f"{base}/EpisodeOfCare", params={"status": "active"},
                                timeout=10).json())
    kinds = {r["resourceType"] for r in emitted}
    assert {"Patient", "Encounter", "EpisodeOfCare", "Coverage", "Organization", "Bundle",
            "Parameters", "CapabilityStatement", "OperationOutcome"} <= kinds
    assert errors(validate_with_fhirjs(emitted)) == []
    for resource in emitted:
        problems = [i for i in validate(resource) if i.severity == "error"]
        assert problems == [], (resource["resourceType"], resource.get("id"), problems)


def test_type_history_lets_a_council_catch_up_on_changes_since_a_time(base: str):
    everything = requests.get(f"{base}/EpisodeOfCare/_history", params={"_count": 500},
                              timeout=10).json()
    assert everything["type"] == "history" and everything["entry"]
    stamps = [e["resource"]["meta"]["lastUpdated"] for e in everything["entry"]]
    assert stamps == sorted(stamps, reverse=True)
    latest = stamps[0]
    recent = requests.get(f"{base}/EpisodeOfCare/_history", params={"_since": latest},
                          timeout=10).json()
    assert recent["entry"] and all(e["resource"]["meta"]["lastUpdated"] >= latest
                                   for e in recent["entry"])
    assert len(recent["entry"]) < len(everything["entry"])
    bad = requests.get(f"{base}/EpisodeOfCare/_history", params={"_since": "last week"},
                       timeout=10)
    assert bad.status_code == 400 and issues(bad)[0]["expression"] == ["_since"]
