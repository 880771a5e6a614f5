"""Issue 5 "Done when", as an ICB analyst does it: `s117 serve` started as a user starts it, a
Subscription for `responsible-icb=QGH` created with a FHIR client (fhirpy) pointing at the
ICB's own HTTP endpoint (a werkzeug server started here), the handshake seen there, a trust's
discharge (the A03, sent as a FHIR message through `$process-message`) that starts an
entitlement for a QGH patient arriving as a notification, and after an outage every missed
event recovered with `$events` and then delivered again. Also the Subscription API's
refusals, the topics, the CLI, and the networked processes (`s117 serve` + `s117 relay` on
PostgreSQL and RabbitMQ) with an `amqp` subscriber reading its own queue while the relay is
killed with SIGKILL mid-stream (issue 5 test c, end to end)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pika
import pytest
import requests
from fhirpy import SyncFHIRClient

from fhir_profiles import validate
from register.nhs_number import synthetic
from tests.auth_support import bearer, checked_env
from tests.e2e.test_cli import S117, free_port, run
from tests.fhir_js import errors, validate_with_fhirjs
from tests.outbound_support import (
    Receiver,
    events_of,
    parameters,
    subscription,
    wait_for,
)

NHS = "https://fhir.nhs.uk/Id/nhs-number"
EVENT = "https://fhir.s117-register.uk/CodeSystem/s117-event"
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
LEGAL_STATUS = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-LegalStatus"
FHIR_JSON = {"Content-Type": "application/fhir+json"}
POSTCODES = {"QGH": "HR1 1AA", "QOX": "SN1 1AA"}


def start(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """The process's output goes to `<cwd>/<command>.log`: a pipe nobody reads fills up with
    log lines (failed deliveries log each attempt) and then blocks the process."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("S117_")}
    environ.update(env)
    with (cwd / f"{args[0]}.log").open("a") as log:
        return subprocess.Popen([S117, *args], cwd=cwd, env=environ, stdout=log,
                                stderr=subprocess.STDOUT, text=True)


