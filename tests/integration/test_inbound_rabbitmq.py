"""The bridge on the real RabbitMQ and PostgreSQL (issue 4, Build 3-5 and Tests): `s117 mllp`
publishes with confirms, `s117 worker` processes consume the partition queues. A worker
killed with SIGKILL in the middle of a stream and restarted, or the broker stopped and
started during a stream: every message answered AA is applied exactly once and none is lost.
Two workers share the partitions (each owns half, standby for the rest)."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pika
import pytest
from sqlalchemy import Engine, func, select, text

from queues import topology
from queues.connection import connect
from register.nhs_number import synthetic
from register.store.casework_tables import CarePlanRow
from register.store.inbound_tables import InboundMessageRow
from register.store.orm import EntitlementRow, HeldRow, InboxRow, OutboxRow
from tests.auth_support import checked_env
from tests.builders import council_file, plan_rows
from tests.conftest import empty_register, prepared_engine
from tests.hl7v2_messages import admission, discharge
from tests.processes import Engine as TrustEngine
from tests.processes import Service, free_port, wait_for

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]
PEOPLE = 60


def purge(amqp_url: str) -> None:
    connection = connect(amqp_url, "test purge", give_up_after=30)
    channel = connection.channel()
    topology.declare(channel)
    for queue in [topology.partition_queue(i) for i in range(topology.PARTITIONS)] + [
            topology.DEAD, topology.DEAD_INTAKE, topology.COUNCIL]:
        channel.queue_purge(queue)
    connection.close()


class Networked:
    def __init__(self, postgresql_url: str, amqp_url: str, tmp_path: Path) -> None:
        self.engine: Engine = prepared_engine(postgresql_url)
        empty_register(self.engine)
        purge(amqp_url)
        self.amqp_url = amqp_url
        self.env = checked_env(S117_DATABASE_URL=postgresql_url, S117_AMQP_URL=amqp_url,
                               S117_HOLD_SECONDS="3600")
        self.tmp = tmp_path
        self.port = free_port()
        self.services: list[Service] = []

    def service(self, *args: str, name: str, ready: str) -> Service:
        found = Service(list(args), self.env, self.tmp, name).start()
        self.services.append(found)
        found.wait_output(ready, timeout=60)
        return found

    def mllp(self) -> Service:
        return self.service("mllp", "--port", str(self.port), name="mllp", ready="listening")

    def worker(self, index: int = 0, of: int = 1) -> Service:
        return self.service("worker", "--index", str(index), "--of", str(of),
                            "--prefetch", "20", name=f"worker{index}", ready="consuming")

    def scalar(self, query):  # type: ignore[no-untyped-def]
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()

    def applied(self) -> int:
        return self.scalar(select(func.count()).select_from(InboxRow))

    def stop(self) -> None:
        for service in self.services:
            service.stop()


@pytest.fixture
def net(postgresql_url: str, amqp_url: str, tmp_path: Path) -> Iterator[Networked]:
    found = Networked(postgresql_url, amqp_url, tmp_path)
    yield found
    found.stop()


def stream(offset: int) -> list[bytes]:
    """Each person admitted under s3 then discharged, people interleaved."""
    people = [synthetic(offset + i) for i in range(PEOPLE)]
    return ([admission(nhs, f"A{offset}-{i}", visit=f"V{offset}-{i}")
             for i, nhs in enumerate(people)] +
            [discharge(nhs, f"D{offset}-{i}", visit=f"V{offset}-{i}")
             for i, nhs in enumerate(people)])


def send_in_background(port: int, messages: list[bytes], pause: float = 0.02
                       ) -> tuple[threading.Thread, TrustEngine]:
    """A trust sending at a steady pace (about 50 messages a second), so that a failure
    injected meanwhile hits the middle of the stream."""
    sender = TrustEngine(port)

    def run() -> None:
        for message in messages:
            sender.send(message)
            time.sleep(pause)
        sender.close()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, sender


def assert_each_applied_once(net: Networked, sender: TrustEngine, messages: list[bytes]
                             ) -> None:
    assert [sender.answers.get(m) for m in messages] == ["AA"] * len(messages)
    # An admission is two commands (UpdatePerson for the birth date, Admit), a discharge one.
    expected = PEOPLE * 3
    wait_for(lambda: net.applied() >= expected, 90, "every accepted message applied")
    assert net.applied() == expected  # the inbox key: each command id recorded once
    assert net.scalar(select(func.count()).select_from(EntitlementRow)
                      .where(EntitlementRow.status == "active")) == PEOPLE
    # Applied twice would have announced twice: each entitlement planned once, started once,
    # flagged once as needing review (E2: discharged with no aftercare plan recorded) and
    # the Ombudsman's flag raised once (O1).
    per_event = net.scalar(text("SELECT max(n) FROM (SELECT count(*) AS n FROM outbox "
                                "GROUP BY entitlement_id, event) AS counts"))
    assert per_event == 1
    with net.engine.connect() as conn:
        rows = conn.execute(select(OutboxRow.event, func.count()).group_by(OutboxRow.event))
        events = {event: count for event, count in rows}
    assert events == {"planned": PEOPLE, "started": PEOPLE, "needs-review": PEOPLE,
                      "flag-raised": PEOPLE}
    assert net.scalar(select(func.count()).select_from(HeldRow)) == 0
    assert net.scalar(select(func.count()).select_from(InboundMessageRow)
                      .where(InboundMessageRow.state == "quarantined")) == 0


def test_workers_killed_mid_stream_and_restarted_apply_every_acked_message_once(net) -> None:  # type: ignore[no-untyped-def]
    net.mllp()
    first = net.worker(0, 2)
    second = net.worker(1, 2)
    messages = stream(5000)
    thread, sender = send_in_background(net.port, messages)
    wait_for(lambda: net.applied() >= PEOPLE // 2, 60, "the stream to be under way")
    second.kill()  # SIGKILL: its unacknowledged messages go back to their queues
    wait_for(lambda: net.applied() >= PEOPLE, 60, "the first worker to take over")
    first.kill()
    assert thread.is_alive()  # the trust is still sending: the kill was mid-stream
    restarted = net.worker(0, 2)
    net.worker(1, 2)
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert_each_applied_once(net, sender, messages)
    assert restarted.running

    # Each worker ends up active on the partitions it owns.
    def holders() -> dict[str, str]:
        listed = subprocess.run(
            ["rabbitmqctl", "-q", "list_consumers", "-p", net.amqp_url.rsplit("/", 1)[1],
             "queue_name", "consumer_tag", "active"], capture_output=True, text=True,
            check=True).stdout.splitlines()
        return {row.split("\t")[0]: row.split("\t")[1] for row in listed
                if row.endswith("\ttrue") and ".p" in row.split("\t")[0]}

    wait_for(lambda: all(tag.startswith(f"s117-worker-{int(q[-1]) % 2}-")
                         for q, tag in holders().items()) and len(holders()) == 8,
             30, "each worker to hold its own partitions")


@pytest.mark.disruptive  # stops the shared broker
def test_broker_restart_during_a_stream_loses_nothing(net) -> None:  # type: ignore[no-untyped-def]
    net.mllp()
    net.worker()
    messages = stream(6000)
    thread, sender = send_in_background(net.port, messages)
    wait_for(lambda: len(sender.answers) >= PEOPLE // 2, 60, "the stream to be under way")
    subprocess.run(["rabbitmqctl", "-q", "stop_app"], check=True, timeout=120)
    try:
        answered = len(sender.answers)
        time.sleep(2)  # the broker is away: nothing can be answered AA meanwhile
        assert len(sender.answers) <= answered + 1
    finally:
        subprocess.run(["rabbitmqctl", "-q", "start_app"], check=True, timeout=120)
    thread.join(timeout=180)
    assert not thread.is_alive()
    # The outage was felt: a message waited for the broker, or was refused (AR 207) and sent
    # again, and was accepted once the broker was back.
    assert sender.retries > 0 or sender.slowest > 1.5
    assert_each_applied_once(net, sender, messages)


def test_a_quarantined_message_is_dead_lettered_without_patient_identifiers(net) -> None:  # type: ignore[no-untyped-def]
    net.mllp()
    net.worker()
    sender = TrustEngine(net.port)
    bad = admission("9990000019", "BAD-1")  # fails the check digit
    assert sender.send(bad) == "AE"
    sender.close()
    connection = connect(net.amqp_url, "test dead letters", give_up_after=10)
    channel = connection.channel()

    def dead_letter():  # type: ignore[no-untyped-def]
        method, props, body = channel.basic_get(topology.DEAD, auto_ack=True)
        return (props, body) if method else None
    props, body = wait_for(dead_letter, 30, "the dead letter")
    connection.close()
    assert body == bad
    assert props.headers["s117-reason"] == "invalid-nhs-number"
    assert "9990000019" not in repr(props.headers) + (props.message_id or "")
    row_id = props.headers["s117-quarantine-id"]
    reason = net.scalar(select(InboundMessageRow.reason).where(InboundMessageRow.id == row_id))
    assert "Modulus 11" in reason


def test_a_message_over_the_delivery_limit_reaches_quarantine(net) -> None:  # type: ignore[no-untyped-def]
    connection = connect(net.amqp_url, "test poison", give_up_after=10)
    channel = connection.channel()
    channel.confirm_delivery()
    poison = admission(synthetic(7000), "POISON-1")
    channel.basic_publish(topology.INBOUND, "hl7v2.RLQ", poison, pika.BasicProperties(
        headers={topology.PARTITION_HEADER: 3}, message_id="hl7v2:RLQ:POISON-1",
        delivery_mode=2))
    # A consumer that crashes on it every time: returned until the broker gives up on it.
    for method, _, _ in channel.consume(topology.partition_queue(3), inactivity_timeout=3):
        if method is None:
            break
        channel.basic_nack(method.delivery_tag, requeue=True)
    channel.cancel()
    connection.close()
    net.worker()
    kind = wait_for(lambda: net.scalar(select(InboundMessageRow.kind).where(
        InboundMessageRow.message_key == "hl7v2:RLQ:POISON-1")), 30, "the quarantine row")
    assert kind == "delivery-limit"


def test_sigterm_stops_a_worker_gracefully_and_nothing_is_lost(net) -> None:  # type: ignore[no-untyped-def]
    net.mllp()
    worker = net.worker()
    messages = stream(9000)
    thread, sender = send_in_background(net.port, messages)
    wait_for(lambda: net.applied() >= PEOPLE // 2, 60, "the stream to be under way")
    assert worker.stop() == 0  # SIGTERM: the message in hand finished, the rest returned
    assert "Traceback" not in worker.output()
    net.worker()
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert_each_applied_once(net, sender, messages)


def test_the_database_going_away_mid_stream_is_waited_out(net, postgresql_url: str) -> None:  # type: ignore[no-untyped-def]
    import psycopg

    from tests.conftest import PG_ADMIN

    name = postgresql_url.rsplit("/", 1)[1]
    net.mllp()
    worker = net.worker()
    messages = stream(9500)
    thread, sender = send_in_background(net.port, messages)
    wait_for(lambda: net.applied() >= PEOPLE // 2, 60, "the stream to be under way")
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        # For this database only: refuse new connections and drop every open one.
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
            wait_for(lambda: "database unavailable" in worker.output(), 30,
                     "the worker to notice")
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert_each_applied_once(net, sender, messages)
    assert worker.running


def test_a_council_publishes_its_file_and_the_worker_applies_it(net) -> None:  # type: ignore[no-untyped-def]
    """Issue 6 Build 6 by AMQP: a council's own system publishes a batch file to s117.inbound
    as `council.<la-gss>` (no partition header: a file is about many people)."""
    net.mllp()
    net.worker()
    sender = TrustEngine(net.port)
    people = [synthetic(7100 + i) for i in range(3)]
    for i, nhs in enumerate(people):
        assert sender.send(admission(nhs, f"C{i}-A", visit=f"CV{i}")) == "AA"
        assert sender.send(discharge(nhs, f"C{i}-D", visit=f"CV{i}")) == "AA"
    sender.close()
    wait_for(lambda: net.scalar(select(func.count()).select_from(EntitlementRow).where(
        EntitlementRow.status == "active")) == 3, 60, "three entitlements")
    good = council_file(*plan_rows(people[0], "CP-A"), *plan_rows(people[1], "CP-B"))
    bad = council_file(*plan_rows(people[2], "CP-C", funders="E06000019=50"))
    connection = connect(net.amqp_url, "test council system", give_up_after=10)
    channel = connection.channel()
    channel.confirm_delivery()
    for body in (good, bad, good):
        channel.basic_publish(topology.INBOUND, "council.E06000019", body,
                              pika.BasicProperties(delivery_mode=2), mandatory=True)
    connection.close()
    plans = select(func.count()).select_from(CarePlanRow)
    wait_for(lambda: net.scalar(plans) == 2, 60, "the good file's two plans")
    row = wait_for(lambda: net.scalar(select(InboundMessageRow.reason).where(
        InboundMessageRow.kind == "council-rows")), 30, "the bad file in quarantine")
    assert "row 3" in row and "F2" in row
    assert net.scalar(plans) == 2  # the good file again changed nothing


def test_the_authority_of_a_trusts_message_holds_when_the_worker_applies_it(net) -> None:  # type: ignore[no-untyped-def]
    """Issue 20 findings 1 and 2 in networked mode (Build 10): `s117 mllp` answers AA (the
    message is stored), and `s117 worker` holds a merge of another trust's patient and an
    update moving them as needs-review; `s117 quarantine reject` and `apply` decide."""
    from tests.e2e.test_cli import run
    from tests.hl7v2_messages import adt

    net.mllp()
    net.worker()
    sender = TrustEngine(net.port)
    victim, own = synthetic(7300), synthetic(7301)
    assert sender.send(admission(victim, "V-A", visit="VV", sender="RLQ")) == "AA"
    assert sender.send(discharge(victim, "V-D", visit="VV", sender="RLQ")) == "AA"
    assert sender.send(admission(own, "O-A", visit="OV", sender="R1A")) == "AA"
    wait_for(lambda: net.scalar(select(func.count()).select_from(EntitlementRow)) == 2, 60,
             "both admitted")
    merge = adt("A40", "M-1", own, f"MRG|{victim}^^^NHS^NH", sender="R1A")
    move = adt("A08", "U-1", victim, sender="R1A", at="20260101100000", pid={
        1: "1", 3: f"{victim}^^^NHS^NH", 5: "SMITH^JO", 7: "19800501",
        11: "1 HIGH ST^^TOWN^^SN1 1AA^GBR^H"})
    assert sender.send(merge) == "AA" and sender.send(move) == "AA"  # stored; judged later
    sender.close()

    def held() -> dict[str, int] | None:
        with net.engine.connect() as conn:
            rows = conn.execute(select(InboundMessageRow.message_key, InboundMessageRow.id)
                                .where(InboundMessageRow.kind == "needs-review")).all()
        return {key: row_id for key, row_id in rows} if len(rows) == 2 else None
    found = wait_for(held, 60, "both held for review")
    before = net.scalar(select(EntitlementRow.residence_la).where(
        EntitlementRow.person_id == select(text("id")).select_from(text("person")).where(
            text(f"nhs_number = '{victim}'")).scalar_subquery()))
    assert run("quarantine", "reject", str(found["hl7v2:R1A:M-1"]), cwd=net.tmp,
               env=net.env).returncode == 0
    applied = run("quarantine", "apply", str(found["hl7v2:R1A:U-1"]), cwd=net.tmp,
                  env=net.env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    state = select(InboundMessageRow.state).where(InboundMessageRow.id == found[
        "hl7v2:R1A:U-1"])
    wait_for(lambda: net.scalar(state) == "resolved", 60, "the approved update applied")
    assert net.scalar(select(InboundMessageRow.state).where(
        InboundMessageRow.id == found["hl7v2:R1A:M-1"])) == "rejected"
    after = net.scalar(select(EntitlementRow.residence_la).where(
        EntitlementRow.person_id == select(text("id")).select_from(text("person")).where(
            text(f"nhs_number = '{victim}'")).scalar_subquery()))
    assert before != after == "E06000030"


class Crash(BaseException):
    """The process dying between applying a batch and committing it."""


def test_a_worker_dying_before_its_batch_commits_has_the_batch_applied_once(  # type: ignore[no-untyped-def]
        net, monkeypatch) -> None:
    """Issue 22, Build 1: a batch is acknowledged only after its commit. A worker that dies
    with a whole batch applied but not committed acknowledged nothing; the broker gives the
    batch to the next worker, which applies every message once, in order (the discharge
    after its admission: R1, entitlement active)."""
    people = [synthetic(7300 + i) for i in range(10)]
    messages = [(f"K{i}-A", admission(nhs, f"K{i}-A", visit=f"KV{i}"))
                for i, nhs in enumerate(people)]
    messages += [(f"K{i}-D", discharge(nhs, f"K{i}-D", visit=f"KV{i}"))
                 for i, nhs in enumerate(people)]
    connection = connect(net.amqp_url, "test trust engine", give_up_after=10)
    channel = connection.channel()
    channel.confirm_delivery()
    for key, body in messages:  # one partition, so they come as one batch
        channel.basic_publish(topology.INBOUND, "hl7v2.RLQ", body, pika.BasicProperties(
            headers={topology.PARTITION_HEADER: 5}, message_id=f"hl7v2:RLQ:{key}",
            delivery_mode=2), mandatory=True)
    connection.close()

    from adapter import bootstrap, config
    from register.store.uow import SqlUnitOfWork
    batches: list[int] = []
    real_commit = SqlUnitOfWork.commit

    def dying(uow: SqlUnitOfWork) -> None:
        if uow.people.wrote:  # a batch with work in it, not an idle sweep
            batches.append(len(uow.people.wrote))
            raise Crash
        real_commit(uow)
    monkeypatch.setattr(SqlUnitOfWork, "commit", dying)
    settings = config.from_env(net.env)
    first = bootstrap.worker(settings, index=0, count=1, prefetch=50, batch=50)
    with pytest.raises(Crash):
        first._serve(None)
    first._drop_connection()  # the connection goes: its unacknowledged deliveries return
    assert batches and batches[0] > 1  # it died holding a batch of several messages
    assert net.applied() == 0

    monkeypatch.setattr(SqlUnitOfWork, "commit", real_commit)
    second = bootstrap.worker(settings, index=0, count=1, prefetch=50, batch=50)
    expected = len(people) * 3  # an admission is two commands, a discharge one
    second._serve(lambda: net.applied() >= expected)
    second._drop_connection()
    assert net.applied() == expected
    assert net.scalar(select(func.count()).select_from(InboxRow)
                      .where(InboxRow.outcome != "applied")) == 0
    assert net.scalar(select(func.count()).select_from(EntitlementRow)
                      .where(EntitlementRow.status == "active")) == len(people)
    assert net.scalar(text("SELECT max(n) FROM (SELECT count(*) AS n FROM outbox "
                           "GROUP BY entitlement_id, event) AS counts")) == 1
