"""Bulk load (issue 22, Build 2) on the real store (SQLite and PostgreSQL): an HL7 v2 batch
file and NDJSON FHIR messages through the same decoders, rules and quarantine as the live
feed, many messages per transaction; a refused message is quarantined and the rest applied
in order; an interrupted import resumes where it stopped and applies each message once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from adapter import bulk_import
from queues.inbound import store
from queues.inbound.decoders import Decoders
from queues.inbound.processor import Processor
from register.nhs_number import synthetic
from register.refdata.sql import SqlRefData
from register.service import RegisterService
from register.store import database
from register.store.orm import EntitlementRow, InboxRow
from register.store.uow import SqlUnitOfWork
from tests.conftest import TODAY
from tests.hl7v2_messages import admission, discharge

PEOPLE = [synthetic(8800 + i) for i in range(6)]


def batch_file(messages: list[bytes]) -> bytes:
    """An HL7 v2 batch file as a PAS exports it: FHS/BHS ... BTS/FTS, one segment a line."""
    body = b"".join(messages).replace(b"\r", b"\n")
    return (b"FHS|^~\\&|PAS|RLQ|S117|S117|20250401000000\nBHS|^~\\&|PAS|RLQ|S117|S117|"
            b"20250401000000\n" + body + f"BTS|{len(messages)}\nFTS|1\n".encode())


def feed() -> list[bytes]:
    """Each person admitted (s3) then discharged, and in the middle a message the register
    refuses: another person's admission under a visit number already recorded."""
    admissions = [admission(nhs, f"I{i}-A", visit=f"IV{i}") for i, nhs in enumerate(PEOPLE)]
    refused = admission(synthetic(8899), "I-BAD", visit="IV0")
    discharges = [discharge(nhs, f"I{i}-D", visit=f"IV{i}") for i, nhs in enumerate(PEOPLE)]
    return admissions + [refused] + discharges


class Interrupted(BaseException):
    """Ctrl-C in the middle of an import."""


@pytest.fixture
def processor(engine: Engine, tmp_path: Path) -> Processor:
    sessions = database.session_factory(engine)
    service = RegisterService(lambda: SqlUnitOfWork(sessions), SqlRefData(sessions),
                              today=lambda: TODAY)
    return Processor(service, sessions, Decoders(tmp_path))


def count(engine: Engine, query) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(query).scalar_one()


def test_a_batch_file_is_split_into_its_messages_without_batch_segments() -> None:
    messages = feed()
    found = list(bulk_import.hl7v2_messages(batch_file(messages)))
    assert found == messages  # CR-separated again, FHS/BHS/BTS/FTS dropped
    assert list(bulk_import.ndjson_messages(b'{"a":1}\n\n{"b":2}\r\n')) == [b'{"a":1}',
                                                                          b'{"b":2}']


def test_an_hl7v2_batch_file_is_applied_with_the_refused_message_quarantined(
        engine: Engine, processor: Processor, tmp_path: Path) -> None:
    """R1 (s3 then discharge: entitled, active) for each person; the refused message kept
    in quarantine with its reason; the units (of 4) do not change the outcome."""
    file = tmp_path / "feed.hl7"
    file.write_bytes(batch_file(feed()))
    report = bulk_import.run(processor, file, "hl7v2", "RLQ", unit=4)
    assert report.total == 13
    assert report.statuses == {"applied": 12, "quarantined": 1}
    assert report.quarantined == [(7, "refused:stay_ref")]
    assert count(engine, select(func.count()).select_from(EntitlementRow)
                 .where(EntitlementRow.status == "active")) == len(PEOPLE)
    [kept] = store.listing(processor.sessions, "quarantined")
    assert kept.message_key == "hl7v2:RLQ:I-BAD" and "another person" in kept.reason
    assert not bulk_import.checkpoint_path(file).exists()


def test_an_interrupted_import_resumes_after_its_last_unit_and_applies_each_message_once(
        engine: Engine, processor: Processor, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    file = tmp_path / "feed.hl7"
    file.write_bytes(batch_file(feed()))
    real = processor.process_all
    calls: list[int] = []

    def interrupted_on_the_third_unit(envelopes):  # type: ignore[no-untyped-def]
        calls.append(len(envelopes))
        if len(calls) == 3:
            raise Interrupted
        return real(envelopes)
    monkeypatch.setattr(processor, "process_all", interrupted_on_the_third_unit)
    with pytest.raises(Interrupted):
        bulk_import.run(processor, file, "hl7v2", "RLQ", unit=4)
    saved = json.loads(bulk_import.checkpoint_path(file).read_text())
    assert saved["done"] == 8  # two units committed

    monkeypatch.setattr(processor, "process_all", real)
    report = bulk_import.run(processor, file, "hl7v2", "RLQ", unit=4)
    assert report.resumed_from == 8
    assert report.statuses == {"applied": 5}  # messages 9-13, none of them a duplicate
    # An admission is two commands (birth date, stay), a discharge one; the refused none.
    assert count(engine, select(func.count()).select_from(InboxRow)) == len(PEOPLE) * 3
    assert count(engine, select(func.count()).select_from(EntitlementRow)
                 .where(EntitlementRow.status == "active")) == len(PEOPLE)
    again = bulk_import.run(processor, file, "hl7v2", "RLQ", unit=4)  # finished: from the top
    assert again.resumed_from == 0
    assert again.statuses == {"duplicate": 12, "quarantined": 1}


def test_ndjson_fhir_messages_take_the_same_path(engine: Engine, processor: Processor,
                                                 tmp_path: Path) -> None:
    """A FHIR admission message (s3, code 03) applied; one with a legal status that is not a
    code (77) quarantined as the live FHIR feed would; the message Bundle ids are the keys."""
    from tests.integration.test_inbound_processing import fhir_message
    file = tmp_path / "feed.ndjson"
    file.write_bytes(b"\n".join([fhir_message("N1", PEOPLE[0]),
                                 fhir_message("N2", PEOPLE[1], code="77")]) + b"\n")
    report = bulk_import.run(processor, file, "fhir", "RLQ")
    assert report.statuses == {"applied": 1, "quarantined": 1}
    assert report.quarantined == [(2, "fhir-content")]
    assert count(engine, select(func.count()).select_from(EntitlementRow)) == 1
