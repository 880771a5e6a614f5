"""The register service on a real store, SQLite and PostgreSQL: idempotence, held
out-of-order messages, refusals that change nothing, merges, cancellations and the
caseload queries (RULES.md E1, E2, L1, L2, N5, D1)."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from register import commands as c
from register.errors import InvalidData, NotFound, RuleViolation
from register.model import Address, EndReason
from register.nhs_number import synthetic
from register.queries import caseload, responsibility
from register.refdata.sql import SqlRefData
from register.rules.ports import LocalityPolicy
from register.store.orm import DeterminationRow, EntitlementRow, HeldRow, OutboxRow
from tests.conftest import TODAY, table_dump

HEREFORDSHIRE, SWINDON, WORCESTERSHIRE = "E06000019", "E06000030", "E10000034"


def t(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00")


def admit(nhs: str, ref: str = "H1", day: str = "2024-02-01", code: str | None = "03",
          postcode: str = "HR1 1AA", gp: str = "Z10001", trust: str = "R1A",
          cid: str | None = None) -> c.Admit:
    return c.Admit(command_id=cid or f"{trust}-{ref}-admit-{nhs}", nhs_number=nhs,
                   occurred_at=t(day), trust_ods=trust, stay_ref=ref, admitted_at=t(day),
                   legal_status=code, residence_before=Address(postcode=postcode),
                   gp_practice=gp)


def discharge(nhs: str, ref: str = "H1", day: str = "2024-05-10", to: str | None = None,
              trust: str = "R1A", cid: str | None = None) -> c.Discharge:
    return c.Discharge(command_id=cid or f"{trust}-{ref}-discharge-{nhs}", nhs_number=nhs,
                       occurred_at=t(day, 15), trust_ods=trust, stay_ref=ref,
                       discharged_at=t(day, 15),
                       destination=Address(postcode=to) if to else None)


def count(engine, table) -> int:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def ask(engine, uow, nhs: str, on: date = TODAY):  # type: ignore[no-untyped-def]
    from register.store.database import session_factory

    return responsibility(uow(), SqlRefData(session_factory(engine)), LocalityPolicy(),
                          nhs, on)


def test_admission_and_discharge_make_an_active_entitlement_with_history_and_events(
        engine, service, uow):
    nhs = synthetic(10)
    planned = service.handle(admit(nhs))
    assert planned.status == "applied"
    assert [e.event.value for e in planned.events] == ["planned"]
    started = service.handle(discharge(nhs, to="SN1 1AA"))
    assert "started" in [e.event.value for e in started.events]

    answer = ask(engine, uow, nhs)
    assert (answer.status, answer.local_authority, answer.icb) == ("active", HEREFORDSHIRE,
                                                                    "QGH")
    assert answer.out_of_area and answer.residence_la == SWINDON
    assert {"E1", "L1", "N5", "L2", "R1"} <= {b.rule_id for b in answer.basis}
    assert all(b.citation for b in answer.basis)
    # the determination is history (append-only) and every change was put in the outbox
    # in the same transaction as the change itself
    assert count(engine, DeterminationRow) == 1
    assert count(engine, OutboxRow) == len(planned.events) + len(started.events)
    assert caseload(uow(), residence_la=SWINDON, out_of_area=True)[0].nhs_number == nhs
    assert caseload(uow(), local_authority=HEREFORDSHIRE, status="active")[0].icb == "QGH"
    assert caseload(uow(), icb="QGH")[0].entitlement_id == answer.entitlement_id
    assert caseload(uow(), local_authority=SWINDON) == []


def test_the_same_command_twice_is_applied_once(engine, service):
    nhs = synthetic(11)
    first = service.handle(admit(nhs))
    before = table_dump(engine)
    again = service.handle(admit(nhs))
    assert (first.status, again.status) == ("applied", "duplicate")
    assert table_dump(engine) == before


def test_the_same_admission_under_a_new_message_id_records_one_stay(engine, service, uow):
    nhs = synthetic(12)
    service.handle(admit(nhs, cid="msg-1"))
    outcome = service.handle(admit(nhs, cid="msg-2"))
    assert outcome.status == "applied" and outcome.events == []
    with uow() as u:
        assert len(u.people.get(nhs).facts.stays) == 1


def test_a_discharge_before_its_admission_is_held_then_applied(engine, service, uow):
    nhs = synthetic(13)
    held = service.handle(discharge(nhs))
    assert held.status == "held" and "not been admitted" in held.reason
    assert count(engine, HeldRow) == 1
    assert service.handle(discharge(nhs)).status == "duplicate"  # a resend is not lost twice
    applied = service.handle(admit(nhs))
    assert {e.event.value for e in applied.events} >= {"planned", "started"}
    assert count(engine, HeldRow) == 0
    assert ask(engine, uow, nhs).status == "active"


@pytest.mark.parametrize("bad, field", [
    (lambda n: admit("9990000019"), "nhs_number"),
    (lambda n: admit(n, code="42"), "legal_status"),
    (lambda n: admit(n, gp="not a code"), "gp_practice"),
    (lambda n: c.RecordOrdinaryResidence(command_id="or-1", nhs_number=n, la_gss="E06999999",
                                         decided_by="x", decided_on=date(2024, 6, 1)),
     "la_gss"),
])
def test_bad_input_is_refused_naming_the_field_and_nothing_changes(engine, service, bad, field):
    nhs = synthetic(14)
    service.handle(admit(nhs, ref="OLD"))
    before = table_dump(engine)
    with pytest.raises(InvalidData) as refused:
        service.handle(bad(nhs))
    assert refused.value.field == field
    assert table_dump(engine) == before


def test_an_end_decision_without_both_bodies_is_refused_under_d1(engine, service, uow):
    nhs = synthetic(15)
    service.handle(admit(nhs))
    service.handle(discharge(nhs))
    ent = ask(engine, uow, nhs).entitlement_id
    service.handle(c.RecordReview(command_id="review-1", nhs_number=nhs, entitlement_id=ent,
                                  on=date(2025, 5, 20), outcome="no longer needs aftercare",
                                  needs_arise_from_disorder=False))
    agreed = dict(la_agreed_by="Herefordshire s117 lead", la_agreed_on=date(2025, 5, 20),
                  icb_agreed_by="QGH commissioner", icb_agreed_on=date(2025, 6, 1))
    before = table_dump(engine)
    with pytest.raises(RuleViolation) as refused:
        service.handle(c.EndEntitlement(
            command_id="end-1", nhs_number=nhs, entitlement_id=ent,
            decision_date=date(2025, 6, 1), la_agreed=True, icb_agreed=False,
            person_involved=True, reasons=(EndReason.NO_LONGER_NEEDED,), **agreed))
    assert refused.value.rule == "D1"
    assert table_dump(engine) == before
    with pytest.raises(NotFound):
        service.handle(c.EndEntitlement(
            command_id="end-2", nhs_number=nhs, entitlement_id="no-such-id",
            decision_date=date(2025, 6, 1), la_agreed=True, icb_agreed=True,
            person_involved=True, reasons=(EndReason.NO_LONGER_NEEDED,), **agreed))
    ended = service.handle(c.EndEntitlement(
        command_id="end-3", nhs_number=nhs, entitlement_id=ent,
        decision_date=date(2025, 6, 1), la_agreed=True, icb_agreed=True,
        person_involved=True, reasons=(EndReason.NO_LONGER_NEEDED,), **agreed))
    assert "ended" in [e.event.value for e in ended.events]
    assert ask(engine, uow, nhs).status == "ended"
    assert ask(engine, uow, nhs, date(2025, 5, 31)).status == "active"  # history kept


def test_cancelling_a_discharge_and_an_admission(engine, service, uow):
    nhs = synthetic(16)
    service.handle(admit(nhs))
    service.handle(discharge(nhs))
    assert ask(engine, uow, nhs).status == "active"
    service.handle(c.CancelDischarge(command_id="a13", nhs_number=nhs, trust_ods="R1A",
                                     stay_ref="H1", occurred_at=t("2024-05-11")))
    assert ask(engine, uow, nhs).status == "planned"
    outcome = service.handle(c.CancelAdmission(command_id="a11", nhs_number=nhs,
                                               trust_ods="R1A", stay_ref="H1",
                                               occurred_at=t("2024-05-12")))
    assert [(e.event.value, e.status) for e in outcome.events] == [("updated", "cancelled")]
    with uow() as u:
        assert [e.status.value for e in u.people.get(nhs).entitlements] == ["cancelled"]


def test_a_merge_moves_history_to_the_surviving_number(engine, service, uow):
    survivor, retired = synthetic(17), synthetic(18)
    service.handle(admit(retired))
    service.handle(discharge(retired))
    service.handle(c.MergePatient(command_id="a40", nhs_number=survivor,
                                  retired_nhs_number=retired))
    for number in (survivor, retired):
        answer = ask(engine, uow, number)
        assert (answer.nhs_number, answer.status) == (survivor, "active")
    # later messages for the retired number land on the survivor
    service.handle(admit(retired, ref="H2", day="2025-01-01", cid="after-merge"))
    with uow() as u:
        assert len(u.people.get(survivor).facts.stays) == 2
    assert count(engine, EntitlementRow) == 1  # re-detention continues the one entitlement


def test_the_caseload_queries_have_indexes_after_migration(engine):
    indexes = {tuple(ix["column_names"]) for ix in inspect(engine).get_indexes("entitlement")}
    assert {("responsible_la", "status"), ("responsible_icb", "status"),
            ("residence_la", "status"), ("next_review_due",)} <= indexes


def test_each_command_makes_at_most_one_version_and_every_version_can_be_read_back(
        engine, service):
    from register.errors import StaleVersion
    from register.store.database import session_factory
    from register.store.views import RegisterViews

    views = RegisterViews(session_factory(engine))
    nhs = synthetic(700)
    service.handle(admit(nhs))
    [pid] = views.person_ids_by_nhs_number((nhs,))
    [ent] = views.entitlements_of(pid)
    assert (views.person(pid).version, ent.version) == (1, 1)  # a new record is version 1

    service.handle(discharge(nhs))
    assert views.person(pid).version == 2
    assert views.entitlement(ent.entitlement.id).version == 2
    # A command that changes the person but not the entitlement leaves its version alone.
    service.handle(c.UpdatePerson(command_id="dob", nhs_number=nhs,
                                  date_of_birth=date(1970, 1, 2)))
    assert views.person(pid).version == 3
    assert views.entitlement(ent.entitlement.id).version == 2
    assert [p.version for p in views.person_history(pid)] == [3, 2, 1]
    assert views.person_version(pid, 1).facts.stays[0].discharged_at is None
    assert views.person_version(pid, 2).facts.stays[0].discharged_at is not None

    with pytest.raises(StaleVersion):
        service.handle(c.UpdatePerson(command_id="stale", nhs_number=nhs,
                                      date_of_birth=date(1970, 1, 3), if_version=2))
    assert views.person(pid).facts.date_of_birth == date(1970, 1, 2)
    service.handle(c.UpdatePerson(command_id="current", nhs_number=nhs,
                                  date_of_birth=date(1970, 1, 3), if_version=3))
    assert views.person(pid).version == 4


def test_commands_applied_together_are_all_or_nothing(engine, service):
    from register.errors import CommandRefused

    first, second = synthetic(701), synthetic(702)
    refused = c.EndEntitlement(command_id="end-nothing", nhs_number=second,
                               entitlement_id="no-such", decision_date=date(2024, 6, 1),
                               la_agreed=True, icb_agreed=True, person_involved=True,
                               reasons=(EndReason.NO_LONGER_NEEDED,))
    with pytest.raises(CommandRefused) as caught:
        service.handle_all([admit(first), admit(second, ref="H2"), refused])
    assert caught.value.index == 2 and isinstance(caught.value.cause, NotFound)
    assert count(engine, EntitlementRow) == 0  # the two admissions were rolled back too
    outcomes = service.handle_all([admit(first), admit(second, ref="H2")])
    assert [o.status for o in outcomes] == ["applied", "applied"]
    assert count(engine, EntitlementRow) == 2


@pytest.mark.parametrize("together", [True, False])
def test_one_visit_number_for_two_people_is_refused_naming_the_stay(engine, service, together):
    first, second = synthetic(703), synthetic(704)
    if together:
        from register.errors import CommandRefused

        with pytest.raises(CommandRefused) as refused:
            service.handle_all([admit(first), admit(second)])
        assert isinstance(refused.value.cause, InvalidData)
        assert (refused.value.index, refused.value.field) == (1, "stay_ref")
        assert count(engine, EntitlementRow) == 0
    else:
        service.handle(admit(first))
        with pytest.raises(InvalidData) as caught:
            service.handle(admit(second))
        assert caught.value.field == "stay_ref"
        assert count(engine, EntitlementRow) == 1
