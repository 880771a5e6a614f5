"""Issue 20: the findings of testing the register as an attacker with valid tokens would, one
regression test each (each docstring names its finding), against an embedded demo register
behind the real Flask app (S117_AUTH=jwt with a test identity provider's key)."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from flask.testing import FlaskClient

from adapter import config
from adapter.http.app import create_app
from mappings.fhir import subscription as mapping
from queues.outbound import endpoints
from queues.outbound.channels import RestHook
from register.nhs_number import synthetic
from register.store.dialect import utcnow
from register.subscriptions import Subscription
from tests.auth_support import bearer, checked_env
from tests.e2e.test_cli import run
from tests.e2e.test_fhir_api import message, stay
from tests.outbound_support import subscription

NHS = "https://fhir.nhs.uk/Id/nhs-number"
FHIR_JSON = {"Content-Type": "application/fhir+json"}
ADMIN = bearer("ops", "admin")


@dataclass
class Demo:
    client: FlaskClient
    db_path: Path
    env: dict[str, str]

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.db_path)

    def get(self, url: str, auth: dict[str, str], **params: str) -> Any:
        return self.client.get(f"/fhir/{url}", headers=auth, query_string=params)

    def post(self, url: str, body: Any, auth: dict[str, str], **headers: str) -> Any:
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        return self.client.post(f"/fhir/{url}", data=data,
                                headers={**auth, **FHIR_JSON, **headers})

    def person(self, *, trust_sent: str | None = None, not_sent_by: str | None = None
               ) -> tuple[int, str]:
        """(person id, NHS number) of someone with an entitlement whose stays the trust did
        (or did not) send."""
        with self.db() as db:
            for pid, nhs, trusts in db.execute(
                    "SELECT p.id, p.nhs_number, p.trusts FROM person p WHERE EXISTS "
                    "(SELECT 1 FROM entitlement e WHERE e.person_id = p.id) ORDER BY p.id"):
                trusts = trusts or ""
                if trust_sent and f",{trust_sent}," in trusts:
                    return pid, nhs
                if not_sent_by and f",{not_sent_by}," not in trusts:
                    return pid, nhs
        raise AssertionError("no such person in the demo")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    path = tmp_path_factory.mktemp("attacker")
    # No S117_SUBSCRIPTION_ALLOWED_HOSTS: rest-hooks as in production, https to public
    # addresses only.
    env = checked_env(S117_DATABASE_URL=f"sqlite:///{path / 's117.db'}",
                      S117_SECRET_KEY="test-secret-key-for-pages",
                      S117_SUBSCRIPTION_ALLOWED_HOSTS="")
    built = run("demo", "--people", "20", cwd=path)
    assert built.returncode == 0, built.stderr
    app = create_app(config.from_env(env))
    # Clients without `with`: a preserved request context would share its `g` with the
    # requests of another client of the same app.
    yield Demo(app.test_client(), path / "s117.db", env)


def _outcome(answer: Any) -> str:
    return " ".join(i.get("diagnostics", "") for i in answer.get_json()["issue"])


# -- finding 7: no 500 under hostile input ----------------------------------------------------

def test_an_es256_token_against_an_rsa_key_is_401_not_500(demo: Demo):
    """Finding 7a: an ES256 token when the register has an RSA key was a 500 (PyJWT raises
    TypeError); it is refused 401 like any token that does not verify."""
    key = ec.generate_private_key(ec.SECP256R1())
    settings = config.from_env(demo.env)
    claims = {"iss": settings.jwt_issuer, "aud": settings.audience, "sub": "x", "iat": 1,
              "exp": 4_000_000_000, "org": "E06000019", "org_type": "la", "scope": "system/*.rs"}
    forged = jwt.encode(claims, key, algorithm="ES256")
    answer = demo.get("Patient", {"Authorization": f"Bearer {forged}"})
    assert answer.status_code == 401, answer.get_data(as_text=True)
    assert "ES256" in _outcome(answer)


def test_a_json_number_of_5000_digits_is_400_not_500(demo: Demo):
    """Finding 7b: a JSON integer over 4,300 digits in any body was a 500 (Python refuses
    to convert it); it is a 400 naming the number."""
    huge = '{"resourceType": "Patient", "birthDate": ' + "9" * 5000 + "}"
    for url in ("Patient", "$process-message", "CarePlan", "Subscription"):
        answer = demo.post(url, huge, ADMIN)
        assert answer.status_code == 400, (url, answer.status_code)
        assert "5,000 characters" in _outcome(answer), url


def test_a_patient_reference_too_long_for_an_id_finds_nobody(demo: Demo):
    """Finding 7c: `Task?patient=Patient/99999999999999999999999` (and Flag, CarePlan) was a
    500 (an integer overflow in the database); it matches nobody."""
    for kind in ("Task", "Flag", "CarePlan"):
        answer = demo.get(kind, ADMIN, patient="Patient/99999999999999999999999")
        assert answer.status_code == 200, (kind, answer.get_data(as_text=True))
        assert answer.get_json()["total"] == 0
    answer = demo.get("Subscription/$events", ADMIN, eventsSinceNumber="9" * 30)
    assert answer.status_code != 500


# -- findings 8 (and 6's NHS-number half): one normal form, issuable numbers only -------------

def test_an_nhs_number_typed_with_spaces_or_dashes_finds_the_person(demo: Demo):
    """Finding 8: `999 000 0018` validated but matched nothing (404 "not known" for someone
    on the register); spaces and dashes are normalised wherever a number is taken."""
    pid, nhs = demo.person(trust_sent="RV3")
    spaced = f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}"
    dashed = f"{nhs[:3]}-{nhs[3:6]}-{nhs[6:]}"
    for typed in (spaced, dashed):
        found = demo.get("Patient", ADMIN, identifier=f"{NHS}|{typed}").get_json()
        assert [e["resource"]["id"] for e in found.get("entry", [])] == [str(pid)], typed
        answer = demo.get("Patient/$s117-responsibility", ADMIN, identifier=f"{NHS}|{typed}")
        assert answer.status_code == 200, (typed, answer.get_data(as_text=True))
        same = demo.post("Patient", {"resourceType": "Patient", "identifier": [
            {"system": NHS, "value": typed}]}, ADMIN,
            **{"If-None-Exist": f"identifier={NHS}|{typed}"})
        assert same.status_code == 200 and same.get_json()["id"] == str(pid), typed


def test_an_nhs_number_of_one_repeated_digit_is_refused_with_the_reason(demo: Demo):
    """Finding 8: `0000000000` passes the check digit and a Patient was created with it; a
    number of one repeated digit is never issued and is refused saying so."""
    answer = demo.post("Patient", {"resourceType": "Patient", "identifier": [
        {"system": NHS, "value": "0000000000"}]}, ADMIN)
    assert answer.status_code == 422
    assert "all one digit" in _outcome(answer)
    answer = demo.get("Patient", ADMIN, identifier=f"{NHS}|0000000000")
    assert answer.status_code == 400 and "all one digit" in _outcome(answer)
    with demo.db() as db:
        assert db.execute("SELECT count(*) FROM person WHERE nhs_number = '0000000000'"
                          ).fetchone() == (0,)


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has no CSRF token"
    return found.group(1)


def signed_in(app_client: FlaskClient, token_header: dict[str, str]) -> str:
    """Sign in to the pages with a bearer token; returns the session's CSRF token."""
    csrf = _csrf(app_client.get("/sign-in").get_data(as_text=True))
    token = token_header["Authorization"].removeprefix("Bearer ")
    answer = app_client.post("/sign-in", data={"token": token, "csrf_token": csrf})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return _csrf(app_client.get("/").get_data(as_text=True))


