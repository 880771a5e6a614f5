"""Issue 21's joint workflows through the FHIR API, as a council's and an ICB's own systems
would use them against `s117 serve` (S117_AUTH=jwt) on a demo register:

- D1: the council proposes ending aftercare (a Task owned by the ICB); the ICB finds it in
  its Task search, its Subscription hears `end-proposed`, and it agrees: the entitlement
  ends, both bodies' caseloads change, and the ICB hears `ended`. The proposer cannot answer
  its own proposal, a body with no connection to the person is told nothing (404), and a
  stale If-Match is 412. A decline needs its reason and keeps aftercare going; the proposer
  may withdraw a proposal, which then cannot be answered.
- L5: the council where the person lives opens a dispute with the responsible council;
  both find it, with the interim lead named; a council with no connection gets 404 and an
  ICB (no party) 403.

Every refusal is an OperationOutcome naming its rule and the Task element."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.auth_support import bearer, checked_env, token
from tests.outbound_support import Receiver, subscription, wait_for
from tests.servers import demo_server

U = "https://fhir.s117-register.uk"
FHIR_JSON = {"Content-Type": "application/fhir+json"}
HEREFORDSHIRE, SWINDON, GLOUCESTERSHIRE, QGH, QOX = (
    "E06000019", "E06000030", "E10000013", "QGH", "QOX")


@dataclass
class Site:
    url: str
    path: Path

    @property
    def base(self) -> str:
        return f"{self.url}/fhir"

    def rows(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.path / "s117.db") as db:
            return db.execute(sql, args).fetchall()

    def get(self, path: str, org: str, kind: str, **params: str) -> requests.Response:
        return requests.get(f"{self.base}/{path}", headers=bearer(org, kind), params=params,
                            timeout=30)

    def send(self, method: str, path: str, body: dict[str, Any], org: str, kind: str,
             **headers: str) -> requests.Response:
        return requests.request(method, f"{self.base}/{path}", json=body, timeout=30,
                                headers={**FHIR_JSON, **bearer(org, kind), **headers})

    def search(self, path: str, org: str, kind: str, **params: str) -> list[dict[str, Any]]:
        found = self.get(path, org, kind, _count="500", **params)
        assert found.status_code == 200, found.text
        return [e["resource"] for e in found.json().get("entry", [])]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    path = tmp_path_factory.mktemp("joint")
    env = checked_env(S117_SECRET_KEY="test-secret-" + "j" * 32)
    with demo_server(path, people=20, env=env) as url:
        yield Site(url, path)


def param(code: str, **value: Any) -> dict[str, Any]:
    return {"type": {"coding": [{"system": f"{U}/CodeSystem/s117-task-parameter",
                                 "code": code}]}, **value}


def org(code: str) -> dict[str, Any]:
    return {"reference": f"Organization/{code}"}


def task(kind: str, patient: int, entitlement: str, status: str, **more: Any
         ) -> dict[str, Any]:
    return {"resourceType": "Task", "status": status, "intent": "order",
            "code": {"coding": [{"system": f"{U}/CodeSystem/s117-task-type", "code": kind}]},
            "for": {"reference": f"Patient/{patient}"},
            "focus": {"reference": f"EpisodeOfCare/{entitlement}"}, **more}


def rule_of(answer: requests.Response) -> tuple[int, str | None, list[str]]:
    """(status, rule id, expression) of a refusal."""
    issue = answer.json()["issue"][0]
    codes = [c["code"] for c in (issue.get("details") or {}).get("coding", [])]
    return answer.status_code, codes[0] if codes else None, issue.get("expression", [])


def jointly_held(site: Site, count: int) -> list[tuple[int, str]]:
    """(person id, entitlement id) of active entitlements of Herefordshire and QGH, for
    people who live there, with no proposal yet, not on a CTO (D2) and not restricted."""
    found = site.rows(
        "SELECT p.id, e.id FROM person p JOIN entitlement e ON e.person_id = p.id WHERE "
        "e.status = 'active' AND e.responsible_la = ? AND e.responsible_icb = ? AND "
        "e.residence_la = ? AND json_array_length(p.facts, '$.end_proposals') = 0 AND "
        "p.facts NOT LIKE '%cto-start%' AND p.facts NOT LIKE '%\"restricted\": true%' AND "
        "(SELECT count(*) FROM entitlement o WHERE o.person_id = p.id) = 1 ORDER BY p.id",
        HEREFORDSHIRE, QGH, HEREFORDSHIRE)
    assert len(found) >= count, "the demo has too few jointly held entitlements"
    return found[:count]


def review(site: Site, patient: int, entitlement: str) -> None:
    """The review the end is decided at (D1): the person took part, needs no longer arise
    from the disorder."""
    held = site.send("POST", "Task", task(
        "review", patient, entitlement, "completed",
        executionPeriod={"end": date.today().isoformat()},
        input=[param("person-involved", valueBoolean=True)],
        output=[param("needs-arise-from-disorder", valueBoolean=False),
                param("outcome", valueString="Settled; needs met without services")]),
        HEREFORDSHIRE, "la")
    assert held.status_code == 201, held.text


def proposal(patient: int, entitlement: str, owner: str | None = QGH) -> dict[str, Any]:
    body = task("end-proposal", patient, entitlement, "requested", input=[
        param("review-date", valueDate=date.today().isoformat()),
        param("reason", valueCodeableConcept={"coding": [{
            "system": f"{U}/CodeSystem/s117-end-reason", "code": "no-longer-needed"}]}),
        param("person-involved", valueBoolean=True),
        param("carer-involved", valueBoolean=True),
        param("moved-to-suitable-accommodation", valueBoolean=True),
        param("decided-by", valueString="Ann Lead (s117 lead)")])
    if owner:
        body["owner"] = org(owner)
    return body


def answer(current: dict[str, Any], status: str, reason: str | None = None
           ) -> dict[str, Any]:
    body = {**current, "status": status}
    if reason:
        body["statusReason"] = {"text": reason}
    return body


def if_match(resource: dict[str, Any], behind: int = 0) -> dict[str, str]:
    return {"If-Match": f'W/"{int(resource["meta"]["versionId"]) - behind}"'}


def ids(resources: list[dict[str, Any]]) -> set[str]:
    return {r["id"] for r in resources}


def home_row(site: Site, org_code: str, kind: str, person: int) -> str:
    """The person's row in "Joint decisions waiting" on the body's home page."""
    pages = requests.Session()
    form = pages.get(f"{site.url}/sign-in", timeout=30).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert csrf, "the sign-in form carries its CSRF token"
    signed = pages.post(f"{site.url}/sign-in", timeout=30, data={
        "csrf_token": csrf.group(1), "token": token(org_code, kind), "next": "/"})
    assert signed.status_code == 200, signed.text
    rows = re.findall(r"<tr class=\"nhsuk-table__row\">(.*?)</tr>", signed.text, re.S)
    return next((r for r in rows if f'href="/people/{person}"' in r), "")


def heard(receiver: Receiver, event: str, focus: str) -> bool:
    return any(code == event and ref and ref.endswith(f"/{focus}")
               for _, code, ref in receiver.events())


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver().start()
    yield made
    made.stop()


def test_the_council_proposes_the_icb_agrees_and_both_hear_it(site: Site, receiver: Receiver):
    [(patient, entitlement)] = jointly_held(site, 1)
    focus = f"EpisodeOfCare/{entitlement}"
    sub = site.send("POST", "Subscription", subscription(
        receiver.url, [f"EpisodeOfCare?responsible-icb={QGH}"]), QGH, "icb")
    assert sub.status_code == 201, sub.text
    wait_for(lambda: site.get(f"Subscription/{sub.json()['id']}", QGH, "icb").json()[
        "status"] == "active", "the ICB's subscription is active")
    review(site, patient, entitlement)

    # The owner must be the other body (D1), named on the field.
    assert rule_of(site.send("POST", "Task", proposal(patient, entitlement, None),
                             HEREFORDSHIRE, "la")) == (422, "D1", ["Task.owner"])
    assert rule_of(site.send("POST", "Task", proposal(patient, entitlement, HEREFORDSHIRE),
                             HEREFORDSHIRE, "la"))[:2] == (422, "D1")
    made = site.send("POST", "Task", proposal(patient, entitlement), HEREFORDSHIRE, "la")
    assert made.status_code == 201, made.text
    proposed = made.json()
    assert proposed["status"] == "requested" and proposed["owner"]["identifier"]["value"] == QGH
    assert proposed["requester"]["identifier"]["value"] == HEREFORDSHIRE
    assert made.headers["ETag"] == f'W/"{proposed["meta"]["versionId"]}"'
    assert site.get(f"EpisodeOfCare/{entitlement}", QGH, "icb").json()["status"] == "active"

    # Both bodies find it waiting, with its age; the ICB hears it.
    for body, kind in ((QGH, "icb"), (HEREFORDSHIRE, "la")):
        waiting = site.search("Task", body, kind, code="end-proposal", status="requested",
                              focus=focus)
        assert ids(waiting) == {proposed["id"]}
        assert waiting[0]["authoredOn"] == date.today().isoformat()
        row = home_row(site, body, kind, patient)
        assert f"Proposal to end aftercare from {HEREFORDSHIRE}" in row and "0 days" in row
    assert proposed["id"] in ids(site.search("Task", QGH, "icb", code="end-proposal",
                                             owner=QGH, status="requested"))
    wait_for(lambda: heard(receiver, "end-proposed", focus), "end-proposed heard")

    # Only the other body answers: not the proposer (D1), not a body with no connection.
    assert rule_of(site.send("PUT", f"Task/{proposed['id']}", answer(proposed, "accepted"),
                             HEREFORDSHIRE, "la")) == (422, "D1", ["Task.owner"])
    for stranger, kind in ((GLOUCESTERSHIRE, "la"), (QOX, "icb")):
        assert site.send("PUT", f"Task/{proposed['id']}", answer(proposed, "accepted"),
                         stranger, kind).status_code == 404
    stale = site.send("PUT", f"Task/{proposed['id']}", answer(proposed, "accepted"), QGH,
                      "icb", **if_match(proposed, behind=1))
    assert stale.status_code == 412, stale.text

    before = {body: ids(site.search("EpisodeOfCare", body, kind, status="active", **{
        f"responsible-{kind}": body})) for body, kind in ((QGH, "icb"), (HEREFORDSHIRE, "la"))}
    assert all(entitlement in found for found in before.values())
    agreed = site.send("PUT", f"Task/{proposed['id']}", answer(proposed, "accepted"), QGH,
                       "icb", **if_match(proposed))
    assert agreed.status_code == 200, agreed.text
    assert agreed.json()["status"] == "completed"
    assert agreed.json()["businessStatus"]["coding"][0]["code"] == "agreed"
    assert site.get(f"EpisodeOfCare/{entitlement}", QGH, "icb").json()["status"] == "finished"
    for body, kind in ((QGH, "icb"), (HEREFORDSHIRE, "la")):
        after = ids(site.search("EpisodeOfCare", body, kind, status="active",
                                **{f"responsible-{kind}": body}))
        assert after == before[body] - {entitlement}, "the caseload loses exactly this one"
        assert home_row(site, body, kind, patient) == "", "nothing waits any more"
    wait_for(lambda: heard(receiver, "ended", focus), "ended heard")
    again = site.send("PUT", f"Task/{proposed['id']}", answer(agreed.json(), "rejected",
                                                               "second thoughts"), QGH, "icb")
    assert rule_of(again)[:2] == (422, "D1")


def test_a_decline_needs_its_reason_and_a_withdrawn_proposal_is_not_answered(site: Site):
    [(patient, entitlement)] = jointly_held(site, 1)
    review(site, patient, entitlement)
    made = site.send("POST", "Task", proposal(patient, entitlement), HEREFORDSHIRE, "la")
    assert made.status_code == 201, made.text
    proposed = made.json()
    # Only the proposer withdraws; the ICB declines, and only with its reason.
    assert rule_of(site.send("PUT", f"Task/{proposed['id']}", answer(proposed, "cancelled"),
                             QGH, "icb"))[:2] == (422, "D1")
    assert rule_of(site.send("PUT", f"Task/{proposed['id']}", answer(proposed, "rejected"),
                             QGH, "icb")) == (400, "D1", ["Task.statusReason"])
    declined = site.send("PUT", f"Task/{proposed['id']}", answer(
        proposed, "rejected", "Needs still arise: the person relies on the day service"),
        QGH, "icb")
    assert declined.status_code == 200, declined.text
    assert declined.json()["status"] == "rejected"
    assert "day service" in declined.json()["statusReason"]["text"]
    assert site.get(f"EpisodeOfCare/{entitlement}", QGH, "icb").json()["status"] == "active"
    events = [r[0] for r in site.rows("SELECT payload FROM outbox ORDER BY id DESC LIMIT 10")]
    assert any('"end-declined"' in e and entitlement in e for e in events)

    # A new proposal, withdrawn by the council before the ICB answers.
    second = site.send("POST", "Task", proposal(patient, entitlement), HEREFORDSHIRE, "la")
    assert second.status_code == 201, second.text
    withdrawn = site.send("PUT", f"Task/{second.json()['id']}", answer(
        second.json(), "cancelled", "Raised in error"), HEREFORDSHIRE, "la")
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["status"] == "cancelled"
    late = site.send("PUT", f"Task/{second.json()['id']}", answer(second.json(), "accepted"),
                     QGH, "icb")
    assert rule_of(late)[:2] == (422, "D1") and "withdrawn" in late.text
    assert site.get(f"EpisodeOfCare/{entitlement}", QGH, "icb").json()["status"] == "active"
    assert site.search("Task", QGH, "icb", code="end-proposal", status="requested",
                       focus=f"EpisodeOfCare/{entitlement}") == []


def test_the_council_where_the_person_lives_opens_a_dispute_and_both_see_it(site: Site):
    patient, entitlement = site.rows(
        "SELECT p.id, e.id FROM person p JOIN entitlement e ON e.person_id = p.id WHERE "
        "e.responsible_la = ? AND e.residence_la = ? AND e.status = 'active' AND "
        "json_array_length(p.facts, '$.disputes') = 0 ORDER BY p.id", HEREFORDSHIRE,
        SWINDON)[0]
    icb = site.rows("SELECT responsible_icb FROM entitlement WHERE id = ?", entitlement)[0][0]
    dispute = task("or-dispute", patient, entitlement, "in-progress",
                   executionPeriod={"start": date.today().isoformat()},
                   input=[param("party", valueReference=org(SWINDON)),
                          param("party", valueReference=org(HEREFORDSHIRE)),
                          param("note", valueString="Tenancy in Hereford since 2019")])
    # No connection to the person: told nothing. The ICB is no party to it.
    assert site.send("POST", "Task", dispute, GLOUCESTERSHIRE, "la").status_code == 404
    refused = site.send("POST", "Task", dispute, icb, "icb")
    assert refused.status_code == 403 and "council party" in refused.text
    others = {**dispute, "input": [param("party", valueReference=org(HEREFORDSHIRE)),
                                   param("party", valueReference=org(GLOUCESTERSHIRE))]}
    assert rule_of(site.send("POST", "Task", others, SWINDON, "la")) == (
        422, "L5", ["Task.input"]), "a council disputes as a party itself"
    opened = site.send("POST", "Task", dispute, SWINDON, "la")
    assert opened.status_code == 201, opened.text
    made = opened.json()
    assert made["owner"]["identifier"]["value"] == SWINDON, "the interim lead: where they live"
    for council in (HEREFORDSHIRE, SWINDON):
        [seen] = site.search("Task", council, "la", code="or-dispute",
                             focus=f"EpisodeOfCare/{entitlement}")
        assert seen["id"] == made["id"] and seen["status"] == "in-progress"
        lead = [i for i in seen["input"] if i["type"]["coding"][0]["code"] == "interim-lead"]
        assert lead[0]["valueReference"]["identifier"]["value"] == SWINDON
        flags = site.search("Flag", council, "la", patient=f"Patient/{patient}")
        assert "responsibility-disputed" in {f["code"]["coding"][0]["code"] for f in flags}
    # Swindon, a party, refers it to the Secretary of State.
    referred = {**made, "businessStatus": {"coding": [{
        "system": f"{U}/CodeSystem/s117-business-status",
        "code": "referred-to-secretary-of-state"}]},
        "output": [param("referred", valueDate=date.today().isoformat())]}
    done = site.send("PUT", f"Task/{made['id']}", referred, SWINDON, "la", **if_match(made))
    assert done.status_code == 200, done.text
    assert site.send("PUT", f"Task/{made['id']}", referred, GLOUCESTERSHIRE,
                     "la").status_code == 404
