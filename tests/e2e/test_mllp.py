"""HL7 v2 as a trust engineer sends it (issue 4 "Done when" and "Bad input"): the real
`mllp_send` client (PyPI `hl7`) against `s117 mllp` with `s117 worker` in networked mode
(PostgreSQL, RabbitMQ), and against `s117 serve` alone in embedded mode (MLLP and
POST /hl7v2)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import hl7
import pytest
import requests
from sqlalchemy import text

from register.nhs_number import synthetic
from tests.auth_support import bearer, checked_env
from tests.conftest import empty_register, prepared_engine
from tests.e2e.test_cli import run
from tests.hl7v2_messages import EB, SB, admission, adt, discharge, framed, pv1, seg
from tests.integration.test_inbound_rabbitmq import purge
from tests.processes import Service, ack_code, free_port, wait_for

MLLP_SEND = shutil.which("mllp_send") or str(Path(sys.executable).parent / "mllp_send")


def mllp_send(port: int, *messages: bytes, tmp: Path) -> list[bytes]:
    """`mllp_send --loose -f FILE` as the README tells a trust engineer; its answers."""
    path = tmp / f"send-{time.monotonic_ns()}.hl7"
    # A file as people keep them: one segment per line.
    path.write_bytes(b"\n".join(m.replace(b"\r", b"\n") for m in messages))
    done = subprocess.run([MLLP_SEND, "--loose", "-p", str(port), "-f", str(path),
                           "127.0.0.1"], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [a for a in done.stdout.split(b"\n") if a.startswith(b"\x0bMSH")]


def err_text(answer: bytes) -> str:
    return str(hl7.parse(answer.strip(b"\x0b\x1c\r").decode()).segment("ERR")[8])


class Networked:
    def __init__(self, postgresql_url: str, amqp_url: str, tmp: Path) -> None:
        self.engine = prepared_engine(postgresql_url)
        empty_register(self.engine)
        purge(amqp_url)
        self.tmp = tmp
        self.profiles = tmp / "profiles"
        self.profiles.mkdir()
        self.env = checked_env(S117_DATABASE_URL=postgresql_url, S117_AMQP_URL=amqp_url,
                               S117_TRUST_PROFILES=str(self.profiles),
                               S117_MLLP_MAX_BYTES=str(4 * 1024 * 1024))
        self.port = free_port()
        self.mllp = Service(["mllp", "--port", str(self.port)], self.env, tmp, "mllp").start()
        self.worker = Service(["worker"], self.env, tmp, "worker").start()
        self.mllp.wait_output("listening", 60)
        self.worker.wait_output("consuming", 60)

    def s117(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run(*args, cwd=self.tmp, env=self.env)

    def responsibility(self, nhs: str) -> dict:
        result = self.s117("responsibility", nhs, "--json")
        return json.loads(result.stdout) if result.returncode == 0 else {}


@pytest.fixture(scope="module")
def net(postgresql_url: str, amqp_url: str,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Networked]:
    found = Networked(postgresql_url, amqp_url, tmp_path_factory.mktemp("mllp"))
    yield found
    found.mllp.stop()
    found.worker.stop()


@pytest.mark.rabbitmq
@pytest.mark.postgres
def test_done_when_a01_zmh_s3_and_a03_over_mllp_make_an_entitlement(net: Networked) -> None:
    nhs = synthetic(8000)
    answers = mllp_send(net.port, admission(nhs, "DW-1", code="3"), discharge(nhs, "DW-2"),
                        tmp=net.tmp)
    assert [ack_code(a) for a in answers] == ["AA", "AA"]
    answer = wait_for(lambda: net.responsibility(nhs).get("status") == "active"
                      and net.responsibility(nhs), 30, "the entitlement")
    assert answer["entitled"] is True
    assert answer["local_authority"] == "E06000019"
    assert {"E1", "L1"} <= {step["rule_id"] for step in answer["basis"]}


@pytest.mark.rabbitmq
@pytest.mark.postgres
def test_done_when_a_bad_message_is_ae_quarantined_and_replayed_after_a_fix(
        net: Networked) -> None:
    nhs = synthetic(8001)
    bad = admission(nhs, "LOCAL-1", code="S3", sender="RX8")  # a local code, not yet mapped
    [answer] = mllp_send(net.port, bad, tmp=net.tmp)
    assert ack_code(answer) == "AE"
    assert "legal status code 'S3' is not a Mental Health Act" in err_text(answer)
    assert b"ERR|ZMH^1^1^103" in answer

    listed = wait_for(lambda: "RX8" in (out := net.s117("quarantine", "list").stdout) and out,
                      30, "the quarantine row")
    assert "unknown-legal-status" in listed
    row_id = next(line.split()[1] for line in listed.splitlines()
                  if "RX8" in line and line.split()[1].isdigit())
    shown = net.s117("quarantine", "show", row_id)
    assert shown.returncode == 0 and "LOCAL-1" in shown.stdout and "ZMH|S3|" in shown.stdout
    assert net.responsibility(nhs) == {}

    (net.profiles / "rx8.yaml").write_text(
        "name: RX8 local codes\nsenders: [RX8]\nlegal_status:\n  codes: {S3: '03'}\n")
    assert net.s117("mappings", "check", str(net.profiles / "rx8.yaml")).returncode == 0
    replayed = net.s117("quarantine", "replay", row_id)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "published" in replayed.stdout
    wait_for(lambda: net.responsibility(nhs).get("status") == "planned", 30,
             "the replayed admission")
    resolved = net.s117("quarantine", "list", "--state", "resolved").stdout
    assert "RX8" in resolved
    # Replaying again does nothing, and a re-send is a duplicate: applied once.
    assert "nothing to replay" in net.s117("quarantine", "replay", row_id).stdout
    assert [ack_code(a) for a in mllp_send(net.port, bad, tmp=net.tmp)] == ["AA"]


BAD_INPUTS = {
    "garbage bytes": (framed(bytes(range(0x80, 0xff)) * 4), "AR", "not-text"),
    "no frame": (b"MSH|^~\\&|PAS|RLQ|||2025||ADT^A01|NF|P|2.4\r" + EB + b"\r", "AR",
                 "stray-bytes"),
    "broken frame": (SB + b"MSH|^~\\&|PAS|RLQ|||20250110||ADT^A01|BR-1|P|2.4\rPID|1",
                     "AR", "broken-frame"),
    "50 MB message": (framed(adt("A01", "BIG-1", synthetic(8002), pv1("V"),
                                 seg("NTE", {1: "1", 3: "x" * (50 * 1024 * 1024)}))),
                      "AR", "too-large"),
    "no PID": (framed(adt("A01", "NOPID-1", None, pv1("V"))), "AE", "missing-segment"),
    "invalid NHS number": (framed(admission("9990000019", "BADNHS-1")), "AE",
                           "invalid-nhs-number"),
    "unknown event": (framed(adt("A99", "EVT-1", synthetic(8003), pv1("V"))), "AR",
                      "unsupported-event"),
    "wrong encoding characters": (framed(admission(synthetic(8004), "ENC-1").replace(
        b"^~\\&", b"^~&\\", 1)), "AR", "encoding-characters"),
}


class Answers:
    """Reads framed answers one at a time from a connection."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buffer = sock, b""

    def next(self) -> bytes:
        while EB + b"\r" not in self.buffer:
            chunk = self.sock.recv(65536)
            assert chunk, "the listener closed the connection"
            self.buffer += chunk
        answer, self.buffer = self.buffer.split(EB + b"\r", 1)
        return answer + EB + b"\r"