def test_the_pages_find_a_person_by_a_number_typed_with_dashes(demo: Demo):
    """Finding 8: the pages' NHS-number search takes `999-000-0018` too, and refuses
    `0000000000` saying why."""
    pid, nhs = demo.person(trust_sent="RV3")
    if browser := demo.client.application.test_client():
        csrf = signed_in(browser, ADMIN)
        answer = browser.post("/search", data={"nhs_number": f"{nhs[:3]}-{nhs[3:6]}-{nhs[6:]}",
                                               "csrf_token": csrf})
        assert answer.status_code == 302 and answer.location.endswith(f"/people/{pid}")
        answer = browser.post("/search", data={"nhs_number": "000 000 0000",
                                               "csrf_token": csrf})
        assert answer.status_code == 400 and "all one digit" in answer.get_data(as_text=True)


# -- finding 11: quarantine keys name who actually sent the message ----------------------------

def trust_message(message_id: str, sender: str, nhs: str, event: str = "admission",
                  code: str = "03") -> dict[str, Any]:
    body = message(message_id, event, nhs, stay(code))
    body["entry"][0]["resource"]["sender"]["identifier"]["value"] = sender
    return body


def test_a_spoofed_message_never_resolves_or_hides_the_genuine_one(demo: Demo):
    """Finding 11: a `$process-message` spoofed as another trust was quarantined under the
    victim trust's message key; when the genuine message arrived, the spoof's entry was
    marked resolved and vanished from the list. It is kept under the real sender."""
    nhs = synthetic(800_011)
    spoof = demo.post("$process-message", trust_message("m-spoof-1", "RLQ", nhs),
                      bearer("RV3", "trust"))
    assert spoof.status_code == 403
    genuine = demo.post("$process-message", trust_message("m-spoof-1", "RLQ", nhs),
                        bearer("RLQ", "trust"))
    assert genuine.status_code == 200, genuine.get_data(as_text=True)
    assert "duplicate" not in json.dumps(genuine.get_json())
    with demo.db() as db:
        rows = db.execute("SELECT message_key, sender, state FROM inbound_message WHERE "
                          "kind = 'http-403' AND message_key LIKE 'fhir:RV3:%'").fetchall()
        assert [(sender, state) for _, sender, state in rows] == [("RV3", "quarantined")]
        assert db.execute("SELECT count(*) FROM inbound_message WHERE message_key = "
                          "'fhir:RLQ:m-spoof-1' AND kind = 'http-403'").fetchone() == (0,)


