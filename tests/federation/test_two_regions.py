"""Issue 23: two regional registers kept in step over RabbitMQ federation (the real plugin),
each with its own database, virtual host and `s117` processes (tests/federation/conftest.py).

London (Y56) takes the London trust RRP's feed and owns what it sends; the Midlands register
(Y60) serves Herefordshire (E06000019) and its ICB QGH. Rules proved: L1/L2 (responsibility by
residence before detention; a placement elsewhere does not move it) seen across regions,
R1-R3 (a review recorded on a replica applied by the owner), D1-D3 (an end decision refused
by the owner's rules comes back refused with its rule)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
import requests

from register.nhs_number import synthetic
from tests.auth_support import bearer
from tests.e2e.test_council_fhir import activity, org, param, plan, share, task
from tests.federation.conftest import LEDGER, LONDON, MIDLANDS, Region, links, rabbitmqctl
from tests.hl7v2_messages import adt, pv1

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]
# Seconds to wait for a change to cross: generous, as two registers' eight processes share
# the machine with whatever else runs.
PATIENCE = 180
# A server or database that is slow to answer under load is "not yet", not a failure.
TRANSIENT = (requests.RequestException, psycopg.OperationalError)


def until(check: Callable[[], Any], what: str, timeout: float = PATIENCE,
          most: float = 2.0) -> Any:
    """Wait for a condition, asking less often as time goes on (0.2 s up to `most`), so the
    waiting does not load the registers it waits for; a request that times out or a
    refused connection counts as not yet."""
    deadline, pause = time.monotonic() + timeout, 0.2
    while True:
        try:
            found = check()
        except TRANSIENT:
            found = None
        if found:
            return found
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(pause)
        pause = min(most, pause * 1.5)

NHS = "https://fhir.nhs.uk/Id/nhs-number"
HEREFORDSHIRE, WESTMINSTER = "E06000019", "E09000033"
ER7 = {"Content-Type": "x-application/hl7-v2+er7; charset=utf-8"}
FHIR_JSON = {"Content-Type": "application/fhir+json"}
LONDON_ADDRESS = "10 DOWNING ST^^LONDON^^SW1A 1AA^GBR^H"


def send(region: Region, message: bytes, trust: str) -> None:
    """POST one HL7 v2 message; sent again if the server is too busy to answer (the register
    applies a message control id once)."""
    def accepted() -> requests.Response | None:
        answer = requests.post(f"{region.base.removesuffix('/fhir')}/hl7v2", data=message,
                               headers={**ER7, **bearer(trust, "trust", "system/*.c")},
                               timeout=60)
        return None if answer.status_code in (429, 502, 503, 504) else answer
    answer = until(accepted, f"{region.code} to take the message")
    assert answer.status_code == 200 and "MSA|AA" in answer.text, answer.text


def detained(region: Region, nhs: str, trust: str, n: int, address: str | None = None,
             discharged: bool = True) -> None:
    """A s3 admission (and discharge) from `trust`, living at `address` (default Hereford)."""
    pid = {1: "1", 3: f"{nhs}^^^NHS^NH", 5: "SMITH^JO", 7: "19800501",
           11: address} if address else None
    at = "20250110100000"
    msg = adt("A01", f"A01-{n}", nhs, pv1(f"V-{n}", at), f"ZMH|3|{at}||||N", sender=trust,
              at=at, pid=pid)
    send(region, msg, trust)
    if discharged:
        send(region, adt("A03", f"A03-{n}", nhs, pv1(f"V-{n}", at, "20250301120000"),
                         sender=trust, at="20250301120000", pid=pid), trust)


def get(region: Region, path: str, org_code: str, kind: str, **params: str) -> dict[str, Any]:
    answer = requests.get(f"{region.base}/{path}", params=params, timeout=30,
                          headers=bearer(org_code, kind, "system/*.rs"))
    assert answer.status_code == 200, answer.text
    return answer.json()


def entries(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", [])
            if e["resource"]["resourceType"] == kind]


def episodes(region: Region, org_code: str, kind: str, nhs: str | None = None,
             **params: str) -> list[dict[str, Any]]:
    if nhs:
        params["patient.identifier"] = f"{NHS}|{nhs}"
    return entries(get(region, "EpisodeOfCare", org_code, kind, **params), "EpisodeOfCare")


def herefordshire_replica(midlands: Region, nhs: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(EpisodeOfCare, Patient) of a person's active replica, as Herefordshire reads them."""
    [ent] = until(lambda: [e for e in episodes(midlands, HEREFORDSHIRE, "la", nhs)
                           if e["status"] == "active"], "the replica")
    [patient] = entries(get(midlands, "Patient", HEREFORDSHIRE, "la",
                            identifier=f"{NHS}|{nhs}"), "Patient")
    return ent, patient


