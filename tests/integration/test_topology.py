"""The RabbitMQ topology on the real broker: what `s117 queues declare` creates routes each
person's messages to one partition queue, dead-letters rejected ones, and matches the
committed definitions file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pika
import pytest

from queues import topology
from queues.connection import backoff, connect

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.rabbitmq


@pytest.fixture
def channel(amqp_url: str) -> Iterator[pika.adapters.blocking_connection.BlockingChannel]:
    connection = connect(amqp_url, "topology test", give_up_after=10)
    channel = connection.channel()
    topology.declare(channel)
    for i in range(topology.PARTITIONS):
        channel.queue_purge(topology.partition_queue(i))
    channel.queue_purge(topology.DEAD)
    yield channel
    connection.close()


def test_the_committed_definitions_file_is_what_declare_creates() -> None:
    committed = json.loads((ROOT / "queues" / "definitions.json").read_text(encoding="utf-8"))
    assert committed == topology.definitions()


def test_partition_is_stable_and_spreads_people() -> None:
    numbers = [f"999{i:07d}" for i in range(4000)]
    assert [topology.partition_of(n) for n in numbers[:5]] == \
        [topology.partition_of(n) for n in numbers[:5]]
    counts = [0] * topology.PARTITIONS
    for n in numbers:
        counts[topology.partition_of(n)] += 1
    assert min(counts) > 4000 / topology.PARTITIONS * 0.8


def test_a_message_reaches_exactly_its_partition_queue(channel) -> None:  # type: ignore[no-untyped-def]
    channel.confirm_delivery()
    target = topology.partition_of("9990000018")
    channel.basic_publish(topology.INBOUND, "hl7v2.RX1", b"MSH|...",
                          pika.BasicProperties(headers={topology.PARTITION_HEADER: target},
                                               delivery_mode=2), mandatory=True)
    depths = {i: channel.queue_declare(topology.partition_queue(i), passive=True)
              .method.message_count for i in range(topology.PARTITIONS)}
    assert depths == {i: int(i == target) for i in range(topology.PARTITIONS)}


def test_a_rejected_message_is_dead_lettered_with_its_reason(channel) -> None:  # type: ignore[no-untyped-def]
    channel.confirm_delivery()
    queue = topology.partition_queue(0)
    channel.basic_publish(topology.INBOUND, "hl7v2.RX1", b"broken",
                          pika.BasicProperties(headers={topology.PARTITION_HEADER: 0},
                                               delivery_mode=2))
    # Single-active-consumer queues allow no basic.get: consume one message as a worker would.
    method, _, _ = next(channel.consume(queue, inactivity_timeout=5))
    channel.basic_reject(method.delivery_tag, requeue=False)
    channel.cancel()
    for _ in range(50):
        method, properties, body = channel.basic_get(topology.DEAD, auto_ack=True)
        if method:
            break
        channel.connection.sleep(0.1)
    assert body == b"broken"
    assert properties.headers["x-death"][0]["reason"] == "rejected"
    assert properties.headers["x-death"][0]["queue"] == queue


def test_backoff_grows_and_is_capped() -> None:
    assert backoff(0) <= 0.2
    assert 10 * 0.5 <= backoff(30) <= 10