def test_an_hl7_message_sent_as_another_trust_is_kept_under_its_real_sender(demo: Demo):
    """Finding 11, HL7 v2 over HTTP: the refused message is quarantined under the token's
    trust, so the claimed trust's genuine message with the same MSH-10 is applied and the
    refused one stays in the list."""
    from tests.hl7v2_messages import admission

    nhs = synthetic(800_012)
    spoof = demo.client.post("/hl7v2", data=admission(nhs, "C-SPOOF-1", sender="RLQ"),
                             headers=bearer("RV3", "trust"))
    assert b"MSA|AR" in spoof.data
    genuine = demo.client.post("/hl7v2", data=admission(nhs, "C-SPOOF-1", sender="RLQ"),
                               headers=bearer("RLQ", "trust"))
    assert b"MSA|AA" in genuine.data, genuine.data
    with demo.db() as db:
        kept = db.execute("SELECT sender, state FROM inbound_message WHERE kind = "
                          "'not-authorised' AND message_key LIKE 'hl7v2:RV3:%'").fetchall()
    assert kept == [("RV3", "quarantined")]


# -- finding 5: no outbound request to internal addresses -------------------------------------

OWN_AREA = ["responsible-la=E06000019"]


def test_a_rest_hook_to_an_internal_address_or_over_http_is_refused_at_create(demo: Demo):
    """Finding 5: a council or ICB could point a Subscription rest-hook at 127.0.0.1 or
    169.254.169.254 with any headers. Refused at create (422) naming the endpoint or header;
    nothing is stored."""
    council = bearer("E06000019", "la")
    for endpoint, why in [("http://hooks.example.org/x", "https"),
                          ("https://127.0.0.1:5432/x", "internal address"),
                          ("https://169.254.169.254/latest/meta-data", "internal address"),
                          ("https://[::1]/x", "internal address"),
                          ("https://10.1.2.3/x", "internal address"),
                          ("https://localhost/x", "internal address"),
                          ("https://user:pw@hooks.example.org/x", "user name")]:
        answer = demo.post("Subscription", subscription(endpoint, OWN_AREA), council)
        assert answer.status_code == 422, (endpoint, answer.get_data(as_text=True))
        assert why in _outcome(answer), endpoint
        assert answer.get_json()["issue"][0]["expression"] == ["Subscription.channel.endpoint"]
    answer = demo.post("Subscription", subscription(
        "https://hooks.example.org/x", OWN_AREA, headers=["Metadata-Flavor: Google"]), council)
    assert answer.status_code == 422 and "may not be set" in _outcome(answer)
    with demo.db() as db:
        assert db.execute("SELECT count(*) FROM subscription").fetchone() == (0,)


def _rest_hook(endpoint: str) -> Subscription:
    spec = mapping.from_fhir(subscription(endpoint, ["responsible-la=E06000019"]), utcnow())
    return Subscription("s-1", "active", spec.criteria, "rest-hook", endpoint, (), "id-only",
                        None, None, None, None, {}, 1, utcnow())