def serving(cwd: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    server = start(["serve", "--port", str(port)], cwd, env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=2).close()
            return server, f"{url}/fhir"
        except OSError:
            assert server.poll() is None, (cwd / "serve.log").read_text()
            assert time.monotonic() < deadline, "s117 serve did not answer in 60 s"
            time.sleep(0.3)


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A demo register served by `s117 serve` (embedded: the in-process bus delivers). The
    demo's reviews that are due or overdue are announced first (`s117 scheduler --once`), so
    the server's own scheduler has nothing of its own to add while a test counts events."""
    path = tmp_path_factory.mktemp("subscriptions")
    assert run("demo", "--people", "20", cwd=path).returncode == 0
    assert run("scheduler", "--once", cwd=path).returncode == 0
    server, base = serving(path, {"S117_SUBSCRIPTION_ALLOWED_HOSTS": "127.0.0.1"})
    try:
        yield base, path
    finally:
        stop(server)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver().start()
    yield made
    made.stop()


def message(message_id: str, event: str, nhs: str, icb: str, end: str | None = None) -> dict:
    """A trust EPR's FHIR message: admission, or discharge (what HL7 v2 A03 carries)."""
    encounter = {
        "resourceType": "Encounter", "status": "finished" if end else "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "identifier": [{"value": f"V-{nhs}"}],
        "period": {"start": "2025-01-10T10:00:00Z", **({"end": end} if end else {})},
        "extension": [{"url": LEGAL_STATUS, "extension": [
            {"url": "legalStatusClassification", "valueCodeableConcept": {"coding": [{
                "system": "https://fhir.hl7.org.uk/CodeSystem/"
                          "UKCore-LegalStatusClassificationEngland", "code": "03"}]}},
            {"url": "legalStatusContext", "valueCodeableConcept": {"coding": [{
                "system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-LegalStatusContext",
                "code": "admission"}]}}]}]}
    return {"resourceType": "Bundle", "id": message_id, "type": "message",
            "timestamp": "2025-01-10T10:00:00Z", "entry": [
                {"fullUrl": "urn:uuid:header", "resource": {
                    "resourceType": "MessageHeader", "id": f"h-{message_id}",
                    "eventCoding": {"system": EVENT, "code": event},
                    "sender": {"identifier": {"system": ODS, "value": "RLQ"}},
                    "source": {"endpoint": "https://epr.trust.example/fhir"}}},
                {"fullUrl": "urn:uuid:patient", "resource": {
                    "resourceType": "Patient", "identifier": [{"system": NHS, "value": nhs}],
                    "address": [{"postalCode": POSTCODES[icb]}]}},
                {"fullUrl": "urn:uuid:encounter", "resource": encounter}]}


def detain_and_discharge(base: str, n: int, icb: str, auth: dict[str, str] | None = None
                         ) -> str:
    """The trust RLQ's admission and discharge messages (`auth`: its token, networked)."""
    nhs = synthetic(6_000 + n)
    for event, end in (("admission", None), ("discharge", "2025-03-01T12:00:00Z")):
        sent = requests.post(f"{base}/$process-message", headers={**FHIR_JSON, **(auth or {})},
                             timeout=30, json=message(f"{event}-{nhs}", event, nhs, icb, end))
        # 200 embedded (applied before the answer), 202 networked (s117 worker applies it).
        assert sent.status_code in (200, 202), sent.text
    return nhs


def status(base: str, subscription_id: str) -> dict:
    answer = requests.get(f"{base}/Subscription/{subscription_id}/$status", timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["entry"][0]["resource"]


def value(status_parameters: dict, name: str) -> str:
    found = parameters(status_parameters, name)[0]
    return next(v for k, v in found.items() if k.startswith("value"))


def test_an_icb_subscribes_hears_a_discharge_and_recovers_an_outage(
        embedded: tuple[str, Path], receiver: Receiver):
    base, path = embedded
    client = SyncFHIRClient(base)
    sub = client.resource("Subscription", **subscription(
        receiver.url, ["EpisodeOfCare?responsible-icb=QGH"],
        headers=["Authorization: Bearer qgh-analyst"]))
    sub.save()
    assert sub["status"] == "requested" and sub.id

    # The handshake reaches the ICB's endpoint, and the Subscription becomes active.
    handshake = wait_for(lambda: receiver.of_kind("handshake"), "the handshake")[0]
    assert value(handshake.status, "subscription")["reference"].endswith(
        f"/Subscription/{sub.id}")
    assert handshake.headers["Authorization"] == "Bearer qgh-analyst"
    wait_for(lambda: client.reference("Subscription", sub.id).to_resource()["status"] ==
             "active", "status active")

    # A trust discharges a QGH patient: the entitlement starts and the ICB hears it.
    detain_and_discharge(base, 1, "QGH")
    arrived = wait_for(lambda: [e for e in receiver.events() if e[1] == "started"],
                       "the started notification")
    number, _, focus = arrived[0]
    episode = client.reference("EpisodeOfCare", focus.rsplit("/", 1)[1]).to_resource()
    assert episode["status"] == "active"
    icb = next(e for e in episode["extension"] if e["url"].endswith("ResponsibleIcb"))
    assert icb["valueReference"]["identifier"]["value"] == "QGH"
    heard = receiver.numbers()
    assert number in heard and heard == list(range(1, len(heard) + 1))  # no gap, in order

    # The ICB's endpoint goes down; changes go on; $status shows the failures.
    receiver.stop()
    detain_and_discharge(base, 2, "QGH")
    detain_and_discharge(base, 3, "QOX")  # another ICB's patient: never for QGH
    detain_and_discharge(base, 4, "QGH")
    last_heard = max(receiver.numbers())
    # Two more QGH people: planned, started, needs-review and flag-raised each (E2 and O1:
    # discharged with no aftercare plan recorded), and the first person's if not heard yet.
    first_person = 4
    total = first_person + 2 * 4

    def failing() -> dict | None:
        now = status(base, sub.id)
        attempts = [{"parameter": p["part"]} for p in parameters(now, "s117-delivery-attempt")]
        recorded = int(value(now, "events-since-subscription-start"))
        # Every event is recorded, and delivery of the first one missed has failed (the
        # retries back off, so a later attempt may not have come round yet).
        return now if recorded == total and any(
            value(a, "outcome") == "failed"
            and value(a, "events").startswith(f"{last_heard + 1}-") for a in attempts) else None

    down = wait_for(failing, "a failed attempt to deliver the missed events")
    assert int(value(down, "s117-events-delivered")) == last_heard
    assert parameters(down, "error"), "the last error is reported"

    # It recovers every missed event with $events, in order, numbered without a gap.
    missed = requests.get(f"{base}/Subscription/{sub.id}/$events", timeout=10,
                          params={"eventsSinceNumber": last_heard + 1})
    assert missed.status_code == 200
    bundle = missed.json()
    recovered = events_of(bundle["entry"][0]["resource"])
    assert [n for n, _, _ in recovered] == list(range(last_heard + 1, total + 1))
    # for each of the three QGH people
    every = ["planned", "started", "needs-review", "flag-raised"] * 3
    assert [code for _, code, _ in recovered] == every[last_heard:total]
    for _, _, reference in recovered:
        missed_episode = client.reference("EpisodeOfCare", reference.rsplit("/", 1)[1])
        ext = next(e for e in missed_episode.to_resource()["extension"]
                   if e["url"].endswith("ResponsibleIcb"))
        assert ext["valueReference"]["identifier"]["value"] == "QGH"
    assert value(bundle["entry"][0]["resource"], "type") == "query-event"

    # Back up: the register delivers what it had been retrying, in order, no gap.
    receiver.start()
    wait_for(lambda: receiver.numbers() and max(receiver.numbers()) == total,
             "redelivery after the outage")
    assert sorted(set(receiver.numbers())) == list(range(1, total + 1))
    assert receiver.numbers() == sorted(receiver.numbers())

    # Everything the subscriber received is valid R4, for both validators.
    bodies = [r.body for r in receiver.received] + [bundle]
    assert all(not [i for i in validate.validate(b) if i.severity == "error"] for b in bodies)
    assert errors(validate_with_fhirjs(bodies)) == []

    # The CLI shows the same record.
    listed = run("subscriptions", "list", cwd=path)
    assert listed.returncode == 0 and sub.id in listed.stdout
    shown = run("subscriptions", "show", sub.id, "--attempts", "50", cwd=path)
    assert shown.returncode == 0, shown.stderr
    assert "failed" in shown.stdout and "delivered" in shown.stdout
    assert "handshake" in shown.stdout and "event-notification" in shown.stdout
    assert run("subscriptions", "show", "nope", cwd=path).returncode == 1


def test_the_subscription_api_refuses_what_it_cannot_honour_and_edits_with_if_match(
        embedded: tuple[str, Path], receiver: Receiver):
    base, _ = embedded
    unknown = subscription(receiver.url, ["responsible-icb=QGH"])
    unknown["criteria"] = "https://example.org/SubscriptionTopic/admissions"
    refused = requests.post(f"{base}/Subscription", json=unknown, headers=FHIR_JSON, timeout=10)
    assert refused.status_code == 422
    assert refused.json()["issue"][0]["expression"] == ["Subscription.criteria"]
    typo = requests.post(f"{base}/Subscription", headers=FHIR_JSON, timeout=10,
                         json=subscription(receiver.url, ["responsible-icb=QXX"]))
    assert typo.status_code == 422 and "QXX is not an ICB" in typo.text
    amqp = requests.post(f"{base}/Subscription", headers=FHIR_JSON, timeout=10,
                         json=subscription(None, ["responsible-icb=QGH"], amqp=True))
    assert amqp.status_code == 422 and "networked register" in amqp.text
    assert requests.post(f"{base}/Subscription", data="{", headers=FHIR_JSON,
                         timeout=10).status_code == 400

    created = requests.post(f"{base}/Subscription", headers=FHIR_JSON, timeout=10,
                            json=subscription(receiver.url, ["responsible-la=E06000019"],
                                              headers=["Authorization: Bearer s3cret"]))
    assert created.status_code == 201
    assert created.json()["channel"]["header"] == ["Authorization: ******"], \
        "a subscriber's secret is written, never read back"
    assert created.headers["Location"].endswith(f"/Subscription/{created.json()['id']}")
    resource = created.json()
    wait_for(lambda: requests.get(f"{base}/Subscription/{resource['id']}", timeout=10)
             .json()["status"] == "active", "active")
    current = requests.get(f"{base}/Subscription/{resource['id']}", timeout=10)
    edited = current.json()
    edited["_criteria"]["extension"][0]["valueString"] = "responsible-la=E06000030"
    stale = requests.put(f"{base}/Subscription/{resource['id']}", json=edited, timeout=10,
                         headers={**FHIR_JSON, "If-Match": 'W/"0"'})
    assert stale.status_code == 412
    saved = requests.put(f"{base}/Subscription/{resource['id']}", json=edited, timeout=10,
                         headers={**FHIR_JSON, "If-Match": current.headers["ETag"]})
    assert saved.status_code == 200, saved.text
    assert saved.json()["status"] == "active", "a filter edit does not interrupt delivery"
    assert saved.json()["meta"]["versionId"] == "2"
    moved = saved.json()
    moved["channel"]["endpoint"] = f"{receiver.url}?moved=1"  # the masked header round-trips
    assert requests.put(f"{base}/Subscription/{resource['id']}", json=moved, timeout=10,
                        headers=FHIR_JSON).status_code == 200
    rehandshake = wait_for(lambda: len(receiver.of_kind("handshake")) == 2
                           and receiver.of_kind("handshake")[1], "a handshake at the new URL")
    assert rehandshake.headers["Authorization"] == "Bearer s3cret"
    found = requests.get(f"{base}/Subscription", params={"status": "active"}, timeout=10)
    assert resource["id"] in [e["resource"]["id"] for e in found.json()["entry"]]
    every = requests.get(f"{base}/Subscription/$status", timeout=10).json()
    assert every["type"] == "searchset" and every["total"] >= 1
    bad_number = requests.get(f"{base}/Subscription/{resource['id']}/$events",
                              params={"eventsSinceNumber": "x"}, timeout=10)
    assert bad_number.status_code == 400
    assert bad_number.json()["issue"][0]["expression"] == ["eventsSinceNumber"]
    assert requests.delete(f"{base}/Subscription/{resource['id']}", timeout=10).ok
    assert requests.get(f"{base}/Subscription/{resource['id']}", timeout=10).status_code == 404
    assert requests.get(f"{base}/Subscription/{resource['id']}/$events",
                        timeout=10).status_code == 404


def test_the_topics_are_published_and_named_in_the_capability_statement(
        embedded: tuple[str, Path]):
    base, _ = embedded
    statement = requests.get(f"{base}/metadata", timeout=10).json()
    entry = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Subscription")
    topics = [e["valueCanonical"] for e in entry["extension"]]
    assert topics == ["https://fhir.s117-register.uk/SubscriptionTopic/s117-entitlement-change",
                      "https://fhir.s117-register.uk/SubscriptionTopic/s117-review-overdue"]
    assert {o["name"] for o in entry["operation"]} == {"status", "events"}
    found = requests.get(f"{base}/Basic", params={"code": "SubscriptionTopic",
                                                  "url": topics[1]}, timeout=10).json()
    assert [e["resource"]["id"] for e in found["entry"]] == ["s117-review-overdue"]
    assert requests.get(f"{base}/Basic/s117-entitlement-change", timeout=10).ok
    paths = requests.get(f"{base}/openapi.json", timeout=10).json()["paths"]
    assert {"/Subscription", "/Subscription/{id}", "/Subscription/$status",
            "/Subscription/{id}/$status", "/Subscription/{id}/$events"} <= set(paths)
    assert {"get", "put", "delete"} <= set(paths["/Subscription/{id}"])
    assert {"get", "post"} <= set(paths["/Subscription"])


# -- networked: PostgreSQL, RabbitMQ, s117 relay ---------------------------------------------

@pytest.mark.postgres
@pytest.mark.rabbitmq
def test_networked_relay_killed_mid_stream_loses_nothing_for_an_amqp_subscriber(
        postgresql_url: str, amqp_url: str, tmp_path: Path, receiver: Receiver):
    from tests.conftest import empty_register, prepared_engine

    empty_register(prepared_engine(postgresql_url))
    # A relay killed with SIGKILL keeps its delivery leases until they run out (2 x timeout
    # + 10 s): a short timeout keeps this test short.
    env = checked_env(S117_DATABASE_URL=postgresql_url, S117_AMQP_URL=amqp_url,
                      S117_AMQP_ADMIN="rabbitmqctl", S117_DELIVERY_TIMEOUT_SECONDS="1")
    icb = {**FHIR_JSON, **bearer("QGH", "icb", "system/Subscription.cruds")}
    trust = bearer("RLQ", "trust", "system/MessageHeader.c")
    assert run("queues", "declare", "--definitions", str(tmp_path / "d.json"), cwd=tmp_path,
               env=env).returncode == 0
    server, base = serving(tmp_path, env)
    relay = start(["relay"], tmp_path, env)
    worker = start(["worker"], tmp_path, env)  # applies the trust's messages
    connection = None
    try:
        created = requests.post(f"{base}/Subscription", headers=icb, timeout=30,
                                json=subscription(None, ["responsible-icb=QGH"], amqp=True))
        assert created.status_code == 201, created.text
        resource = created.json()
        issued = {e["url"]: e.get("valueString") for e in
                  resource["channel"]["extension"][0]["extension"]}
        assert resource["channel"]["endpoint"].startswith("amqp://127.0.0.1")
        assert "guest" not in resource["channel"]["endpoint"]
        again = requests.get(f"{base}/Subscription/{resource['id']}", headers=icb,
                             timeout=10).json()
        assert "password" not in json.dumps(again), "the password is shown once"
        hook = requests.post(f"{base}/Subscription", headers=icb, timeout=30,
                             json=subscription(receiver.url, ["responsible-icb=QGH"]))
        assert hook.status_code == 201

        for n in range(3):
            detain_and_discharge(base, 10 + n, "QGH", trust)
        relay.send_signal(signal.SIGKILL)
        relay.wait(timeout=30)
        for n in range(3, 6):
            detain_and_discharge(base, 10 + n, "QGH" if n % 2 else "QOX", trust)
        relay = start(["relay"], tmp_path, env)
        detain_and_discharge(base, 16, "QGH", trust)

        # Six QGH people: planned, started, needs-review and flag-raised each (E2 and O1: no
        # aftercare plan).
        total = 4 * 6
        params = pika.URLParameters(amqp_url)
        params.credentials = pika.PlainCredentials(issued["username"], issued["password"])
        connection = pika.BlockingConnection(params)
        channel = connection.channel()
        numbers: list[int] = []
        kinds: list[str] = []
        for method, properties, body in channel.consume(issued["queue"],
                                                        inactivity_timeout=60):
            assert method is not None, f"only events {numbers} came"
            kinds.append(properties.type)
            numbers += [n for n, _, _ in events_of(json.loads(body)["entry"][0]["resource"])]
            channel.basic_ack(method.delivery_tag)
            if set(numbers) >= set(range(1, total + 1)):
                break
        assert kinds[0] == "handshake"
        assert sorted(set(numbers)) == list(range(1, total + 1)), "nothing lost"
        wait_for(lambda: set(receiver.numbers()) >= set(range(1, total + 1)),
                 "the rest-hook subscriber's notifications")
        assert sorted(set(receiver.numbers())) == list(range(1, total + 1))
        assert run("scheduler", "--once", cwd=tmp_path, env=env).returncode == 0
    finally:
        if connection is not None and connection.is_open:
            connection.close()
        for subscription_id in [s["resource"]["id"] for s in requests.get(
                f"{base}/Subscription", headers=icb, timeout=10).json().get("entry", [])]:
            requests.delete(f"{base}/Subscription/{subscription_id}", headers=icb, timeout=30)
        stop(relay)
        stop(worker)
        stop(server)
