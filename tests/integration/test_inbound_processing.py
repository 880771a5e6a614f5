"""The inbound processor on the real store (SQLite and PostgreSQL), as the in-process bus
runs it in embedded mode and `s117 worker` in networked mode (issue 4, Build 4-6): each
message applied once, out-of-order messages held and then quarantined after the hold time,
every refused message kept with its raw text, sender, reason and time, and replayed once
after the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, inspect, select

from mappings.council import plan_id_for
from queues.inbound import holds, quarantine, store
from queues.inbound.bus import Inbound, InProcessBus
from queues.inbound.decoders import Decoders
from queues.inbound.envelope import Envelope
from queues.inbound.processor import Processor
from register.nhs_number import synthetic
from register.queries import responsibility
from register.refdata.sql import SqlRefData
from register.service import RegisterService
from register.store import database
from register.store.casework_tables import CarePlanRow
from register.store.inbound_tables import InboundMessageRow
from register.store.orm import HeldRow, InboxRow, PersonRow
from register.store.uow import SqlUnitOfWork
from tests.builders import council_file, plan_rows
from tests.conftest import TODAY
from tests.hl7v2_messages import admission, adt, discharge, pv1, zmh

NHS = synthetic(4200)


class Pipeline:
    def __init__(self, engine: Engine, profiles_dir: Path) -> None:
        self.engine = engine
        self.sessions = database.session_factory(engine)
        self.service = RegisterService(lambda: SqlUnitOfWork(self.sessions),
                                       SqlRefData(self.sessions), today=lambda: TODAY)
        self.dead: list[tuple[int, str]] = []
        self.processor = Processor(self.service, self.sessions, Decoders(profiles_dir),
                                   dead_letter=lambda env, row, kind: self.dead.append(
                                       (row, kind)))
        self.inbound = Inbound(self.processor.decoders, InProcessBus(self.processor))

    def send(self, raw: bytes, channel: str = "hl7v2", sender: str = "RLQ", **extra):  # type: ignore[no-untyped-def]
        return self.inbound.bus.publish(Envelope(f"{channel}.{sender}", raw, 0,
                                                 f"test:{hash(raw)}", **extra))

    def rows(self, state: str | None = None) -> list[store.Stored]:
        return store.listing(self.sessions, state)

    def count(self, model, *where) -> int:  # type: ignore[no-untyped-def]
        with self.sessions() as session:
            return session.scalar(select(func.count()).select_from(model).where(*where))

    def answer(self, nhs: str = NHS):  # type: ignore[no-untyped-def]
        return responsibility(SqlUnitOfWork(self.sessions), self.service.refdata,
                              self.service.policy, nhs, TODAY)


@pytest.fixture
def pipe(engine: Engine, tmp_path: Path) -> Pipeline:
    return Pipeline(engine, tmp_path)


def test_a01_with_zmh_s3_then_a03_make_an_active_entitlement_applied_once(pipe) -> None:  # type: ignore[no-untyped-def]
    assert pipe.send(admission(NHS, "A1")).status == "applied"
    assert pipe.send(discharge(NHS, "A2")).status == "applied"
    assert pipe.send(admission(NHS, "A1")).status == "duplicate"  # a re-send: MSH-4 + MSH-10
    answer = pipe.answer()
    assert answer.entitled and answer.status == "active"
    assert answer.local_authority == "E06000019"  # HR1 1AA, Herefordshire (rule L1)
    assert pipe.count(InboxRow, InboxRow.command_id.like("hl7v2:RLQ:A1:%")) == 2
    assert pipe.rows(None) == []  # nothing held or quarantined


def test_a_bad_message_is_quarantined_raw_and_replayed_once_after_a_profile_fix(
        pipe, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    raw = admission(NHS, "Q1", code="S3", sender="RX9")  # a local code nobody mapped yet
    result = pipe.send(raw, sender="RX9")
    assert result.status == "quarantined" and result.kind == "unknown-legal-status"
    [row] = pipe.rows("quarantined")
    assert (row.raw, row.sender, row.message_key) == (raw, "RX9", "hl7v2:RX9:Q1")
    assert "ZMH-1" in row.reason and "'S3'" in row.reason and row.received_at is not None
    assert pipe.dead == [(row.id, "unknown-legal-status")]  # dead-lettered too
    assert pipe.count(PersonRow) == 0

    # Still wrong: a replay comes back to quarantine, counted.
    [again] = quarantine.replay(pipe.inbound, pipe.sessions, [row.id])
    assert again.result.status == "quarantined"
    assert store.find(pipe.sessions, row.id).attempts == 2

    (tmp_path / "rx9.yaml").write_text("name: RX9\nsenders: [RX9]\n"
                                       "legal_status: {codes: {S3: '03'}}\n")
    [fixed] = quarantine.replay(pipe.inbound, pipe.sessions, [row.id])
    assert fixed.result.status == "applied"
    assert store.find(pipe.sessions, row.id).state == "resolved"
    assert quarantine.replay(pipe.inbound, pipe.sessions, [row.id]) == []  # nothing left
    assert pipe.send(raw, sender="RX9").status == "duplicate"
    assert pipe.answer().status == "planned"


def test_a_discharge_before_its_admission_is_held_then_applied(pipe) -> None:  # type: ignore[no-untyped-def]
    assert pipe.send(discharge(NHS, "H2")).status == "held"
    [row] = pipe.rows("held")
    assert row.command_ids == ["hl7v2:RLQ:H2:0"] and "not been admitted" in row.reason
    assert pipe.send(admission(NHS, "H1")).status == "applied"
    assert pipe.answer().status == "active"
    assert holds.sweep(pipe.service, pipe.sessions, hold_seconds=3600) == (1, 0)
    assert store.find(pipe.sessions, row.id).state == "resolved"


def test_past_the_hold_time_a_held_message_goes_to_quarantine_and_replays_once(pipe) -> None:  # type: ignore[no-untyped-def]
    assert pipe.send(discharge(NHS, "X2")).status == "held"
    assert holds.sweep(pipe.service, pipe.sessions, hold_seconds=3600) == (0, 0)
    assert holds.sweep(pipe.service, pipe.sessions, hold_seconds=0,
                       dead_letter=pipe.processor.dead_letter) == (0, 1)
    [row] = pipe.rows("quarantined")
    assert row.kind == "held-too-long"
    assert "not been admitted" in row.reason and "Discharge" in row.reason
    assert pipe.dead == [(row.id, "held-too-long")]
    # The core forgot the held command entirely: not held, not in the inbox, counter back.
    assert pipe.count(HeldRow) == 0
    assert pipe.count(InboxRow, InboxRow.command_id == "hl7v2:RLQ:X2:0") == 0
    with pipe.sessions() as session:
        assert session.scalar(select(PersonRow.held)) == 0
    # The admission arrives late; the discharge is not applied until it is replayed.
    assert pipe.send(admission(NHS, "X1")).status == "applied"
    assert pipe.answer().status == "planned"
    [replayed] = quarantine.replay(pipe.inbound, pipe.sessions, quarantine.all_ids(
        pipe.sessions))
    assert replayed.result.status == "applied"
    assert pipe.answer().status == "active"
    assert pipe.send(discharge(NHS, "X2")).status == "duplicate"


def test_a_register_refusal_is_quarantined_with_the_field(pipe) -> None:  # type: ignore[no-untyped-def]
    assert pipe.send(admission(NHS, "R1", visit="SAME")).status == "applied"
    other = synthetic(4201)
    result = pipe.send(admission(other, "R2", visit="SAME"))
    assert (result.status, result.kind) == ("quarantined", "refused:stay_ref")
    assert "Admit (command 2 of 2)" in result.reason and "another person" in result.reason
    assert pipe.count(PersonRow, PersonRow.nhs_number == other) == 0  # nothing half-done


def test_a_message_refused_by_its_transport_is_never_applied_here(pipe) -> None:  # type: ignore[no-untyped-def]
    raw = admission(NHS, "T1")
    result = pipe.send(raw, rejected="PID-3: Data type error (invalid-nhs-number)",
                       rejected_kind="invalid-nhs-number")
    assert result.status == "quarantined" and pipe.count(PersonRow) == 0
    # In full words, since the decoder (now) takes it, the transport's summary is kept.
    assert pipe.rows("quarantined")[0].reason.startswith("PID-3")
    too_big = pipe.send(raw[:100], rejected="the message is 52,428,800 bytes, more than...",
                        rejected_kind="too-large", size=52_428_800)
    assert too_big.status == "quarantined"
    row = pipe.rows("quarantined")[-1]
    assert (row.size, len(row.raw), row.kind) == (52_428_800, 100, "too-large")
    [again] = quarantine.replay(pipe.inbound, pipe.sessions, [row.id])
    assert again.result.status == "quarantined"  # the rest of it was never received


def fhir_message(message_id: str, nhs: str, code: str = "03") -> bytes:
    return json.dumps({
        "resourceType": "Bundle", "id": message_id, "type": "message",
        "timestamp": "2025-01-10T10:00:00Z",
        "entry": [
            {"fullUrl": "urn:uuid:h", "resource": {
                "resourceType": "MessageHeader",
                "eventCoding": {"system": "https://fhir.s117-register.uk/CodeSystem/s117-event",
                                "code": "admission"},
                "sender": {"identifier": {
                    "system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "RLQ"}},
                "source": {"endpoint": "https://epr.example/fhir"}}},
            {"fullUrl": "urn:uuid:p", "resource": {
                "resourceType": "Patient",
                "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs}],
                "address": [{"postalCode": "HR1 1AA"}]}},
            {"fullUrl": "urn:uuid:e", "resource": {
                "resourceType": "Encounter", "status": "in-progress",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                          "code": "IMP"},
                "identifier": [{"value": "F-1"}],
                "period": {"start": "2025-01-10T10:00:00Z"},
                "extension": [{
                    "url": "https://fhir.hl7.org.uk/StructureDefinition/"
                           "Extension-UKCore-LegalStatus",
                    "extension": [
                        {"url": "legalStatusClassification",
                         "valueCodeableConcept": {"coding": [{"code": code}]}},
                        {"url": "legalStatusContext",
                         "valueCodeableConcept": {"coding": [{"code": "admission"}]}}]}]}}]
    }).encode()


def test_fhir_messages_take_the_same_path(pipe) -> None:  # type: ignore[no-untyped-def]
    assert pipe.send(fhir_message("F1", NHS), channel="fhir").status == "applied"
    assert pipe.send(fhir_message("F1", NHS), channel="fhir").status == "duplicate"
    bad = pipe.send(fhir_message("F2", synthetic(4202), code="77"), channel="fhir")
    assert (bad.status, bad.kind) == ("quarantined", "fhir-content")
    assert pipe.rows("quarantined")[0].message_key == "fhir:RLQ:F2"
    unknown = pipe.send(b"{}", channel="letters")
    assert (unknown.status, unknown.kind) == ("quarantined", "unknown-channel")


def test_the_migration_creates_the_inbound_message_table(engine: Engine) -> None:
    columns = {c["name"] for c in inspect(engine).get_columns("inbound_message")}
    assert columns == set(InboundMessageRow.__table__.columns.keys())


def test_a_message_with_nothing_to_apply_is_accepted(pipe) -> None:  # type: ignore[no-untyped-def]
    result = pipe.send(adt("A12", "N1", NHS, pv1("V-1"), zmh("3", "20250110100000")))
    assert result.status == "empty" and pipe.rows(None) == []


def test_a_batch_gives_what_one_by_one_gives_and_a_refusal_in_it_falls_back(pipe) -> None:  # type: ignore[no-untyped-def]
    def envelope(raw: bytes) -> Envelope:
        return Envelope("hl7v2.RLQ", raw, 0, f"test:{hash(raw)}")

    other = synthetic(4203)
    calm = [admission(NHS, "B1", visit="V-B"), discharge(NHS, "B2", visit="V-B"),
            admission(NHS, "B1", visit="V-B"), discharge(other, "B3", visit="V-O"),
            adt("A12", "B4", NHS, pv1("V-B"))]
    assert [r.status for r in pipe.processor.process_all([envelope(m) for m in calm])] == [
        "applied", "applied", "duplicate", "held", "empty"]
    assert [r.command_ids for r in pipe.rows("held")] == [["hl7v2:RLQ:B3:0"]]
    assert pipe.answer().status == "active"

    stormy = [admission(other, "B5", visit="V-O"),  # releases the held discharge
              admission(synthetic(4204), "B6", visit="V-O"),  # another person, same visit
              admission(synthetic(4205), "B7", code="77"),
              admission(synthetic(4206), "B8")]
    results = pipe.processor.process_all([envelope(m) for m in stormy])
    assert [r.status for r in results] == ["applied", "quarantined", "quarantined", "applied"]
    assert results[1].kind == "refused:stay_ref"
    assert pipe.answer(other).status == "active"


def test_a_refused_message_in_the_middle_of_a_batch_leaves_the_others_in_one_commit(
        pipe, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Issue 22, Build 1: the batch is one transaction with a savepoint per message; the
    register refusing the second (rule: a visit number already another person's) rolls back
    only that message, which is quarantined, and the discharge after it still applies to
    the admission before it, in order (R1: admission then discharge makes the entitlement
    active)."""
    commits: list[int] = []
    real_commit = SqlUnitOfWork.commit

    def counting(uow: SqlUnitOfWork) -> None:
        commits.append(1)
        real_commit(uow)
    monkeypatch.setattr(SqlUnitOfWork, "commit", counting)
    stranger = synthetic(4207)
    batch = [admission(NHS, "M1", visit="V-M"),
             admission(stranger, "M2", visit="V-M"),  # the same visit: refused, stay_ref
             discharge(NHS, "M3", visit="V-M")]
    results = pipe.processor.process_all([Envelope("hl7v2.RLQ", m, 0, "k") for m in batch])
    assert [r.status for r in results] == ["applied", "quarantined", "applied"]
    assert results[1].kind == "refused:stay_ref"
    assert len(commits) == 1  # no fall back to one transaction per message
    assert pipe.answer().status == "active"
    assert pipe.count(PersonRow, PersonRow.nhs_number == stranger) == 0
    assert pipe.count(InboxRow, InboxRow.command_id.like("hl7v2:RLQ:M2:%")) == 0
    assert [r.message_key for r in pipe.rows("quarantined")] == ["hl7v2:RLQ:M2"]
    assert pipe.dead == [(pipe.rows("quarantined")[0].id, "refused:stay_ref")]


