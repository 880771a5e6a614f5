"""Issue 9, fault suite: the networked register (`s117 mllp`, two `s117 worker`s and `s117
relay` on PostgreSQL and RabbitMQ, a rest-hook subscriber) takes a trust's stream of ADT
messages while one thing goes wrong in the middle of it:

- `kill-worker`, `kill-relay`, `kill-mllp`: SIGKILL, then a new process;
- `restart-broker`: `rabbitmqctl stop_app` / `start_app`;
- `restart-database`: PostgreSQL restarted (`pg_ctlcluster ... restart`);
- `fill-quarantine`: a hundred messages with invalid NHS numbers among the good ones.

Then the invariants: every message answered AA is applied exactly once (each command id
once, each entitlement's events once), every committed change is published and delivered to
the subscriber, with consecutive numbers; every refused message is in quarantine. Each
scenario's counts (sent, acked, applied, duplicates suppressed, published, delivered, lost)
are printed at the end of the run (tests/faults/conftest.py); lost must be 0.

`FAULT_PEOPLE` (default 80; two messages each) sets the stream size, `FAULT_ROUNDS` repeats
each scenario, `FAULT_SENDERS` (default 1) sends over that many MLLP connections at once (each
person's messages on one connection, in order) and `FAULT_PAUSE` (default 0.02 s) is the pause
between a sender's messages: the soak run (README "Evidence") sets them for N >= 10,000."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from register.nhs_number import synthetic
from register.store.inbound_tables import InboundMessageRow
from register.store.orm import EntitlementRow, InboxRow, OutboxRow
from tests.faults.conftest import LEDGER
from tests.hl7v2_messages import admission, discharge
from tests.integration.test_inbound_rabbitmq import Networked
from tests.outbound_support import Outbound, Receiver
from tests.processes import Engine as TrustEngine
from tests.processes import Service, wait_for

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres, pytest.mark.disruptive]
PEOPLE = int(os.environ.get("FAULT_PEOPLE", "80"))
ROUNDS = int(os.environ.get("FAULT_ROUNDS", "1"))
SENDERS = int(os.environ.get("FAULT_SENDERS", "1"))
PAUSE = float(os.environ.get("FAULT_PAUSE", "0.02"))
BAD = 100  # fill-quarantine
# planned, started, needs-review and flag-raised (E2 and O1: no aftercare plan at discharge)
EVENTS_PER_PERSON = 4


@dataclass
class Stack:
    net: Networked
    mllp: Service
    workers: list[Service]
    relay: Service
    receiver: Receiver
    subscription: str
    outbound: Outbound
    restarted: list[str] = field(default_factory=list)

    def start_relay(self) -> Service:
        return self.net.service("relay", name=f"relay{len(self.restarted)}",
                                ready="relay started")


@pytest.fixture
def stack(postgresql_url: str, amqp_url: str, tmp_path: Path) -> Iterator[Stack]:
    net = Networked(postgresql_url, amqp_url, tmp_path)
    # A relay killed with SIGKILL holds its delivery leases for 2 x timeout + 10 s.
    net.env["S117_DELIVERY_TIMEOUT_SECONDS"] = "1"
    receiver = Receiver().start()
    outbound = Outbound(net.engine)
    sub = outbound.subscribe(receiver, "EpisodeOfCare?responsible-icb=QGH")
    found = Stack(net, net.mllp(), [net.worker(0, 2), net.worker(1, 2)],
                  Service([], {}, tmp_path, "none"), receiver, sub.id, outbound)
    found.relay = found.start_relay()
    try:
        yield found
    finally:
        net.stop()
        receiver.stop()


def kill_worker(stack: Stack) -> None:
    stack.workers[1].kill()
    stack.restarted.append("worker")
    stack.workers[1] = stack.net.worker(1, 2)


def kill_relay(stack: Stack) -> None:
    stack.relay.kill()
    stack.restarted.append("relay")
    stack.relay = stack.start_relay()


def kill_mllp(stack: Stack) -> None:
    stack.mllp.kill()  # the trust's engine loses its connection and sends again
    stack.restarted.append("mllp")
    stack.mllp = stack.net.mllp()


def restart_broker(_: Stack) -> None:
    subprocess.run(["rabbitmqctl", "-q", "stop_app"], check=True, timeout=120)
    try:
        time.sleep(2)
    finally:
        subprocess.run(["rabbitmqctl", "-q", "start_app"], check=True, timeout=120)


def restart_database(_: Stack) -> None:
    cluster = sorted(os.listdir("/etc/postgresql"))[0]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", "restart"],
                   check=True, timeout=120)


FAULTS: dict[str, Callable[[Stack], None] | None] = {
    "kill-worker": kill_worker, "kill-relay": kill_relay, "kill-mllp": kill_mllp,
    "restart-broker": restart_broker, "restart-database": restart_database,
    "fill-quarantine": None}


def invalid(nhs: str) -> str:
    """The same number with another check digit: exactly one digit is right (Modulus 11)."""
    return nhs[:9] + str((int(nhs[9]) + 1) % 10)


def messages(offset: int, bad: int) -> tuple[list[bytes], list[bytes]]:
    """(good, refused): each person admitted under s3 and discharged, interleaved with
    messages whose NHS number fails its check digit."""
    people = [synthetic(offset + i) for i in range(PEOPLE)]
    good = [m for i, nhs in enumerate(people) for m in (
        admission(nhs, f"F{offset}-A{i}", visit=f"V{offset}-{i}"),
        discharge(nhs, f"F{offset}-D{i}", visit=f"V{offset}-{i}"))]
    refused = [admission(invalid(synthetic(offset + PEOPLE + i)), f"F{offset}-X{i}",
                         visit=f"X{offset}-{i}") for i in range(bad)]
    return good, refused


@pytest.mark.parametrize("round_", range(ROUNDS))
@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_stream_through_a_fault_loses_nothing_and_applies_nothing_twice(
        stack: Stack, fault: str, round_: int) -> None:
    # Each scenario its own people (and refused numbers): a soak's streams must not overlap.
    offset = 20_000 + max(1000, PEOPLE + BAD) * (list(FAULTS).index(fault) + len(FAULTS) * round_)
    good, refused = messages(offset, BAD if fault == "fill-quarantine" else 0)
    stream = [m for pair in zip(good, refused + [b""] * len(good), strict=False)
              for m in pair if m] if refused else good
    # Each person's two messages go over the same connection, so per-person order holds.
    connection = {m: (i // 2) % SENDERS for i, m in enumerate(good)} | {
        m: i % SENDERS for i, m in enumerate(refused)}
    streams = [[m for m in stream if connection[m] == k] for k in range(SENDERS)]
    # Generous bounds that grow with the stream: the soak sends tens of thousands.
    patience = 120 + len(stream) * (PAUSE + 0.05) / SENDERS
    senders = [TrustEngine(stack.net.port, timeout=180) for _ in streams]

    def send(sender: TrustEngine, part: list[bytes]) -> None:
        for message in part:
            sender.send(message)
            time.sleep(PAUSE)
        sender.close()

    threads = [threading.Thread(target=send, args=pair, daemon=True)
               for pair in zip(senders, streams, strict=True)]
    for thread in threads:
        thread.start()

    def answered() -> int:
        return sum(len(sender.answers) for sender in senders)

    wait_for(lambda: answered() >= len(stream) // 3, patience, "the stream under way")
    inject = FAULTS[fault]
    if inject is not None:
        inject(stack)
        assert any(t.is_alive() for t in threads) or fault == "kill-relay", \
            "the fault hit mid-stream"
    for thread in threads:
        thread.join(timeout=patience)
        assert not thread.is_alive(), "the trust's engine gave up"
    answers = {m: code for sender in senders for m, code in sender.answers.items()}
    retries = sum(sender.retries for sender in senders)

    # Every message answered: the good ones AA, the refused ones AE.
    acked = [m for m in good if answers.get(m) == "AA"]
    assert len(acked) == len(good)
    assert all(answers.get(m) == "AE" for m in refused)
    # Each admission is two commands (the birth date, the admission), a discharge one.
    expected_commands = PEOPLE * 3
    net = stack.net

    def count(query) -> int:  # type: ignore[no-untyped-def]
        with net.engine.connect() as conn:
            return conn.execute(query).scalar() or 0

    wait_for(lambda: count(select(func.count()).select_from(InboxRow)) >= expected_commands,
             patience, "every accepted message applied")
    applied = count(select(func.count()).select_from(InboxRow))
    expected_events = PEOPLE * EVENTS_PER_PERSON
    wait_for(lambda: count(select(func.count()).select_from(OutboxRow).where(
        OutboxRow.published_at.is_not(None))) >= expected_events, patience, "every event published")
    wait_for(lambda: set(stack.receiver.numbers()) >= set(range(1, expected_events + 1)), patience,
             "every event delivered to the subscriber")
    sub = stack.outbound.store.get(stack.subscription)
    assert sub is not None
    events = count(select(func.count()).select_from(OutboxRow))
    published = count(select(func.count()).select_from(OutboxRow).where(
        OutboxRow.published_at.is_not(None)))
    twice = count(text("SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM outbox "
                       "GROUP BY entitlement_id, event) AS per_event"))
    entitlements = count(select(func.count()).select_from(EntitlementRow))
    quarantined = count(select(func.count()).select_from(InboundMessageRow).where(
        InboundMessageRow.state == "quarantined"))
    delivered = set(stack.receiver.numbers())
    received = len(stack.receiver.numbers())
    # Lost: an accepted message not applied, a committed change not published, an event
    # recorded for the subscriber and never delivered.
    lost = max(0, expected_commands - applied) + (events - published) + \
        (sub.events_since_start - len(delivered & set(range(1, sub.events_since_start + 1))))
    LEDGER.append({
        "scenario": fault + (f" #{round_ + 1}" if ROUNDS > 1 else ""),
        "sent": len(stream), "resent": retries, "acked": len(acked),
        "refused": len(refused), "applied": applied,
        "duplicates suppressed": retries + received - len(delivered),
        "published": published, "delivered": len(delivered), "lost": lost})
    assert applied == expected_commands, "each command applied exactly once"
    assert entitlements == PEOPLE and twice == 0, "no duplicate entitlement or event"
    assert events == published == expected_events == sub.events_since_start
    assert sorted(delivered) == list(range(1, expected_events + 1)), "consecutive, none lost"
    assert quarantined == len(refused), "every refused message kept"
    # Per-person order: each entitlement's events in commit order are those of an admission
    # applied before its discharge.
    with net.engine.connect() as conn:
        orders = {tuple(row[0]) for row in conn.execute(text(
            "SELECT array_agg(event ORDER BY id) FROM outbox GROUP BY entitlement_id"))}
    assert len(orders) == 1 and next(iter(orders))[0] == "planned", orders
    assert lost == 0