@pytest.mark.rabbitmq
@pytest.mark.postgres
def test_bad_input_is_answered_quarantined_and_the_connection_stays_usable(
        net: Networked) -> None:
    with socket.create_connection(("127.0.0.1", net.port), timeout=60) as sock:
        answers = Answers(sock)
        for n, (name, (data, code, _kind)) in enumerate(BAD_INPUTS.items()):
            # The bad input, then a good message on the same connection. (A broken frame or
            # stray bytes show themselves when the next frame starts.)
            good = admission(synthetic(8100 + n), f"GOOD-{n}")
            sock.sendall(data + framed(good))
            answer = answers.next()
            assert ack_code(answer) == code, (name, answer)
            assert len(err_text(answer)) > 20, (name, answer)  # a reason in words
            assert ack_code(answers.next()) == "AA", name
    assert net.mllp.running and net.worker.running
    listed = wait_for(lambda: all(k in (out := net.s117("quarantine", "list", "--limit",
                                                        "1000").stdout)
                                  for _, _, k in BAD_INPUTS.values()) and out,
                      60, "every bad input in quarantine")
    assert "too-large" in listed
    big = next(line for line in listed.splitlines() if "too-large" in line)
    shown = net.s117("quarantine", "show", big.split()[1]).stdout
    assert "52,4" in shown and "first 65,536 kept" in shown


