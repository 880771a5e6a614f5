"""Issue 9, concurrency: fifty writers at once on the same entitlement, each with the If-Match
it read, through `s117 serve` (two gunicorn workers) on PostgreSQL. Exactly one change is
applied (no lost update, no double end decision); every other writer gets 412 and can read
again; the entitlement's version moved by exactly one."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import pytest
import requests

from register import commands as c
from register.nhs_number import synthetic
from register.service import RegisterService
from register.store import database
from tests.auth_support import bearer
from tests.integration.test_inbound_rabbitmq import Networked
from tests.integration.test_service_store import admit, discharge
from tests.processes import Service, free_port, wait_for

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]
WRITERS = 50
FHIR_JSON = {"Content-Type": "application/fhir+json"}


def ending(note: str) -> dict:
    return {"resourceType": "Parameters", "parameter": [
        {"name": "decision-date", "valueDate": "2025-06-01"},
        {"name": "la-agreed", "valueBoolean": True},
        {"name": "la-agreed-by", "valueString": "Herefordshire s117 lead"},
        {"name": "la-agreed-on", "valueDate": "2025-06-01"},
        {"name": "icb-agreed", "valueBoolean": True},
        {"name": "icb-agreed-by", "valueString": "QGH s117 commissioner"},
        {"name": "icb-agreed-on", "valueDate": "2025-05-28"},
        {"name": "person-involved", "valueBoolean": True},
        {"name": "reason", "valueCoding": {
            "system": "https://fhir.s117-register.uk/CodeSystem/s117-end-reason",
            "code": "no-longer-needed"}},
        {"name": "note", "valueString": note}]}


def test_fifty_writers_with_if_match_one_wins_the_rest_get_412(
        postgresql_url: str, amqp_url: str, tmp_path: Path) -> None:
    from register.refdata.sql import SqlRefData
    from register.store.uow import SqlUnitOfWork

    net = Networked(postgresql_url, amqp_url, tmp_path)
    sessions = database.session_factory(net.engine)
    service = RegisterService(lambda: SqlUnitOfWork(sessions), SqlRefData(sessions))
    nhs = synthetic(9100)
    service.handle(admit(nhs))
    service.handle(discharge(nhs))
    # D1: a joint end decision is taken at a review.
    service.handle(c.RecordReview(command_id="fifty-writers-review", nhs_number=nhs,
                                  entitlement_id=None, on=date(2025, 5, 20),
                                  outcome="end aftercare",
                                  needs_arise_from_disorder=False))
    port = free_port()
    server = Service(["serve", "--port", str(port), "--workers", "2"], net.env, tmp_path,
                     "serve").start()
    net.services.append(server)
    base = f"http://127.0.0.1:{port}/fhir"
    auth = {**FHIR_JSON, **bearer("E06000019", "la")}
    try:
        wait_for(lambda: server.running and "Booting worker" in server.output() and
                 requests.get(f"{base}/metadata", timeout=5).ok, 60, "s117 serve")
        [episode] = [e["resource"] for e in requests.get(
            f"{base}/EpisodeOfCare", headers=auth, timeout=30).json()["entry"]]
        etag = requests.get(f"{base}/EpisodeOfCare/{episode['id']}", headers=auth,
                            timeout=30).headers["ETag"]
        start = threading.Barrier(WRITERS)
        answers: dict[int, requests.Response] = {}

        def write(i: int) -> None:
            start.wait()
            answers[i] = requests.post(
                f"{base}/EpisodeOfCare/{episode['id']}/$end-entitlement",
                headers={**auth, "If-Match": etag}, json=ending(f"writer {i}"), timeout=120)

        threads = [threading.Thread(target=write, args=(i,)) for i in range(WRITERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=180)
        codes = sorted(a.status_code for a in answers.values())
        assert codes == [200] + [412] * (WRITERS - 1), (codes, answers[0].text)
        [winner] = [i for i, a in answers.items() if a.status_code == 200]
        assert all(a.json()["issue"][0]["code"] == "conflict" for a in answers.values()
                   if a.status_code == 412)
        after = requests.get(f"{base}/EpisodeOfCare/{episode['id']}", headers=auth, timeout=30)
        assert after.json()["status"] == "finished"
        before_version = int(etag.strip('W/"'))
        assert after.headers["ETag"] == f'W/"{before_version + 1}"', "one change, not two"
        history = requests.get(f"{base}/EpisodeOfCare/{episode['id']}/_history", headers=auth,
                               timeout=30).json()
        assert history["total"] == before_version + 1
        person = episode["patient"]["reference"]
        with net.engine.connect() as conn:
            from sqlalchemy import text

            facts = conn.execute(text("SELECT facts FROM person WHERE id = :i"),
                                 {"i": int(person.split("/")[1])}).scalar_one()
        decisions = facts["end_decisions"]
        assert len(decisions) == 1 and decisions[0]["note"] == f"writer {winner}"
    finally:
        net.stop()
