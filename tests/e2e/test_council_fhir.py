"""Council and joint workflows through the FHIR API (issue 6 "Done when"), as a council's
social care system would use them: `s117 serve` on a demo register, driven by fhirpy (a FHIR
client nobody here wrote) and plain HTTP for the headers it does not send.

A council officer records a plan with split funding, sees the panel agenda, records the
panel's decision, runs the joint end decision and sees it refused for a bad reason; Sarah's
and Priya's situations (seed 000) show up as flags. Rule ids: F1-F5, L5, R1-R3, D1-D5, E2."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome
from fhirpy.base.searchset import Raw

from tests.servers import demo_server

U = "https://fhir.s117-register.uk"
NHS = "https://fhir.nhs.uk/Id/nhs-number"
FHIR_JSON = {"Content-Type": "application/fhir+json"}
HEREFORDSHIRE, SWINDON = "E06000019", "E06000030"
OUT_OF_AREA, SARAH, PRIYA, REDETAINED = "9990000018", "9990000069", "9990000077", "9990000026"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with demo_server(tmp_path_factory.mktemp("council"), people=20) as url:
        yield f"{url}/fhir"


@pytest.fixture(scope="module")
def client(base: str) -> SyncFHIRClient:
    return SyncFHIRClient(base)


def person(client: SyncFHIRClient, nhs: str) -> str:
    [found] = client.resources("Patient").search(identifier=f"{NHS}|{nhs}").fetch()
    return found.id


def episode(client: SyncFHIRClient, nhs: str) -> Any:
    [found] = client.resources("EpisodeOfCare").search(
        Raw(**{"patient.identifier": f"{NHS}|{nhs}"})).fetch()
    return found


def param(code: str, **value: Any) -> dict[str, Any]:
    return {"type": {"coding": [{"system": f"{U}/CodeSystem/s117-task-parameter",
                                 "code": code}]}, **value}


def task(kind: str, patient: str, focus: str, status: str = "completed",
         period: dict[str, str] | None = None, inputs: list[Any] = (),  # type: ignore[assignment]
         outputs: list[Any] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    data: dict[str, Any] = {
        "resourceType": "Task", "status": status, "intent": "plan",
        "code": {"coding": [{"system": f"{U}/CodeSystem/s117-task-type", "code": kind}]},
        "for": {"reference": f"Patient/{patient}"}, "focus": {"reference": focus}}
    if period:
        data["executionPeriod"] = period
    if inputs:
        data["input"] = list(inputs)
    if outputs:
        data["output"] = list(outputs)
    return data


def share(funder: dict[str, Any], percent: float) -> dict[str, Any]:
    return {"url": f"{U}/StructureDefinition/Extension-S117-FundingShare", "extension": [
        {"url": "funder", "valueReference": funder}, {"url": "percent", "valueDecimal": percent}]}


def activity(service: str, basis: str, shares: list[dict[str, Any]], cost: float,
             **line: Any) -> dict[str, Any]:
    service_line = [{"url": "weekly-cost", "valueMoney": {"value": cost, "currency": "GBP"}}]
    service_line += [{"url": k.replace("_", "-"), **v} for k, v in line.items()]
    return {"extension": [
        {"url": f"{U}/StructureDefinition/Extension-S117-FundingBasis",
         "valueCoding": {"system": f"{U}/CodeSystem/s117-funding-basis", "code": basis}},
        *shares,
        {"url": f"{U}/StructureDefinition/Extension-S117-ServiceLine",
         "extension": service_line}],
        "detail": {"status": "in-progress", "code": {"coding": [
            {"system": f"{U}/CodeSystem/s117-service-type", "code": service}]}}}


def org(code: str) -> dict[str, Any]:
    return {"reference": f"Organization/{code}"}


def plan(patient: str, entitlement: str, *activities: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "CarePlan",
            "meta": {"profile": [f"{U}/StructureDefinition/S117AftercarePlan"]},
            "status": "active", "intent": "plan", "subject": {"reference": f"Patient/{patient}"},
            "period": {"start": "2024-09-01"},
            "contained": [{"resourceType": "CareTeam", "id": "cc", "participant": [
                {"member": {"display": "Ash Green"}, "onBehalfOf": org(SWINDON)}]}],
            "careTeam": [{"reference": "#cc"}],
            "supportingInfo": [{"reference": f"EpisodeOfCare/{entitlement}"}],
            "extension": [{"url": f"{U}/StructureDefinition/Extension-S117-AssessedNeed",
                           "extension": [
                               {"url": "category", "valueCoding": {
                                   "system": f"{U}/CodeSystem/s117-need-category",
                                   "code": "accommodation"}},
                               {"url": "arises-from-disorder", "valueBoolean": True}]}],
            "activity": list(activities)}


def rule_of(exc: OperationOutcome) -> str:
    return exc.resource["issue"][0]["details"]["coding"][0]["code"]


def test_the_capability_statement_offers_careplan_task_and_flag(client: SyncFHIRClient):
    statement = client.execute("metadata", method="get")
    served = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert {"create", "update", "read", "vread", "search-type"} <= {
        i["code"] for i in served["CarePlan"]["interaction"]}
    assert {"create", "update", "search-type"} <= {i["code"] for i in
                                                   served["Task"]["interaction"]}
    assert served["Flag"]["profile"].endswith("S117Flag")
    assert "CarePlan:entitlement" in served["EpisodeOfCare"]["searchRevInclude"]


def test_a_council_records_a_plan_with_split_funding_and_the_panel_decides_it(
        client: SyncFHIRClient, base: str):
    """F2 (shares add up), the panel agenda (seed 001, 004), If-Match, vread and includes."""
    patient, entitlement = person(client, REDETAINED), episode(client, REDETAINED).id
    home = activity("supported-accommodation", "s117", [share(org(SWINDON), 50),
                                                        share(org("QGH"), 50)], 1650.5)
    created = client.resource("CarePlan", **plan(patient, entitlement, home))
    created.save()
    assert created.id and created["meta"]["versionId"] == "1"
    line = created["activity"][0]
    assert line["id"] == "1" and line["detail"]["status"] == "not-started"  # awaiting panel
    agenda = client.resources("Task").search(code="panel-decision", status="requested",
                                             owner=SWINDON).fetch_all()
    mine = [t for t in agenda if t["focus"]["reference"] == f"CarePlan/{created.id}"]
    assert len(mine) == 1 and mine[0]["authoredOn"]
    weekly = next(i for i in mine[0]["input"] if i["type"]["coding"][0]["code"] ==
                  "weekly-cost")
    assert weekly["valueMoney"]["value"] == 1650.5

    decision = client.resource("Task", **task(
        "panel-decision", patient, f"CarePlan/{created.id}", period={"end": "2026-11-20"},
        inputs=[param("service-line", valueString="1")],
        outputs=[param("outcome", valueCodeableConcept={"coding": [
            {"system": f"{U}/CodeSystem/s117-panel-status", "code": "approved"}]}),
            param("member", valueReference=org(SWINDON)),
            param("member", valueReference=org("QGH"))]))
    decision.save()
    assert decision["status"] == "completed" and decision.id.startswith(f"{patient}-panel-")
    after = client.resources("Task").search(code="panel-decision", status="requested",
                                            owner=SWINDON).fetch_all()
    assert not [t for t in after if t["focus"]["reference"] == f"CarePlan/{created.id}"]
    shown = client.reference("CarePlan", created.id).to_resource()
    assert shown["meta"]["versionId"] == "2"  # the decision is part of the plan as shown
    assert shown["activity"][0]["detail"]["status"] == "in-progress"

    stale = requests.put(f"{base}/CarePlan/{created.id}", json=dict(shown), timeout=10,
                         headers={**FHIR_JSON, "If-Match": 'W/"1"'})
    assert stale.status_code == 412
    first = requests.get(f"{base}/CarePlan/{created.id}/_history/1", timeout=10).json()
    assert first["activity"][0]["detail"]["status"] == "not-started"

    bundle = client.resources("EpisodeOfCare").search(_id=entitlement).revinclude(
        "CarePlan", "entitlement").fetch_raw()
    assert {e["resource"]["resourceType"] for e in bundle["entry"]} >= {"EpisodeOfCare",
                                                                        "CarePlan"}
    plans = client.resources("CarePlan").search(patient=f"Patient/{patient}").include(
        "CarePlan", "entitlement").fetch_raw()
    assert [e["resource"]["resourceType"] for e in plans["entry"]].count("EpisodeOfCare") == 1


def _shares_add_to_90(line: dict[str, Any]) -> None:
    line["extension"][2]["extension"][1] = {"url": "percent", "valueDecimal": 30}


def _unknown_funder(line: dict[str, Any]) -> None:
    line["extension"][1]["extension"][0] = {"url": "funder",
                                            "valueReference": org("E99999999")}


def _housing_benefit_pays(line: dict[str, Any]) -> None:
    line["extension"][1]["extension"][0] = {"url": "funder", "valueReference": {
        "identifier": {"system": f"{U}/Id/payer", "value": "housing-benefit"}}}


def _council_pays_for_medication(line: dict[str, Any]) -> None:
    line["detail"]["code"]["coding"][0]["code"] = "medication"
    del line["extension"][2]  # the ICB's share
    line["extension"][1]["extension"][1] = {"url": "percent", "valueDecimal": 100}


@pytest.mark.parametrize(("change", "rule"), [
    (_shares_add_to_90, "F2"), (_unknown_funder, "F2"), (_housing_benefit_pays, "F4"),
    (_council_pays_for_medication, "F3")])
def test_a_plan_that_breaks_a_funding_rule_gets_422_with_the_rule_id(
        client: SyncFHIRClient, change: Any, rule: str):
    patient, entitlement = person(client, OUT_OF_AREA), episode(client, OUT_OF_AREA).id
    home = activity("supported-accommodation", "s117",
                    [share(org(HEREFORDSHIRE), 60), share(org("QGH"), 40)], 900)
    bad = copy.deepcopy(home)
    change(bad)
    body = plan(patient, entitlement, bad)
    body["status"] = "draft"  # the placement's own plan is already in force
    with pytest.raises(OperationOutcome) as refused:
        client.resource("CarePlan", **body).save()
    assert rule_of(refused.value) == rule
    issue = refused.value.resource["issue"][0]
    assert issue["expression"][0].startswith("CarePlan")


def flags(client: SyncFHIRClient, nhs: str, status: str = "active") -> set[str]:
    found = client.resources("Flag").search(patient=f"Patient/{person(client, nhs)}",
                                            status=status).fetch_all()
    return {f["code"]["coding"][0]["code"] for f in found}


def test_sarah_and_priya_show_up_as_flags_not_silence(client: SyncFHIRClient):
    """Sarah: discharged with no plan and no care coordinator (E2), first review missed
    (R1, R3). Priya: s117 accommodation since 2016, never reviewed (R3)."""
    assert {"entitled", "no-aftercare-plan", "review-overdue"} <= flags(client, SARAH)
    assert {"entitled", "review-overdue"} <= flags(client, PRIYA)
    assert "no-aftercare-plan" not in flags(client, PRIYA)
    overdue = client.resources("Flag").search(Raw(**{
        "code": f"{U}/CodeSystem/s117-flag|review-overdue", "status": "active",
        "responsible-la": HEREFORDSHIRE})).fetch_all()
    patients = {f["subject"]["reference"] for f in overdue}
    assert {f"Patient/{person(client, SARAH)}", f"Patient/{person(client, PRIYA)}"} <= patients
    sarah = episode(client, SARAH)
    assert any(r["valueString"].startswith("E2") for r in sarah["extension"]
               if r["url"].endswith("NeedsReview"))
    due = client.resources("Task").search(patient=f"Patient/{person(client, PRIYA)}",
                                          code="review", status="requested").fetch_all()
    assert [t["businessStatus"]["coding"][0]["code"] for t in due] == ["overdue"]


def test_l5_a_dispute_is_opened_referred_and_resolved_through_task(client: SyncFHIRClient,
                                                                     base: str):
    patient, entitlement = person(client, OUT_OF_AREA), episode(client, OUT_OF_AREA)
    opened = client.resource("Task", **task(
        "or-dispute", patient, f"EpisodeOfCare/{entitlement.id}", "in-progress",
        period={"start": "2026-11-01"},
        inputs=[param("party", valueReference=org(HEREFORDSHIRE)),
                param("party", valueReference=org(SWINDON))]))
    opened.save()
    assert opened["owner"]["identifier"]["value"] == SWINDON  # where the person lives
    assert "responsibility-disputed" in flags(client, OUT_OF_AREA)
    # L5: the entitlement goes on as before while the councils argue
    assert episode(client, OUT_OF_AREA)["status"] == "active"
    referred = {**dict(opened), "businessStatus": {"coding": [{
        "system": f"{U}/CodeSystem/s117-business-status",
        "code": "referred-to-secretary-of-state"}]},
        "output": [param("referred", valueDate="2026-11-10")]}
    done = requests.put(f"{base}/Task/{opened.id}", json=referred, headers=FHIR_JSON,
                        timeout=10)
    assert done.status_code == 200, done.text
    assert done.json()["businessStatus"]["coding"][0]["code"] == \
        "referred-to-secretary-of-state"
    resolved = {**done.json(), "status": "completed",
                "executionPeriod": {"start": "2026-11-01", "end": "2026-11-20"},
                "output": [param("resolved-local-authority", valueReference=org(SWINDON))]}
    finished = requests.put(f"{base}/Task/{opened.id}", json=resolved, headers=FHIR_JSON,
                            timeout=10)
    assert finished.status_code == 200, finished.text
    after = episode(client, OUT_OF_AREA)
    la = next(e for e in after["extension"] if e["url"].endswith("ResponsibleLocalAuthority"))
    assert la["valueReference"]["identifier"]["value"] == SWINDON
    periods = [e for e in after["extension"] if e["url"].endswith("ResponsibilityPeriod")]
    assert len(periods) >= 1 and "responsibility-disputed" not in flags(client, OUT_OF_AREA)
    same = requests.put(f"{base}/Task/{opened.id}", json=resolved, headers=FHIR_JSON,
                        timeout=10)
    assert same.status_code == 200  # sent again as it stands: nothing changes
    otherwise = {**resolved, "output": [param("resolved-local-authority",
                                              valueReference=org(HEREFORDSHIRE))]}
    again = requests.put(f"{base}/Task/{opened.id}", json=otherwise, headers=FHIR_JSON,
                         timeout=10)
    assert again.status_code == 422 and again.json()["issue"][0]["details"]["coding"][0][
        "code"] == "L5"


def end(base: str, entitlement: str, *reasons: str, **more: Any) -> requests.Response:
    """$end-entitlement with both bodies' agreement (who, when) unless `more` overrides a
    parameter (by its name, e.g. `**{"icb-agreed-by": {"valueString": ""}}`)."""
    given: dict[str, dict[str, Any]] = {
        "decision-date": {"valueDate": "2026-11-21"}, "la-agreed": {"valueBoolean": True},
        "la-agreed-by": {"valueString": "Herefordshire s117 lead"},
        "la-agreed-on": {"valueDate": "2026-11-21"}, "icb-agreed": {"valueBoolean": True},
        "icb-agreed-by": {"valueString": "QGH s117 commissioner"},
        "icb-agreed-on": {"valueDate": "2026-11-19"},
        "person-involved": {"valueBoolean": True}, "carer-involved": {"valueBoolean": True},
        **more}
    parameters = [{"name": name, **value} for name, value in given.items()]
    parameters += [{"name": "reason", "valueCoding": {
        "system": f"{U}/CodeSystem/s117-end-reason", "code": r}} for r in reasons]
    return requests.post(f"{base}/EpisodeOfCare/{entitlement}/$end-entitlement",
                         json={"resourceType": "Parameters", "parameter": parameters},
                         headers=FHIR_JSON, timeout=10)


def test_the_joint_end_decision_is_refused_for_a_bad_reason_and_then_recorded(
        client: SyncFHIRClient, base: str):
    """D1 (at a review, both bodies with who and when), D3, D4 (Priya's accommodation),
    D5 (formal end date), and the decision as a Task."""
    patient, entitlement = person(client, SARAH), episode(client, SARAH).id
    client.resource("Task", **task(
        "review", patient, f"EpisodeOfCare/{entitlement}", period={"end": "2026-11-18"},
        inputs=[param("attendee", valueString="Dee Patel (care coordinator, R1A)"),
                param("attendee", valueString="Sam Okoro (advocate)"),
                param("person-involved", valueBoolean=True),
                param("carer-involved", valueBoolean=True)],
        outputs=[param("outcome", valueString="recovered; no s117 needs remain"),
                 param("needs-arise-from-disorder", valueBoolean=False)])).save()
    weak = end(base, entitlement, "time-elapsed", "discharged-from-specialist-services")
    assert weak.status_code == 422
    assert weak.json()["issue"][0]["details"]["coding"][0]["code"] == "D3"
    one_body = end(base, entitlement, "no-longer-needed", **{
        "icb-agreed-by": {"valueString": ""}})
    assert one_body.status_code == 422
    assert one_body.json()["issue"][0]["details"]["coding"][0]["code"] == "D1"
    done = end(base, entitlement, "no-longer-needed",
               **{"end-date": {"valueDate": "2026-11-30"}})
    assert done.status_code == 200, done.text
    assert done.json()["period"]["end"] == "2026-11-30"
    [recorded] = client.resources("Task").search(patient=f"Patient/{patient}",
                                                 code="end-decision").fetch_all()
    inputs = {i["type"]["coding"][0]["code"]: i for i in recorded["input"]}
    assert inputs["la-agreed-by"]["valueString"] == "Herefordshire s117 lead"
    assert inputs["icb-agreed-on"]["valueDate"] == "2026-11-19"
    assert recorded["output"][0]["valueDate"] == "2026-11-30"

    priya = episode(client, PRIYA).id
    client.resource("Task", **task(
        "review", person(client, PRIYA), f"EpisodeOfCare/{priya}", period={"end": "2026-11-18"},
        inputs=[param("person-involved", valueBoolean=True)],
        outputs=[param("needs-arise-from-disorder", valueBoolean=False)])).save()
    moved_first = end(base, priya, "no-longer-needed")
    assert moved_first.status_code == 422
    assert moved_first.json()["issue"][0]["details"]["coding"][0]["code"] == "D4"


def test_task_writes_that_are_not_allowed_say_so(client: SyncFHIRClient, base: str):
    patient, entitlement = person(client, OUT_OF_AREA), episode(client, OUT_OF_AREA).id
    no_person = task("review", patient, f"EpisodeOfCare/{entitlement}",
                     period={"end": "2026-11-18"},
                     inputs=[param("person-involved", valueBoolean=False)],
                     outputs=[param("needs-arise-from-disorder", valueBoolean=True)])
    refused = requests.post(f"{base}/Task", json=no_person, headers=FHIR_JSON, timeout=10)
    assert refused.status_code == 422
    assert refused.json()["issue"][0]["details"]["coding"][0]["code"] == "R3"
    end_task = task("end-decision", patient, f"EpisodeOfCare/{entitlement}")
    wrong = requests.post(f"{base}/Task", json=end_task, headers=FHIR_JSON, timeout=10)
    assert wrong.status_code == 422 and "$end-entitlement" in wrong.text
    flag = requests.post(f"{base}/Flag", json={"resourceType": "Flag"}, headers=FHIR_JSON,
                         timeout=10)
    assert flag.status_code == 405


def test_everything_emitted_is_valid_r4_and_meets_its_profile(client: SyncFHIRClient,
                                                              base: str):
    from fhir_profiles.validate import validate
    from tests.fhir_js import errors, validate_with_fhirjs

    emitted: list[dict[str, Any]] = []
    for kind in ("CarePlan", "Task", "Flag", "EpisodeOfCare"):
        bundle = requests.get(f"{base}/{kind}", params={"_count": 200}, timeout=30).json()
        emitted.append(bundle)
        emitted += [e["resource"] for e in bundle["entry"]]
    kinds = {r["resourceType"] for r in emitted}
    assert {"CarePlan", "Task", "Flag", "EpisodeOfCare", "Bundle"} <= kinds
    # The out-of-area case's dispute (opened and resolved above) and its care coordinator are
    # both shown; the demo's own disputed people need not have a coordinator.
    own = episode(client, OUT_OF_AREA).id
    [disputed] = [r for r in emitted if r["resourceType"] == "EpisodeOfCare" and r["id"] == own]
    assert any(e["url"].endswith("Extension-S117-Dispute") for e in disputed["extension"])
    assert disputed.get("careManager")
    found = errors(validate_with_fhirjs(emitted), emitted)
    assert found == [], "\n".join(sorted(set(f.split(" ", 1)[1] for f in found)))
    for resource in emitted:
        problems = [i for i in validate(resource) if i.severity == "error"]
        assert problems == [], (resource["resourceType"], resource.get("id"), problems)


def test_reads_by_id_and_the_limits_of_derived_resources(client: SyncFHIRClient, base: str):
    patient = person(client, PRIYA)
    [flag] = client.resources("Flag").search(patient=f"Patient/{patient}",
                                             code="review-overdue").fetch()
    again = requests.get(f"{base}/Flag/{flag.id}", timeout=10)
    assert again.status_code == 200 and again.json()["code"] == flag["code"]
    [found] = client.resources("Flag").search(_id=flag.id).fetch()
    assert found.id == flag.id
    [due] = client.resources("Task").search(patient=f"Patient/{patient}", code="review",
                                            status="requested").fetch()
    assert requests.get(f"{base}/Task/{due.id}", timeout=10).json()["id"] == due.id
    history = requests.get(f"{base}/Task/{due.id}/_history", timeout=10)
    assert history.status_code == 404 and "no versions" in history.text
    assert requests.get(f"{base}/Task/{patient}-nothing-here", timeout=10).status_code == 404
    plan = client.resources("CarePlan").search(patient=f"Patient/{patient}").fetch()[0]
    other = person(client, SARAH)
    moved = {**dict(plan), "subject": {"reference": f"Patient/{other}"}}
    refused = requests.put(f"{base}/CarePlan/{plan.id}", json=moved, headers=FHIR_JSON,
                           timeout=10)
    assert refused.status_code == 422 and refused.json()["issue"][0]["expression"] == [
        "CarePlan.subject"]
    unknown = requests.put(f"{base}/CarePlan/no-such-plan", json={**dict(plan),
                                                                  "id": "no-such-plan"},
                           headers=FHIR_JSON, timeout=10)
    assert unknown.status_code == 404


def test_a_transaction_with_a_plan_that_breaks_f2_changes_nothing(client: SyncFHIRClient,
                                                                   base: str):
    patient, entitlement = person(client, REDETAINED), episode(client, REDETAINED).id
    before = client.resources("CarePlan").search(patient=f"Patient/{patient}").count()
    bad = plan(patient, entitlement, activity("day-services", "s117",
                                              [share(org(SWINDON), 70)], 60))
    bad["status"] = "draft"
    review_entry = task("review", patient, f"EpisodeOfCare/{entitlement}",
                        period={"end": "2026-11-25"},
                        inputs=[param("person-involved", valueBoolean=True)],
                        outputs=[param("needs-arise-from-disorder", valueBoolean=True)])
    refused = requests.post(base, headers=FHIR_JSON, timeout=10, json={
        "resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": review_entry, "request": {"method": "POST", "url": "Task"}},
            {"resource": bad, "request": {"method": "POST", "url": "CarePlan"}}]})
    assert refused.status_code == 422
    issue = refused.json()["issue"][0]
    assert issue["expression"][0].startswith("Bundle.entry[1]")
    assert issue["details"]["coding"][0]["code"] == "F2"
    assert client.resources("CarePlan").search(patient=f"Patient/{patient}").count() == before
    reviews = client.resources("Task").search(patient=f"Patient/{patient}", code="review",
                                              status="completed").fetch_all()
    assert not [t for t in reviews if t["executionPeriod"].get("end") == "2026-11-25"]


def test_a_councils_ordinary_residence_decision_overrides_what_the_trust_implied(
        client: SyncFHIRClient, base: str):
    """L1: the trust's message put the 2021 detention's residence in Swindon; Gloucestershire
    records its decision (who, when, evidence), and the register re-determines, keeping the
    earlier determination."""
    nhs, gloucestershire = "9990000042", "E10000013"
    before = episode(client, nhs)
    decided = client.resource("Task", **task(
        "or-decision", person(client, nhs), f"EpisodeOfCare/{before.id}",
        period={"end": "2026-11-12"},
        inputs=[param("local-authority", valueReference=org(gloucestershire)),
                param("decided-by", valueString="OR panel, A. Khan"),
                param("evidence", valueString="tenancy agreement 2018-2021")]))
    decided.save()
    assert decided["status"] == "completed" and decided["code"]["coding"][0]["code"] == \
        "or-decision"
    after = episode(client, nhs)
    la = next(e for e in after["extension"] if e["url"].endswith("ResponsibleLocalAuthority"))
    assert la["valueReference"]["identifier"]["value"] == gloucestershire
    basis = [next(p["valueString"] for p in b["extension"] if p["url"] == "reason")
             for b in after["extension"] if b["url"].endswith("ResponsibilityBasis")]
    assert any("OR panel, A. Khan" in reason for reason in basis)
    old = requests.get(f"{base}/EpisodeOfCare/{before.id}/_history/"
                       f"{before['meta']['versionId']}", timeout=10).json()
    was = next(e for e in old["extension"] if e["url"].endswith("ResponsibleLocalAuthority"))
    assert was["valueReference"]["identifier"]["value"] == "E06000030"  # history kept