def test_a_discharge_and_its_admission_in_one_batch(pipe) -> None:  # type: ignore[no-untyped-def]
    envelopes = [Envelope("hl7v2.RLQ", m, 0, "k") for m in (
        discharge(NHS, "C2", visit="V-C"), admission(NHS, "C1", visit="V-C"))]
    assert [r.status for r in pipe.processor.process_all(envelopes)] == ["held", "applied"]
    assert pipe.answer().status == "active" and pipe.count(HeldRow) == 0
    assert holds.sweep(pipe.service, pipe.sessions, hold_seconds=3600) == (1, 0)


# -- council files (issue 6, Build 6: the AMQP path `council.<la-gss>`) --------------------

def _entitled(pipe: Pipeline, nhs: str, visit: str) -> None:
    assert pipe.send(admission(nhs, f"{visit}-A", visit=visit)).status == "applied"
    assert pipe.send(discharge(nhs, f"{visit}-D", visit=visit)).status == "applied"


def test_a_council_file_is_applied_person_by_person_and_a_bad_row_is_quarantined(
        pipe) -> None:  # type: ignore[no-untyped-def]
    anne, ben = synthetic(4210), synthetic(4211)
    _entitled(pipe, anne, "CA")
    _entitled(pipe, ben, "CB")
    good = council_file(*plan_rows(ben))
    assert pipe.send(good, channel="council", sender="E06000019").status == "applied"
    assert pipe.send(good, channel="council", sender="E06000019").status == "duplicate"
    with pipe.sessions() as session:
        assert session.get(CarePlanRow, plan_id_for("E06000019", "CP-1")) is not None

    # Anne's funders add up to 90% (rule F2): her rows are refused, Carla's go ahead, and the
    # file waits in quarantine with the row and the reason.
    carla = synthetic(4212)
    _entitled(pipe, carla, "CC")
    mixed = council_file(*plan_rows(anne, "CP-2", funders="E06000019=60;QGH=30"),
                         *plan_rows(carla, "CP-3"))
    result = pipe.send(mixed, channel="council", sender="E06000019")
    assert (result.status, result.kind) == ("quarantined", "council-rows")
    assert "row 3" in result.reason and "F2" in result.reason
    [row] = pipe.rows("quarantined")
    assert (row.raw, row.sender) == (mixed, "E06000019")
    with pipe.sessions() as session:
        assert session.get(CarePlanRow, plan_id_for("E06000019", "CP-3")) is not None
        assert session.get(CarePlanRow, plan_id_for("E06000019", "CP-2")) is None


def test_a_council_file_that_cannot_be_read_is_quarantined_whole(pipe) -> None:  # type: ignore[no-untyped-def]
    result = pipe.send(b"\xff\xfe not a csv", channel="council", sender="E06000019")
    assert (result.status, result.kind) == ("quarantined", "council-file")
    wrong_la = pipe.send(council_file(*plan_rows(synthetic(4213))), channel="council",
                         sender="QGH")
    assert (wrong_la.status, wrong_la.kind) == ("quarantined", "council-file")
    assert "not a council GSS code" in wrong_la.reason


def test_a_council_file_for_someone_not_yet_entitled_replays_once_they_are(pipe) -> None:  # type: ignore[no-untyped-def]
    dan = synthetic(4214)
    early = council_file(*plan_rows(dan, "CP-4"))
    assert pipe.send(early, channel="council", sender="E06000019").status == "quarantined"
    [row] = pipe.rows("quarantined")
    _entitled(pipe, dan, "CD")
    [replayed] = quarantine.replay(pipe.inbound, pipe.sessions, [row.id])
    assert replayed.result.status == "applied"
    assert store.find(pipe.sessions, row.id).state == "resolved"