def sql(region: Region, query: str, *args: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(region.database_url.replace("+psycopg", "")) as conn:
        return conn.execute(query, args).fetchall()


def command_states(region: Region) -> dict[str, tuple[str, str | None, str]]:
    return {c: (s, r, d) for c, s, r, d in sql(
        region, "SELECT command_id, state, rule, detail FROM federation_command")}


def end_decision(*reasons: str) -> dict[str, Any]:
    """$end-entitlement agreed by both bodies (D1), with these reasons."""
    given = {"decision-date": {"valueDate": "2026-11-21"}, "la-agreed": {"valueBoolean": True},
             "la-agreed-by": {"valueString": "Herefordshire s117 lead"},
             "la-agreed-on": {"valueDate": "2026-11-21"}, "icb-agreed": {"valueBoolean": True},
             "icb-agreed-by": {"valueString": "QGH s117 commissioner"},
             "icb-agreed-on": {"valueDate": "2026-11-19"},
             "person-involved": {"valueBoolean": True}}
    parameters = [{"name": name, **value} for name, value in given.items()]
    parameters += [{"name": "reason", "valueCoding": {
        "system": "https://fhir.s117-register.uk/CodeSystem/s117-end-reason", "code": r}}
        for r in reasons]
    return {"resourceType": "Parameters", "parameter": parameters}


def test_a_london_trusts_patient_from_herefordshire_is_in_herefordshires_caseload(
        regions: dict[str, Region], tmp_path) -> None:
    london, midlands = regions[LONDON], regions[MIDLANDS]
    from tests.outbound_support import Receiver, subscription

    receiver = Receiver().start()
    try:
        qgh = {**FHIR_JSON, **bearer("QGH", "icb", "system/Subscription.cruds")}
        made = requests.post(f"{midlands.base}/Subscription", headers=qgh, timeout=30,
                             json=subscription(receiver.url, ["responsible-icb=QGH"]))
        assert made.status_code == 201, made.text
        nhs = synthetic(23_001)
        detained(london, nhs, "RRP", 1)
        [owned] = until(lambda: [e for e in episodes(london, "RRP", "trust", nhs)
                                 if e["status"] == "active"], "London's entitlement")
        replica = until(lambda: [e for e in episodes(midlands, HEREFORDSHIRE, "la", nhs,
                                                     **{"responsible-la": HEREFORDSHIRE})
                                 if e["status"] == "active"],
                        "the replica in Herefordshire's caseload")
        assert [e["id"] for e in replica] == [owned["id"]]
        assert [e["id"] for e in episodes(midlands, "QGH", "icb", nhs)] == [owned["id"]]
        [(owner, event)] = sql(midlands, "SELECT owner_region, owner_event FROM replica")
        assert owner == LONDON and event > 0
        heard = until(lambda: [e for e in receiver.events() if owned["id"] in (e[2] or "")],
                      "QGH's subscription on the Midlands register to hear it", 60)
        assert {"planned", "started"} <= {kind for _, kind, _ in heard} or len(heard) >= 2
        # Nothing about the person in the federation message headers: the plugin moved them.
        assert not sql(london, "SELECT 1 FROM replica"), "London owns it: no replica there"
    finally:
        receiver.stop()


def test_herefordshire_writes_on_the_replica_and_the_owner_applies_them(
        regions: dict[str, Region]) -> None:
    """A plan and a review recorded on the Midlands register are forwarded to London, applied
    there (R1-R3), and come back on the replica; an end decision refused by London's rules
    (D3: time elapsed is never enough) comes back refused with its rule."""
    london, midlands = regions[LONDON], regions[MIDLANDS]
    nhs = synthetic(23_002)
    detained(london, nhs, "RRP", 2)
    ent, patient = herefordshire_replica(midlands, nhs)
    la = {**FHIR_JSON, **bearer(HEREFORDSHIRE, "la", "system/*.cruds")}
    body = plan(patient["id"], ent["id"], activity(
        "supported-accommodation", "s117", [share(org(HEREFORDSHIRE), 60),
                                            share(org("QGH"), 40)], 900))
    body["contained"][0]["participant"][0]["onBehalfOf"] = org(HEREFORDSHIRE)
    sent = requests.post(f"{midlands.base}/CarePlan", json=body, headers=la, timeout=30)
    assert sent.status_code == 202, sent.text
    assert "sent to the owning register Y56" in sent.text
    review = task("review", patient["id"], f"EpisodeOfCare/{ent['id']}",
                  period={"end": "2026-11-18"},
                  inputs=[param("attendee", valueString="Dee Patel (care coordinator)"),
                          param("person-involved", valueBoolean=True)],
                  outputs=[param("outcome", valueString="settled; plan continues"),
                           param("needs-arise-from-disorder", valueBoolean=True)])
    sent = requests.post(f"{midlands.base}/Task", json=review, headers=la, timeout=30)
    assert sent.status_code == 202, sent.text

    def applied() -> bool:
        states = command_states(midlands)
        return len(states) >= 2 and all(s == "applied" for s, _, _ in states.values())
    until(applied, "London's answers: applied")
    [london_patient] = entries(get(london, "Patient", HEREFORDSHIRE, "la",
                                   identifier=f"{NHS}|{nhs}"), "Patient")
    plans = entries(get(london, "CarePlan", HEREFORDSHIRE, "la",
                        patient=f"Patient/{london_patient['id']}"), "CarePlan")
    assert len(plans) == 1, "the owner applied the plan once"
    until(lambda: entries(get(midlands, "CarePlan", HEREFORDSHIRE, "la",
                              patient=f"Patient/{patient['id']}"), "CarePlan"),
          "the plan back on the replica")
    [back] = entries(get(midlands, "CarePlan", HEREFORDSHIRE, "la",
                         patient=f"Patient/{patient['id']}"), "CarePlan")
    assert back["id"] == plans[0]["id"]

    weak = requests.post(f"{midlands.base}/EpisodeOfCare/{ent['id']}/$end-entitlement",
                         headers=la, timeout=30, json=end_decision("time-elapsed"))
    assert weak.status_code == 202, weak.text

    def refused() -> list[tuple[str, str | None, str]]:
        return [v for v in command_states(midlands).values() if v[0] == "refused"]
    [(state, rule, detail)] = until(refused, "the refusal to come back")
    assert rule == "D3", detail
    still = episodes(london, HEREFORDSHIRE, "la", nhs)
    assert [e["status"] for e in still] == ["active"], "nothing changed at the owner"
    shown = midlands.s117("federation", "commands")
    assert shown.returncode == 0 and "refused" in shown.stdout and "D3" in shown.stdout


def test_out_of_area_search_works_both_ways_and_counts_are_not_doubled(
        regions: dict[str, Region]) -> None:
    """L2: a Westminster resident detained by a Herefordshire trust (R1A, owned by the
    Midlands register) who then lives in Herefordshire stays Westminster's, and London
    finds them; a Herefordshire resident of the London trust who moves to London stays
    Herefordshire's, and the Midlands register finds them."""
    london, midlands = regions[LONDON], regions[MIDLANDS]
    westminster_person, hereford_person = synthetic(23_003), synthetic(23_004)
    detained(midlands, westminster_person, "R1A", 3, address=LONDON_ADDRESS)
    send(midlands, adt("A08", "A08-3", westminster_person, pv1("V-3"), sender="R1A",
                       at="20250401100000"), "R1A")  # now lives in Hereford (the default)
    detained(london, hereford_person, "RRP", 4)
    send(london, adt("A08", "A08-4", hereford_person, pv1("V-4"), sender="RRP",
                     at="20250401100000", pid={1: "1", 3: f"{hereford_person}^^^NHS^NH",
                                               5: "SMITH^JO", 7: "19800501",
                                               11: LONDON_ADDRESS}), "RRP")
    found = until(lambda: episodes(london, WESTMINSTER, "la", westminster_person,
                                   **{"out-of-area": "true"}),
                  "London's out-of-area search to find the Midlands' person", 300)
    assert len(found) == 1
    found = until(lambda: episodes(midlands, HEREFORDSHIRE, "la", hereford_person,
                                   **{"out-of-area": "true"}),
                  "the Midlands' out-of-area search to find London's person", 300)
    assert len(found) == 1

    def owned(region: Region) -> set[str]:
        return {r[0] for r in sql(region, "SELECT e.id FROM entitlement e WHERE NOT EXISTS "
                                  "(SELECT 1 FROM replica r WHERE r.person_id = e.person_id)")}

    def held(region: Region) -> set[str]:
        return {r[0] for r in sql(region, "SELECT e.id FROM entitlement e JOIN replica r "
                                  "ON r.person_id = e.person_id")}
    everyone = owned(london) | owned(midlands)
    assert not owned(london) & owned(midlands), "each entitlement has one owner"
    assert held(midlands) <= owned(london) and held(london) <= owned(midlands)
    report = midlands.s117("report", "entitled-by-body")
    assert report.returncode == 0, report.stderr
    assert "replica" in report.stdout.splitlines()[0]
    LEDGER.append({"scenario": "counts", "owned Y56": len(owned(london)),
                   "owned Y60": len(owned(midlands)), "replicas Y56": len(held(london)),
                   "replicas Y60": len(held(midlands)), "national": len(everyone)})


def _stream(region: Region, first: int, people: int) -> list[str]:
    sent = []
    for n in range(first, first + people):
        nhs = synthetic(23_100 + n)
        detained(region, nhs, "RRP", 100 + n)
        sent.append(nhs)
    return sent


def _applied_here(region: Region, origin: str) -> list[int]:
    return [r[0] for r in sql(region, "SELECT CAST(split_part(command_id, ':', 3) AS integer) "
                              "FROM inbox WHERE command_id LIKE %s ORDER BY 1",
                              f"federation:{origin}:%")]


def _sent_to(region: Region, peer: str) -> list[int]:
    return [r[0] for r in sql(region, "SELECT outbox_id FROM federation_sent WHERE region = %s "
                              "ORDER BY outbox_id", peer)]


def _lag(region: Region, peer: str) -> int:
    """Events sent to the peer and not yet applied there (as `s117 federation status`
    counts them), read without starting a process for each look."""
    [(lag,)] = sql(region, "SELECT count(*) FROM federation_sent WHERE region = %s AND "
                   "outbox_id > COALESCE((SELECT acked_event FROM federation_link WHERE "
                   "region = %s), 0)", peer, peer)
    return int(lag)


def _status(region: Region, peer: str) -> dict[str, Any]:
    shown = region.s117("federation", "status", "--json")
    assert shown.returncode == 0, shown.stderr
    return next(s for s in json.loads(shown.stdout) if s["region"] == peer)


@pytest.mark.parametrize("outage", ["link", "consumer"])
def test_an_outage_mid_stream_loses_nothing_and_applies_each_change_once_in_order(
        regions: dict[str, Region], outage: str) -> None:
    """The link (its user shut out of London's virtual host) or the Midlands register's
    federation process (SIGKILL) goes down mid-stream; London goes on working; on return the
    backlog arrives in order, each change applied once."""
    london, midlands = regions[LONDON], regions[MIDLANDS]
    first = 0 if outage == "link" else 100
    _stream(london, first, 5)
    if outage == "link":
        london.shut_links_out()
        until(lambda: not any(link.get("status") == "running"
                              for link in links(midlands.vhost)), "the link down")
    else:
        midlands.processes["federation"].kill()
    during = _stream(london, first + 5, 10)
    until(lambda: _lag(london, MIDLANDS) > 0, "a lag while down")
    lag_down = _status(london, MIDLANDS)
    assert lag_down["lag_events"] > 0, "s117 federation status shows the lag"
    down_at = time.monotonic()
    time.sleep(3)
    if outage == "link":
        london.let_links_in()
    else:
        midlands.start("federation")
    until(lambda: _lag(london, MIDLANDS) == 0, "the backlog applied", most=0.5)
    caught_up = time.monotonic() - down_at
    sent = _sent_to(london, MIDLANDS)
    applied = _applied_here(midlands, LONDON)
    assert applied == sorted(set(applied)), "each change applied once"
    lost = len(set(sent) - set(applied))
    assert lost == 0
    for nhs in during:
        assert episodes(midlands, HEREFORDSHIRE, "la", nhs), "every person arrived"
    in_order = [int(r[0].rsplit(":", 1)[1]) for r in sql(
        midlands, "SELECT command_id FROM inbox WHERE command_id LIKE %s ORDER BY received_at, "
        "command_id", f"federation:{LONDON}:%")]
    assert in_order == sorted(in_order), "applied in the order London committed them"
    LEDGER.append({"scenario": f"{outage} down", "sent": len(sent), "applied": len(applied),
                   "lost": lost, "duplicates": len(applied) - len(set(applied)),
                   "lag while down (events)": lag_down["lag_events"],
                   "catch-up s": round(caught_up, 1)})


def test_a_message_from_an_unknown_register_is_quarantined_and_the_consumer_goes_on(
        regions: dict[str, Region]) -> None:
    import pika

    midlands = regions[MIDLANDS]
    connection = pika.BlockingConnection(pika.URLParameters(midlands.amqp_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        for origin, body in (("X99", b"{}"), ("Y56", b"not json")):
            channel.basic_publish("s117.federation", MIDLANDS, body, pika.BasicProperties(
                headers={"origin": origin, "kind": "replica", "event-number": 999_999},
                message_id=f"bad-{origin}", delivery_mode=2))
    finally:
        connection.close()
    def quarantined() -> list[tuple[Any, ...]] | None:
        found = sql(midlands, "SELECT kind, reason FROM inbound_message WHERE channel = "
                    "'federation' AND sender IN ('X99', 'Y56') ORDER BY id")
        return found if len(found) >= 2 else None
    rows = until(quarantined, "two quarantined")
    kinds = {k for k, _ in rows}
    assert "unknown-register" in kinds and "refused" in kinds, rows
    nhs = synthetic(23_500)
    detained(regions[LONDON], nhs, "RRP", 500)
    until(lambda: episodes(midlands, HEREFORDSHIRE, "la", nhs),
          "the consumer still applies what comes after")
    assert rabbitmqctl("list_queues", "-p", midlands.vhost, "name", "messages")


def _person_id(region: Region, nhs: str) -> int:
    [(found,)] = sql(region, "SELECT id FROM person WHERE nhs_number = %s", nhs)
    return found


def _owner_here(region: Region, nhs: str) -> str | None:
    """The region owning this person's record, as this register sees it."""
    rows = sql(region, "SELECT r.owner_region FROM replica r JOIN person p ON p.id = "
               "r.person_id WHERE p.nhs_number = %s", nhs)
    return rows[0][0] if rows else region.code


def test_a_re_detention_in_the_other_region_moves_ownership_and_a_write_in_flight_is_applied_once(
        regions: dict[str, Region]) -> None:
    """L3: London owns the record of a Herefordshire resident its trust detained; the
    Midlands trust R1A re-detains them, so the duty rests on a Midlands detention and the
    Midlands register becomes the owner, London keeping a replica. A review Herefordshire
    writes on its replica meanwhile reaches London after the move, is passed on, and is
    applied once, by the new owner."""
    london, midlands = regions[LONDON], regions[MIDLANDS]
    nhs = synthetic(23_600)
    detained(london, nhs, "RRP", 600)
    ent, patient = herefordshire_replica(midlands, nhs)
    # The Midlands end of the link pauses, so the re-detention and the review leave it
    # together, in the order they were written, and the review meets London after the move.
    midlands.stop("federation")
    at = "20250601100000"
    send(midlands, adt("A01", "A01-601", nhs, pv1("V-601", at), f"ZMH|3|{at}||||N",
                       sender="R1A", at=at), "R1A")
    until(lambda: sql(midlands, "SELECT 1 FROM federation_command WHERE kind = 'Admit' AND "
                      "payload->>'nhs_number' = %s", nhs),
          "the re-detention forwarded to the owner")
    review = task("review", patient["id"], f"EpisodeOfCare/{ent['id']}",
                  period={"end": "2026-11-18"},
                  inputs=[param("attendee", valueString="Dee Patel (care coordinator)"),
                          param("person-involved", valueBoolean=True)],
                  outputs=[param("outcome", valueString="settled after readmission"),
                           param("needs-arise-from-disorder", valueBoolean=True)])
    la = {**FHIR_JSON, **bearer(HEREFORDSHIRE, "la", "system/*.cruds")}
    sent = requests.post(f"{midlands.base}/Task", json=review, headers=la, timeout=60)
    assert sent.status_code == 202, sent.text
    [(review_id,)] = sql(midlands, "SELECT command_id FROM federation_command WHERE kind = "
                         "'RecordReview' AND payload->>'nhs_number' = %s", nhs)
    midlands.start("federation")

    def settled() -> bool:
        return (_owner_here(london, nhs) == MIDLANDS and _owner_here(midlands, nhs) == MIDLANDS
                and sql(midlands, "SELECT state FROM federation_command WHERE command_id = %s",
                        review_id) == [("applied",)]
                and bool(sql(london, "SELECT 1 FROM handover WHERE state = 'accepted'"))
                and _lag(london, MIDLANDS) == 0 and _lag(midlands, LONDON) == 0)
    until(settled, "the handover, the review applied and both links caught up", 300)

    # Both registers agree on the owner, and the handover is an event on both sides.
    for region in (london, midlands):
        assert sql(region, "SELECT count(*) FROM outbox WHERE event = 'owner-changed' AND "
                   "entitlement_id = %s", ent["id"]) == [(1,)], region.code
    [(direction, peer, rule)] = sql(midlands, "SELECT direction, peer, rule FROM handover "
                                    "WHERE person_id = %s", _person_id(midlands, nhs))
    assert (direction, peer, rule) == ("in", LONDON, "L3")
    # The review: applied once, at the new owner; London only passed it on.
    assert sql(midlands, "SELECT count(*) FROM provenance WHERE command_id = %s",
               review_id) == [(1,)]
    assert sql(london, "SELECT count(*) FROM provenance WHERE command_id = %s",
               review_id) == [(0,)]
    assert sql(london, "SELECT state, reply_to FROM federation_command WHERE command_id = %s",
               review_id) == [("applied", MIDLANDS)]
    # ... and it comes back to London's replica from the new owner.
    until(lambda: "settled after readmission" in json.dumps(sql(
        london, "SELECT facts FROM person WHERE nhs_number = %s", nhs)),
        "the review on London's replica")
    # Every event each side sent the other was applied once, in order: none lost, none twice.
    counts: dict[str, Any] = {"scenario": "handover (L3)"}
    for sender, receiver in ((london, midlands), (midlands, london)):
        sent_events = _sent_to(sender, receiver.code)
        applied = _applied_here(receiver, sender.code)
        assert applied == sorted(set(applied))
        assert set(sent_events) <= set(applied), "lost on the way"
        counts[f"{sender.code}->{receiver.code} sent"] = len(sent_events)
        counts[f"{sender.code}->{receiver.code} applied"] = len(applied)
    shown = london.s117("federation", "handovers")
    assert shown.returncode == 0 and "handed to" in shown.stdout and "accepted" in shown.stdout
    LEDGER.append(counts)


def _replica_from_another_region(london: Region, nhs: str, origin: str) -> tuple[bytes, Any]:
    """A replica message as the register of `origin` would send it, made from London's
    record of the person (the link carries exactly this shape)."""
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    from queues.federation import messages
    from queues.outbound.stream import recorded
    from register.store.orm import EntitlementRow, OutboxRow, PersonRow
    from register.store.uow import Appends, SqlPeople

    engine = create_engine(london.database_url)
    try:
        with Session(engine) as session:
            row = session.scalars(select(OutboxRow)
                                  .join(EntitlementRow,
                                        EntitlementRow.id == OutboxRow.entitlement_id)
                                  .join(PersonRow, PersonRow.id == EntitlementRow.person_id)
                                  .where(PersonRow.nhs_number == nhs)
                                  .order_by(OutboxRow.id.desc())).first()
            record = SqlPeople(session, Appends()).get(nhs)
            assert row is not None and record is not None
            out = messages.replica(MIDLANDS, origin, recorded(row), record,
                                   f"http://{origin.lower()}.example/fhir")
    finally:
        engine.dispose()
    return out.body, out.properties(origin)


def test_a_message_from_a_register_not_configured_is_quarantined_then_replayed_once_it_is(
        regions: dict[str, Region]) -> None:
    """Bad input: an update from the East of England's register (Y61), which the Midlands
    register does not exchange with, is quarantined with the reason; once Y61 is one of its
    peers (S117_FEDERATION_PEERS, the link process restarted) `s117 quarantine replay`
    applies it, once."""
    import pika

    london, midlands = regions[LONDON], regions[MIDLANDS]
    nhs = synthetic(23_700)
    # A Westminster resident with no GP sent: no body the Midlands serves, so the Midlands
    # register never hears of them from London.
    at = "20250110100000"
    admission = adt("A01", "A01-700", nhs, pv1("V-700", at), f"ZMH|3|{at}||||N", sender="RRP",
                    at=at, pid={1: "1", 3: f"{nhs}^^^NHS^NH", 5: "SMITH^JO", 7: "19800501",
                                11: LONDON_ADDRESS})
    send(london, re.sub(rb"PD1\|[^\r]*\r", b"", admission), "RRP")
    [(last, la, icb)] = until(lambda: sql(
        london, "SELECT max(o.id), max(e.responsible_la), max(e.responsible_icb) FROM outbox o "
        "JOIN entitlement e ON e.id = o.entitlement_id JOIN person p ON p.id = e.person_id "
        "WHERE p.nhs_number = %s HAVING count(*) > 0", nhs), "London's record")
    assert la == WESTMINSTER and icb != "QGH", (la, icb)
    until(lambda: sql(london, "SELECT 1 FROM federation_cursor WHERE outbox_id >= %s", last),
          "London's link process past the person's events")
    body, properties = _replica_from_another_region(london, nhs, "Y61")
    connection = pika.BlockingConnection(pika.URLParameters(midlands.amqp_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish("s117.federation", MIDLANDS, body, properties)
    finally:
        connection.close()
    [(row_id, kind, reason, state)] = until(lambda: sql(
        midlands, "SELECT id, kind, reason, state FROM inbound_message WHERE sender = 'Y61'"),
        "the update from Y61 quarantined")
    assert (kind, state) == ("unknown-register", "quarantined")
    assert "Y61" in reason and "S117_FEDERATION_PEERS" in reason
    listed = midlands.s117("quarantine", "list")
    assert listed.returncode == 0 and "unknown-register" in listed.stdout
    assert not sql(midlands, "SELECT 1 FROM person WHERE nhs_number = %s", nhs)

    midlands.peers = f"{LONDON},Y61"
    midlands.stop("federation")
    midlands.start("federation")
    replayed = midlands.s117("quarantine", "replay", str(row_id))
    assert replayed.returncode == 0 and "published" in replayed.stdout, \
        replayed.stderr + replayed.stdout
    until(lambda: sql(midlands, "SELECT state FROM inbound_message WHERE id = %s",
                      row_id) == [("resolved",)], "the replayed update applied")
    assert _owner_here(midlands, nhs) == "Y61"
    assert sql(midlands, "SELECT count(*) FROM inbox WHERE command_id LIKE %s",
               "federation:Y61:%") == [(1,)], "applied once"
    again = midlands.s117("quarantine", "replay", str(row_id))
    assert "not quarantined" in again.stdout, "a resolved message is not replayed again"
