"""The answer a transport gives when the message cannot be made durable (issue 4, Build 2:
AA only once durable): with no broker reachable, AR with error 207, "send it again", and
nothing is kept. Uses a real AmqpBus against a port where nothing listens."""

from __future__ import annotations

import socket

import hl7

from adapter import config
from adapter.intake.hl7v2 import Hl7Intake
from queues.inbound.bus import AmqpBus, Inbound
from queues.inbound.decoders import Decoders
from register.nhs_number import synthetic
from tests.hl7v2_messages import admission


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens


def test_no_broker_means_ar_207_and_send_again() -> None:
    url = f"amqp://guest:guest@127.0.0.1:{closed_port()}/"
    settings = config.from_env({"S117_AMQP_URL": url})
    bus = AmqpBus(url, "test", give_up_after=0.5)
    intake = Hl7Intake(Inbound(Decoders(), bus), settings.mllp_max_bytes)
    answer = intake.receive(admission(synthetic(4400), "DOWN-1"))
    bus.close()
    assert answer.code == "AR" and answer.problem is not None
    assert answer.problem.code == 207 and answer.problem.kind == "unavailable"
    reply = hl7.parse(answer.ack.decode())
    assert str(reply.segment("MSA")[2]) == "DOWN-1"
    assert "send it again" in str(reply.segment("ERR")[8])
