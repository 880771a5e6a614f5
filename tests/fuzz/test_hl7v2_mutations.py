"""Mutated HL7 v2 ADT and random bytes (issue 9 "Fuzzing", issue 4 "Bad input"): valid
admissions and discharges with segments dropped, duplicated or swapped, fields emptied,
retyped, lengthened or filled with delimiters and non-ASCII text, the header damaged, and
bytes that are no message at all; against the decoder and ACK builder in process, and
through a live `s117 mllp` listener, one connection for the whole run. Every message is
answered with an ACK, never a crash or a hang; every AE/AR carries an ERR segment that says
what is wrong; the listener keeps running and keeps answering good messages."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import hl7
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter import config
from mappings.hl7v2.ack import ack
from queues.inbound.decoders import Hl7v2Decoder
from queues.inbound.trust_profiles import Profiles
from register.nhs_number import synthetic
from tests.e2e.test_cli import S117, free_port, run
from tests.fuzz.conftest import EXAMPLES
from tests.hl7v2_messages import CR, EB, SB, admission, discharge
from tests.processes import port_open, wait_for

SEEDS = [admission(synthetic(7100), "FZ-1"), discharge(synthetic(7100), "FZ-2"),
         admission(synthetic(7101), "FZ-3", code="37")]
NASTY = ["", "|", "^", "~", "\\", "&", "^^^^", "||||", "é√∂ü", "\x00", "\x1b[31m",
         "9" * 10, "9999999999", "1" * 5000, "20251301250000", "-1", "NaN", "ZZZ"]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A seed message with a few mutations at segment, field or byte level."""
    segments = [s.split("|") for s in draw(st.sampled_from(SEEDS)).decode().split("\r") if s]
    for _ in range(draw(st.integers(1, 4))):
        what = draw(st.sampled_from(["drop-seg", "dup-seg", "swap-seg", "field", "drop-field",
                                     "event", "bytes"]))
        i = draw(st.integers(0, len(segments) - 1))
        if what == "drop-seg" and len(segments) > 1:
            segments.pop(i)
        elif what == "dup-seg":
            segments.insert(i, list(segments[i]))
        elif what == "swap-seg":
            j = draw(st.integers(0, len(segments) - 1))
            segments[i], segments[j] = segments[j], segments[i]
        elif what in ("field", "drop-field") and len(segments[i]) > 1:
            k = draw(st.integers(1, len(segments[i]) - 1))
            if what == "drop-field":
                segments[i].pop(k)
            else:
                segments[i][k] = draw(st.one_of(st.sampled_from(NASTY), st.text(max_size=30)))
        elif what == "event" and segments[0][0] == "MSH" and len(segments[0]) > 8:
            segments[0][8] = draw(st.sampled_from(["ADT^A99", "ORU^R01", "ADT", "^", "",
                                                   "ADT^A40^ADT_A39", "ADT^A01^ADT_A01"]))
    raw = "\r".join("|".join(s) for s in segments).encode("utf-8", "surrogatepass") + CR
    if draw(st.booleans()):
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(max_size=8)) + raw[at:]
    return raw


def _err_text(reply: bytes) -> str:
    parsed = hl7.parse(reply.decode("utf-8", "replace"))
    return " ".join(str(seg) for seg in parsed if str(seg[0]) == "ERR")


@pytest.fixture(scope="module")
def decoder() -> Hl7v2Decoder:
    return Hl7v2Decoder(Profiles(config.from_env({}).trust_profiles))


@settings(max_examples=EXAMPLES * 8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.one_of(mutated(), st.binary(max_size=300)))
def test_the_decoder_answers_every_mutation_with_an_ack_and_a_reason(decoder: Hl7v2Decoder,
                                                                     raw: bytes) -> None:
    message, decoded, problem = decoder.examine(raw)
    assert (decoded is None) != (problem is None), "either commands or a reason"
    if problem is not None:
        assert problem.reason.strip(), "a refusal says why"
        reply = ack(message, problem.ack, problem, raw)
        assert problem.ack in ("AE", "AR")
        assert f"MSA|{problem.ack}".encode() in reply
        assert _err_text(reply).strip(), "the ERR segment carries the reason"
    else:
        assert decoded is not None and decoded.commands


@pytest.fixture(scope="module")
def listener(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    path = tmp_path_factory.mktemp("mllp-fuzz")
    assert run("demo", "--people", "5", cwd=path).returncode == 0
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("S117_")}
    with (path / "mllp.log").open("w") as log:
        process = subprocess.Popen([S117, "mllp", "--port", str(port)], cwd=path, env=environ,
                                   stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: port_open(port), 60, "s117 mllp")
        yield port, path
    finally:
        process.terminate()
        process.wait(timeout=30)
        assert process.returncode in (0, -15), (path / "mllp.log").read_text()[-2000:]


class Connection:
    """One MLLP connection, as an integration engine keeps open."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buffer = b""

    def send(self, raw: bytes) -> bytes:
        self.sock.sendall(SB + raw.replace(SB, b"").replace(EB, b"") + EB + CR)
        while EB + CR not in self.buffer:
            chunk = self.sock.recv(65536)
            assert chunk, "the listener closed the connection"
            self.buffer += chunk
        reply, _, self.buffer = self.buffer.partition(EB + CR)
        assert reply.startswith(SB)
        return reply[1:]


@pytest.fixture(scope="module")
def connection(listener: tuple[int, Path]) -> Iterator[Connection]:
    made = Connection(listener[0])
    yield made
    made.sock.close()


@settings(max_examples=EXAMPLES * 4, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.one_of(mutated(), st.binary(min_size=1, max_size=300)))
def test_the_live_listener_answers_every_mutation_on_one_connection(connection: Connection,
                                                                    raw: bytes) -> None:
    reply = connection.send(raw)
    code = next((str(seg[1]) for seg in hl7.parse(reply.decode("utf-8", "replace"))
                 if str(seg[0]) == "MSA"), None)
    assert code in ("AA", "AE", "AR"), reply[:200]
    if code != "AA":
        assert _err_text(reply).strip(), "AE/AR carries an ERR segment with the reason"


def test_after_the_fuzzing_a_good_message_is_still_taken(connection: Connection,
                                                          listener: tuple[int, Path]) -> None:
    reply = connection.send(admission(synthetic(7150), "FZ-AFTER", visit="V-FZ-AFTER"))
    assert b"MSA|AA|FZ-AFTER" in reply
    listed = run("quarantine", "list", "--limit", "5000", cwd=listener[1])
    assert listed.returncode == 0, "every refused message is in quarantine, listable"