def test_embedded_serve_alone_takes_hl7v2_over_mllp_and_http(tmp_path: Path) -> None:
    http_port, mllp_port = free_port(), free_port()
    server = Service(["serve", "--port", str(http_port), "--mllp-port", str(mllp_port)],
                     {}, tmp_path, "serve").start()
    try:
        # Until HTTP answers: the MLLP listener says "listening on" first (serve starts HTTP
        # once its listener accepts), and a stop before then is not a clean one.
        def answering() -> bool:
            try:
                return requests.get(f"http://127.0.0.1:{http_port}/healthz", timeout=2).ok
            except requests.ConnectionError:
                return False
        wait_for(answering, 60, "s117 serve to answer over HTTP")
        nhs = synthetic(8200)
        answers = mllp_send(mllp_port, admission(nhs, "EMB-1"), tmp=tmp_path)
        assert [ack_code(a) for a in answers] == ["AA"]
        over_http = requests.post(f"http://127.0.0.1:{http_port}/hl7v2",
                                  data=discharge(nhs, "EMB-2"), timeout=30,
                                  headers={"Content-Type": "x-application/hl7-v2+er7"})
        assert over_http.status_code == 200 and ack_code(over_http.content) == "AA"
        assert over_http.headers["Content-Type"].startswith("x-application/hl7-v2+er7")
        answer = json.loads(run("responsibility", nhs, "--json", cwd=tmp_path).stdout)
        assert answer["status"] == "active"  # applied before the AA: embedded mode

        garbage = requests.post(f"http://127.0.0.1:{http_port}/hl7v2", data=b"\x00\x01junk",
                                timeout=30)
        assert garbage.status_code == 400 and ack_code(garbage.content) == "AR"
        bad = requests.post(f"http://127.0.0.1:{http_port}/hl7v2", timeout=30,
                            data=admission("9990000019", "EMB-3"))
        assert bad.status_code == 200 and ack_code(bad.content) == "AE"
        listed = run("quarantine", "list", cwd=tmp_path).stdout
        assert "invalid-nhs-number" in listed and "not-hl7" in listed
        health = requests.get(f"http://127.0.0.1:{http_port}/healthz", timeout=10).json()
        assert health["bus"] == "in-process"
    finally:
        assert server.stop() == 0
    # The MLLP listener went with the server.
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", mllp_port)) != 0
    assert os.path.exists(tmp_path / "s117.db")


@pytest.mark.rabbitmq
@pytest.mark.postgres
def test_process_message_in_networked_mode_is_accepted_then_applied_by_the_worker(
        net: Networked) -> None:
    from tests.integration.test_inbound_processing import fhir_message

    port = free_port()
    server = Service(["serve", "--port", str(port)], net.env, net.tmp, "serve-networked")
    server.start()
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: server.running and requests.get(f"{base}/healthz", timeout=2).ok
                 if "Booting worker" in server.output() else False, 60, "s117 serve")
        nhs = synthetic(8300)
        headers = {"Content-Type": "application/fhir+json", **bearer("RLQ", "trust")}
        accepted = requests.post(f"{base}/fhir/$process-message", headers=headers,
                                 data=fhir_message("NET-1", nhs), timeout=30)
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["issue"][0]["severity"] == "information"
        wait_for(lambda: net.responsibility(nhs).get("status") == "planned", 30,
                 "the worker to apply the FHIR message")
        refused = requests.post(f"{base}/fhir/$process-message", headers=headers,
                                data=fhir_message("NET-2", synthetic(8301), code="77"),
                                timeout=30)
        assert refused.status_code == 400
        assert "legal status" in refused.json()["issue"][0]["diagnostics"]
        listed = wait_for(lambda: "fhir:RLQ:NET-2" in (out := net.s117(
            "quarantine", "list", "--limit", "1000").stdout) or ("http-400" in out and out),
            30, "the refused FHIR message in quarantine")
        assert "http-400" in listed
    finally:
        server.stop()


@pytest.mark.rabbitmq
@pytest.mark.postgres
def test_every_message_is_audited_off_the_ack_path_and_none_is_lost_at_shutdown(
        net: Networked) -> None:
    """The listener answers before its audit record is written (issue 22) and writes the
    records a few at a time: each message still gets exactly one, with its outcome, and a
    listener told to stop writes those it holds before it exits."""
    port = free_port()
    listener = Service(["mllp", "--port", str(port)], net.env, net.tmp, "mllp-audit").start()
    listener.wait_output("listening", 60)
    good = [f"AUD-{n}-{time.monotonic_ns()}" for n in range(12)]
    bad = f"AUD-BAD-{time.monotonic_ns()}"
    frames = [framed(admission(synthetic(8400 + n), c)) for n, c in enumerate(good)]
    frames.insert(5, framed(admission("9990000019", bad)))  # an invalid NHS number: AE
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(b"".join(frames))  # all at once: answered one by one, in order
        answers = Answers(sock)
        codes = [ack_code(answers.next()) for _ in frames]
    assert codes == ["AA"] * 5 + ["AE"] + ["AA"] * 7
    assert listener.stop() == 0  # at once: whatever the writer still held is written now
    with net.engine.connect() as db:
        rows = db.execute(text(
            "SELECT n.reference, e.outcome FROM audit_event e JOIN audit_entity n "
            "ON n.audit_id = e.id WHERE e.channel = 'mllp' AND n.role = 'message' "
            "AND n.reference LIKE 'hl7v2:RLQ:AUD-%'")).all()
    outcomes = {reference.split(":")[2]: outcome for reference, outcome in rows}
    assert len(rows) == len(frames), "one audit record per message, none twice"
    assert outcomes == {**{c: "0" for c in good}, bad: "4"}