def test_each_connection_is_checked_again_so_dns_rebinding_is_refused(monkeypatch):
    """Finding 5: the endpoint is checked again at every connection, on the address actually
    connected to: a name that resolved to a public address when the Subscription was made
    and to 127.0.0.1 now (DNS rebinding) is refused, and nothing reaches the local port.
    There is no rebinding DNS server here, so `socket.getaddrinfo` stands in for one."""
    from tests.outbound_support import Receiver

    real = socket.getaddrinfo
    answers = {"rebind.example.org": "93.184.216.34"}

    def rebinding(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        if host in answers:
            return real(answers[host], port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(endpoints.socket, "getaddrinfo", rebinding)
    allowed = endpoints.AllowList.parse("rebind.example.org-is-not-listed")
    receiver = Receiver().start()
    try:
        url = f"https://rebind.example.org:{receiver.port}/notify"
        endpoints.check(url, allowed)  # at create: a public address, accepted
        answers["rebind.example.org"] = "127.0.0.1"  # ... and now the name is rebound
        outcome = RestHook(2, allowed).send(_rest_hook(url), {"resourceType": "Bundle"},
                                            "handshake", [])
        assert not outcome.delivered
        assert outcome.error and outcome.error.startswith("endpoint-refused:")
        assert receiver.received == []
    finally:
        receiver.stop()


def test_status_reports_a_failure_category_not_the_socket_error():
    """Finding 5: `$status` reported "connection refused" or "HTTP 403", an internal port
    scanner. A failed connection is recorded as a category."""
    local = endpoints.AllowList.parse("127.0.0.1")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    outcome = RestHook(2, local).send(_rest_hook(f"http://127.0.0.1:{port}/x"), {}, "handshake",
                                      [])
    assert outcome.error == "unreachable: no connection could be made to the endpoint"
    refused = RestHook(2).send(_rest_hook(f"http://127.0.0.1:{port}/x"), {}, "handshake", [])
    assert refused.error and refused.error.startswith("endpoint-refused:")


# -- findings 1, 2, 3: the authority of a trust's message --------------------------------------

ATTACKER = "RV3"


def _victim(demo: Demo) -> tuple[int, str, str]:
    """(person id, NHS number, residence council) of someone with an entitlement and stays
    from other trusts only, whose record holds casework."""
    with demo.db() as db:
        for pid, nhs, trusts, residence in db.execute(
                "SELECT p.id, p.nhs_number, p.trusts, e.residence_la FROM person p JOIN "
                "entitlement e ON e.person_id = p.id ORDER BY p.id"):
            if f",{ATTACKER}," not in (trusts or "") and trusts:
                return pid, nhs, residence or ""
    raise AssertionError("the demo has no one outside RV3")


def _entitlements(demo: Demo, pid: int) -> list[tuple[Any, ...]]:
    with demo.db() as db:
        return db.execute("SELECT id, status, responsible_la, responsible_icb, residence_la "
                          "FROM entitlement WHERE person_id = ? ORDER BY id", (pid,)).fetchall()


def _hl7(demo: Demo, message: bytes, trust: str = ATTACKER) -> bytes:
    answer = demo.client.post("/hl7v2", data=message, headers=bearer(trust, "trust"))
    return answer.data


def _held(demo: Demo, control: str) -> tuple[int, str, str]:
    with demo.db() as db:
        found = db.execute("SELECT id, state, reason FROM inbound_message WHERE message_key = ?",
                           (f"hl7v2:{ATTACKER}:{control}",)).fetchone()
    assert found, f"message {control} is not in the quarantine"
    return found


def test_a_trust_cannot_merge_another_trusts_patient_into_its_own(demo: Demo):
    """Finding 1: any trust could merge anyone's record into one of its own patients (A40
    with another trust's patient in MRG-1): answered AA, the victim's entitlement changed
    status and council, and the trust could then read the victim's stays. Now the merge is
    held in the quarantine as needs-review (ACK AE), nothing changes, and an administrator
    can reject it from the quarantine page."""
    from tests.hl7v2_messages import adt

    victim, victim_nhs, _ = _victim(demo)
    _, own_nhs = demo.person(trust_sent=ATTACKER)
    before = _entitlements(demo, victim)
    ack = _hl7(demo, adt("A40", "C-MERGE-1", own_nhs, f"MRG|{victim_nhs}^^^NHS^NH",
                         sender=ATTACKER))
    assert b"MSA|AE" in ack and b"held for an administrator" in ack, ack
    assert _entitlements(demo, victim) == before
    row_id, state, reason = _held(demo, "C-MERGE-1")
    assert state == "quarantined" and "may not merge" in reason
    assert demo.get(f"Patient/{victim}/$everything", bearer(ATTACKER, "trust")).status_code \
        == 403
    if browser := demo.client.application.test_client():
        csrf = signed_in(browser, ADMIN)
        page = browser.get("/quarantine").get_data(as_text=True)
        assert f"/quarantine/{row_id}/review" in page
        browser.post(f"/quarantine/{row_id}/review", data={"decision": "reject",
                                                           "csrf_token": csrf})
    assert _held(demo, "C-MERGE-1")[1] == "rejected"
    assert _entitlements(demo, victim) == before


def test_a_trust_merging_two_of_its_own_patients_is_applied():
    """Finding 1, the other side: a merge of two identities the trust itself sent is its
    own to make (register.authority)."""
    from register import authority
    from register import commands as c
    from register.model import PersonFacts
    from tests.builders import at, stay

    ours = PersonFacts("9990000018", stays=[stay("V-1", "2025-01-10")])
    theirs = PersonFacts("9990000026", stays=[stay("V-2", "2025-01-10")])
    merge = c.MergePatient(command_id="m", nhs_number="9990000018",
                           retired_nhs_number="9990000026",
                           occurred_at=at("2025-02-01"),
                           agent=c.Agent(ours.stays[0].trust_ods, "trust"))
    authority.judge_merge(merge, ours, theirs)  # both sent by this trust: no refusal
    stranger = c.MergePatient(command_id="m", nhs_number="9990000018",
                              retired_nhs_number="9990000026",
                              agent=c.Agent("ZZZ", "trust"))
    with pytest.raises(authority.NeedsReview):
        authority.judge_merge(stranger, ours, theirs)


def test_a_trust_cannot_move_another_trusts_patient_with_a_demographic_update(demo: Demo):
    """Finding 2: any trust could rewrite anyone's date of birth, address and GP (A08 for a
    patient it never sent) although `PUT Patient` is refused; the new address moved the
    person into another council's area and visibility. Now an update from a trust with no
    open or recent stay that would move responsibility or visibility is held for review,
    with the reason, and an administrator can apply it (`s117 quarantine apply`)."""
    from tests.hl7v2_messages import adt

    victim, victim_nhs, residence = _victim(demo)
    elsewhere = "SN1 1AA" if residence != "E06000030" else "HR1 1AA"
    before = _entitlements(demo, victim)
    ack = _hl7(demo, adt("A08", "C-MOVE-1", victim_nhs, sender=ATTACKER, pid={
        1: "1", 3: f"{victim_nhs}^^^NHS^NH", 5: "SMITH^JO", 7: "19800501",
        11: f"1 HIGH ST^^TOWN^^{elsewhere}^GBR^H"}, at="20260101100000"))
    assert b"MSA|AE" in ack and b"held for an administrator" in ack, ack
    assert _entitlements(demo, victim) == before
    _, state, reason = _held(demo, "C-MOVE-1")
    assert state == "quarantined" and "no open or recent stay" in reason
    assert "the council they live in" in reason


def test_an_update_from_the_trust_caring_for_the_person_is_applied(demo: Demo):
    """Finding 2, the other side: the trust with an open stay speaks for the person's
    demographics; its update is applied as its dated assertion, with Provenance."""
    from tests.hl7v2_messages import admission, adt

    nhs = synthetic(800_020)
    assert b"MSA|AA" in _hl7(demo, admission(nhs, "C-OWN-1", sender=ATTACKER))
    ack = _hl7(demo, adt("A08", "C-OWN-2", nhs, sender=ATTACKER, pid={
        1: "1", 3: f"{nhs}^^^NHS^NH", 5: "SMITH^JO", 7: "19800501",
        11: "1 HIGH ST^^TOWN^^SN1 1AA^GBR^H"}, at="20260101100000"))
    assert b"MSA|AA" in ack, ack
    with demo.db() as db:
        assert db.execute("SELECT count(*) FROM provenance WHERE agent_org = ? AND "
                          "command_id LIKE 'hl7v2:RV3:C-OWN-2%'", (ATTACKER,)).fetchone()[0] >= 1


def test_a_fabricated_admission_shows_that_stay_and_who_is_responsible_only(demo: Demo):
    """Finding 3: a fabricated admission (A01) gave a trust full read access to a person's
    whole record, including other trusts' stays. A trust may admit anyone, but then sees
    that stay and who is responsible, never other trusts' stays or the casework."""
    from tests.hl7v2_messages import adt, pv1, zmh

    victim, victim_nhs, _ = _victim(demo)
    # A well-made fabrication: the person's own date of birth (one that changed it would be
    # held for an administrator, which another test proves).
    with demo.db() as db:
        born = db.execute("SELECT birth_date FROM person WHERE id = ?", (victim,)).fetchone()[0]
    pid = {1: "1", 3: f"{victim_nhs}^^^NHS^NH"} | ({7: str(born).replace("-", "")} if born else {})
    assert b"MSA|AA" in _hl7(demo, adt("A01", "C-FAKE-1", victim_nhs, pv1("FAKE-1"),
                                       zmh("3", "20250110100000"), sender=ATTACKER, pid=pid))
    me = bearer(ATTACKER, "trust")
    everything = demo.get(f"Patient/{victim}/$everything", me)
    assert everything.status_code == 200
    kinds = [e["resource"]["resourceType"] for e in everything.get_json()["entry"]]
    stays = [e["resource"] for e in everything.get_json()["entry"]
             if e["resource"]["resourceType"] == "Encounter"]
    assert stays and all(ATTACKER in json.dumps(s["serviceProvider"]) for s in stays)
    assert "EpisodeOfCare" in kinds
    searched = demo.get("Encounter", me, patient=f"Patient/{victim}").get_json()
    assert searched["total"] == len(stays)
    admin_view = demo.get("Encounter", ADMIN, patient=f"Patient/{victim}").get_json()
    assert admin_view["total"] > len(stays), "the victim's other stays are hidden from RV3"
    for kind in ("CarePlan", "Task", "Flag"):
        assert demo.get(kind, me, patient=f"Patient/{victim}").get_json()["total"] == 0, kind
    other = next(e["resource"]["id"] for e in admin_view["entry"]
                 if ATTACKER not in json.dumps(e["resource"].get("serviceProvider")))
    assert demo.get(f"Encounter/{other}", me).status_code == 403


def test_the_same_rules_hold_for_fhir_messages_and_an_admin_applies_from_the_cli(demo: Demo):
    """Findings 1 and 2 over `$process-message`: a FHIR merge naming another trust's
    patient is held (422, kept as needs-review); `s117 quarantine apply` then applies it as
    the administrator's decision."""
    victim, victim_nhs, _ = _victim(demo)
    own = synthetic(800_030)
    assert demo.post("$process-message", trust_message("m-own-30", ATTACKER, own),
                     bearer(ATTACKER, "trust")).status_code == 200
    merge = trust_message("m-merge-30", ATTACKER, own, event="merge")
    merge["entry"] = merge["entry"][:2]
    merge["entry"][1]["resource"]["link"] = [{"type": "replaces", "other": {
        "identifier": {"system": NHS, "value": victim_nhs}}}]
    held = demo.post("$process-message", merge, bearer(ATTACKER, "trust"))
    assert held.status_code == 422 and "may not merge" in _outcome(held)
    with demo.db() as db:
        row_id, kind = db.execute("SELECT id, kind FROM inbound_message WHERE message_key = "
                                  "'fhir:RV3:m-merge-30'").fetchone()
    assert kind == "needs-review"
    env = {**demo.env, "S117_DATABASE_URL": f"sqlite:///{demo.db_path}"}
    applied = run("quarantine", "apply", str(row_id), cwd=demo.db_path.parent, env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "applied" in applied.stdout
    with demo.db() as db:
        assert db.execute("SELECT state FROM inbound_message WHERE id = ?", (row_id,)
                          ).fetchone() == ("resolved",)
        assert db.execute("SELECT merged_into FROM person WHERE id = ?", (victim,)
                          ).fetchone() == (own,)


# -- finding 4: a create does not disclose whether the person exists ---------------------------

def test_a_create_hitting_someone_the_caller_cannot_see_names_no_record(demo: Demo):
    """Finding 4: `POST /fhir/Patient` with an NHS number already on the register answered
    409 naming the existing Patient id (and 403 naming it with If-None-Exist), an existence
    oracle. Every create path (plain, conditional, in a batch and a transaction) now
    answers 403 naming no record."""
    victim, victim_nhs, _ = _victim(demo)
    me = bearer("R0A", "trust")  # a trust that sent none of the demo's stays
    body = {"resourceType": "Patient", "identifier": [{"system": NHS, "value": victim_nhs}]}
    answers = [demo.post("Patient", body, me),
               demo.post("Patient", body, me, **{"If-None-Exist": f"identifier={NHS}|"
                                                                   f"{victim_nhs}"})]
    for answer in answers:
        assert answer.status_code == 403, answer.get_data(as_text=True)
        assert "Patient/" not in _outcome(answer) and "already" not in _outcome(answer)
    for kind in ("batch", "transaction"):
        bundle = {"resourceType": "Bundle", "type": kind, "entry": [{
            "fullUrl": "urn:uuid:0b3e1c2a-1f2e-4b4c-9d3a-1a2b3c4d5e6f", "resource": body,
            "request": {"method": "POST", "url": "Patient",
                        "ifNoneExist": f"identifier={NHS}|{victim_nhs}"}}]}
        answer = demo.post("", bundle, me)
        text = answer.get_data(as_text=True)
        assert f"Patient/{victim}" not in text and "already" not in text, (kind, text)
        assert answer.status_code == 403 or '"403' in text, (kind, text)


# -- finding 6: the audit trail names whom each request was about ------------------------------

def _audited_about(demo: Demo, pid: int) -> dict[str, dict[str, Any]]:
    """The AuditEvents naming this person, by request id."""
    found = demo.get("AuditEvent", ADMIN, patient=f"Patient/{pid}", _count="1000").get_json()
    out = {}
    for e in found.get("entry", []):
        event = e["resource"]
        ids = [x["what"]["identifier"]["value"] for x in event.get("entity", [])
               if (x.get("what") or {}).get("identifier")]
        for ident in ids:
            out[ident] = event
    return out


def test_every_attempt_on_a_person_is_found_by_audit_event_patient(demo: Demo):
    """Finding 6: refused reads of EpisodeOfCare, Task and Flag did not name the patient
    (`AuditEvent?patient=` missed 458 of 568 refused attempts), a batch whose entries were
    all refused was logged as a success with no target, and `$s117-responsibility` by POST
    and the pages' NHS-number search recorded no subject. Each names the person now (by
    the register's id, never the NHS number), allowed or refused."""
    victim, victim_nhs, _ = _victim(demo)
    council = {}
    with demo.db() as db:
        ent = db.execute("SELECT id, responsible_la FROM entitlement WHERE person_id = ?",
                         (victim,)).fetchone()
    outsider = "E10000013" if ent[1] != "E10000013" else "E06000030"
    council = bearer(outsider, "la")
    tasks = demo.get("Task", ADMIN, patient=f"Patient/{victim}").get_json().get("entry", [])
    attempts = {"read-eoc": f"EpisodeOfCare/{ent[0]}", "read-encounter": None}
    sent: dict[str, int] = {}
    for rid, path in attempts.items():
        if path:
            sent[rid] = demo.client.get(f"/fhir/{path}", headers={
                **council, "X-Request-ID": rid}).status_code
    if tasks:
        sent["read-task"] = demo.client.get(f"/fhir/Task/{tasks[0]['resource']['id']}",
                                            headers={**council, "X-Request-ID": "read-task"}
                                            ).status_code
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": f"EpisodeOfCare/{ent[0]}"}},
        {"request": {"method": "GET", "url": f"Patient/{victim}"}}]}
    sent["batch"] = demo.client.post("/fhir", data=json.dumps(batch), headers={
        **council, **FHIR_JSON, "X-Request-ID": "batch"}).status_code
    sent["responsibility"] = demo.client.post(
        "/fhir/Patient/$s117-responsibility", data=json.dumps({
            "resourceType": "Parameters", "parameter": [{"name": "identifier",
                                                         "valueIdentifier": {
                                                             "system": NHS,
                                                             "value": victim_nhs}}]}),
        headers={**council, **FHIR_JSON, "X-Request-ID": "responsibility"}).status_code
    if browser := demo.client.application.test_client():
        csrf = signed_in(browser, ADMIN)
        sent["page-search"] = browser.post("/search", data={
            "nhs_number": victim_nhs, "csrf_token": csrf},
            headers={"X-Request-ID": "page-search"}).status_code
    assert sent["read-eoc"] == 403 and sent["batch"] == 200
    about = _audited_about(demo, victim)
    missing = sorted(set(sent) - set(about))
    assert not missing, f"not found by AuditEvent?patient=: {missing}"
    batch_event = about["batch"]
    assert batch_event["outcome"] == "4" or "2 of 2 entries refused" in json.dumps(batch_event)
    assert victim_nhs not in json.dumps([about[k].get("entity") for k in about])


def test_refused_attempts_are_reported_by_organisation(demo: Demo):
    """Finding 6: a report of refused attempts by organisation (`s117 audit refused`)."""
    from tests.e2e.test_cli import run

    victim, _, _ = _victim(demo)
    for _ in range(3):
        demo.get(f"Patient/{victim}", bearer("R9Z", "trust"))
    demo.get("AuditEvent", ADMIN)  # waits for this worker's audit queue
    env = {**demo.env, "S117_DATABASE_URL": f"sqlite:///{demo.db_path}"}
    shown = run("audit", "refused", cwd=demo.db_path.parent, env=env)
    assert shown.returncode == 0, shown.stderr
    line = next(ln for ln in shown.stdout.splitlines() if "R9Z" in ln)
    assert " 3 " in line and "trust" in line


# -- finding 9: rate limits before authentication, and aggregated audit of failures -----------

def test_requests_without_a_valid_token_are_limited_by_address_and_audited_in_bursts(
        demo: Demo):
    """Finding 9: requests with a bad or missing token were never rate limited, and each
    wrote a permanent audit row. Beyond `S117_AUTH_FAILURE_LIMIT` an address is answered
    429 before its token counts, a valid token is not held back by it, and the burst is one
    audit row ("and N more") instead of one per request."""
    env = {**demo.env, "S117_AUTH_FAILURE_LIMIT": "5/minute"}
    app = create_app(config.from_env(env))
    client = app.test_client()
    codes = []
    for i in range(12):
        answer = client.get("/fhir/Patient", headers={"Authorization": "Bearer forged",
                                                      "X-Request-ID": f"flood-{i}"},
                            environ_base={"REMOTE_ADDR": "192.0.2.9"})
        codes.append(answer.status_code)
    assert codes == [401] * 5 + [429] * 7
    assert int(answer.headers["Retry-After"]) >= 1
    good = client.get("/fhir/EpisodeOfCare", headers=ADMIN, environ_base={"REMOTE_ADDR":
                                                                    "192.0.2.9"})
    assert good.status_code == 200, "a valid token is not held back by the failure budget"
    app.extensions["s117.audit.failures"].flush_all()
    client.get("/fhir/AuditEvent", headers=ADMIN)  # waits for the audit queue
    with demo.db() as db:
        rows = db.execute("SELECT request_id, status, detail FROM audit_event WHERE "
                          "client_address = '192.0.2.9' AND status IN (401, 429)").fetchall()
    assert len(rows) == 7, rows  # 5 refusals, the first 429, and one row for the other 6
    assert any(r[0] == "aggregated" and "and 6 more" in (r[2] or "") for r in rows)


# -- finding 10: server-side sessions for the pages --------------------------------------------

def _cookie(browser: FlaskClient) -> str:
    found = browser.get_cookie("s117_session")
    assert found is not None
    return found.value


def test_the_session_cookie_is_a_random_id_that_ends_at_sign_out(demo: Demo):
    """Finding 10: the pages' session cookie carried the raw API bearer token (signed, not
    encrypted) and still worked after sign-out. It holds a random id now; who signed in is
    kept on the server, and signing out deletes it, so a copy of the cookie is worthless."""
    header = bearer("E06000019", "la")
    browser = demo.client.application.test_client()
    csrf = signed_in(browser, header)
    cookie = _cookie(browser)
    token = header["Authorization"].removeprefix("Bearer ")
    assert token not in cookie and "." not in cookie and len(cookie) >= 40
    thief = demo.client.application.test_client()
    thief.set_cookie("s117_session", cookie)
    assert thief.get("/panel").status_code == 200, "the same cookie is the same session"
    browser.post("/sign-out", data={"csrf_token": csrf})
    again = thief.get("/panel")
    assert again.status_code == 302 and "/sign-in" in again.location
    with demo.db() as db:
        digests = {r[0] for r in db.execute("SELECT id_digest FROM page_session")}
    assert hashlib.sha256(cookie.encode()).hexdigest() not in digests


def test_a_session_ends_when_its_token_expires(demo: Demo):
    """Finding 10: the session ends with the token it was made from."""
    header = bearer("E06000019", "la", minutes=0.05)  # three seconds
    browser = demo.client.application.test_client()
    signed_in(browser, header)
    assert browser.get("/panel").status_code == 200
    time.sleep(3.5)
    ended = browser.get("/panel")
    assert ended.status_code == 302 and unquote(ended.location).startswith("/sign-in")


def test_a_read_reads_the_entitlement_once_and_its_audit_still_names_the_person(demo: Demo):
    """Issue 22: the handler read the entitlement for the resource and the audit record read
    it again for whose it was. Once per read request now, and the record still names the
    person, allowed or refused."""
    from sqlalchemy import event

    victim, _, _ = _victim(demo)
    with demo.db() as db:
        ent, council = db.execute("SELECT id, responsible_la FROM entitlement WHERE "
                                  "person_id = ?", (victim,)).fetchone()
    outsider = "E10000013" if council != "E10000013" else "E06000030"
    engine = demo.client.application.extensions["s117"].engine
    reads: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if re.search(r"FROM entitlement\b", statement):
            reads.append(statement)
    event.listen(engine, "before_cursor_execute", count)
    try:
        answers = {who: demo.get(f"EpisodeOfCare/{ent}", bearer(who, "la")).status_code
                   for who in (council, outsider)}
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert answers == {council: 200, outsider: 403}
    assert len(reads) == 2, reads  # one a request
    audited = demo.get("AuditEvent", ADMIN, patient=f"Patient/{victim}", _count="1000"
                       ).get_json()
    outcomes = {who: event["outcome"] for event in (e["resource"] for e in audited["entry"])
                if event["source"]["site"] == f"/fhir/EpisodeOfCare/{ent}"
                for who in (council, outsider) if who in json.dumps(event["agent"])}
    assert outcomes == {council: "0", outsider: "4"}
