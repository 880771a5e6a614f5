"""The HTTP audit writer (adapter/auth/audit_writer.py, issue 7 "Audit", issue 9 load): records
are written off the request path in batches, none is dropped when the queue is full or the
database refuses for a while, and `flush` waits until they are all written."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from adapter.auth.audit_writer import AuditWriter
from register.store import database
from register.store.audit import AuditFilter, AuditLog, AuditRecord


def record(i: int) -> AuditRecord:
    return AuditRecord(recorded_at=datetime(2026, 12, 2, 12, 0, i % 60), request_id=f"r-{i}",
                       channel="http", action="R", subtype="read", outcome="0", method="GET",
                       path="/fhir/EpisodeOfCare/e", status=200, agent_org="E06000019",
                       agent_type="la", entities=((f"EpisodeOfCare/e{i}", "domain"),
                                                  ("Patient/1", "patient")))


def log_at(path: Path, *, migrated: bool = True) -> tuple[str, AuditLog]:
    url = f"sqlite:///{path / 'audit.db'}"
    if migrated:
        database.upgrade(url)
    return url, AuditLog(database.session_factory(database.make_engine(url)))


def test_many_records_are_written_in_order_with_their_entities(tmp_path: Path) -> None:
    _, audit = log_at(tmp_path)
    writer = AuditWriter(audit, batch=7)
    for i in range(100):
        writer.submit(record(i))
    assert writer.flush()
    total, found = audit.search(AuditFilter(), count=None)
    assert total == 100 and {r.request_id for r in found} == {f"r-{i}" for i in range(100)}
    by_id = sorted(found, key=lambda r: r.id or 0)
    assert [r.request_id for r in by_id] == [f"r-{i}" for i in range(100)], "in order"
    assert audit.search(AuditFilter(entity="EpisodeOfCare/e42"))[0] == 1
    assert audit.search(AuditFilter(patient="Patient/1"))[0] == 100


def test_a_full_queue_makes_the_request_write_its_own_record(tmp_path: Path) -> None:
    _, audit = log_at(tmp_path)
    writer = AuditWriter(audit, capacity=1, batch=1)
    for i in range(40):
        writer.submit(record(i))
    assert writer.flush()
    assert audit.count() == 40, "none dropped"


def test_a_database_that_refuses_for_a_while_loses_nothing(tmp_path: Path) -> None:
    url, audit = log_at(tmp_path, migrated=False)  # no tables yet: every write fails
    writer = AuditWriter(audit)
    for i in range(5):
        writer.submit(record(i))
    assert not writer.flush(timeout_seconds=0.5), "held while the database refuses"
    database.upgrade(url)
    assert writer.flush(timeout_seconds=30)
    assert audit.count() == 5


def test_records_arriving_close_together_share_one_transaction(tmp_path: Path) -> None:
    """Issue 22, Build 4: reads a few milliseconds apart (a low load) are gathered for 50 ms
    into one write instead of one transaction each."""
    _, audit = log_at(tmp_path)
    writes: list[int] = []
    real = audit.record_many

    def counting(records):  # type: ignore[no-untyped-def]
        writes.append(len(records))
        real(records)
    audit.record_many = counting  # type: ignore[method-assign]
    writer = AuditWriter(audit, gather_seconds=0.5)
    for i in range(10):
        writer.submit(record(i))
        time.sleep(0.01)
    assert writer.flush()
    assert audit.count() == 10 and writes == [10]
