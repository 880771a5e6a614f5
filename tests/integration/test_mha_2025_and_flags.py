"""Through the register service on SQLite and PostgreSQL: the MHA 2025 rule sets switched on
by the locality policy (L6, L7, D8), the Ombudsman flags raised and cleared as the facts
change and published through the outbox (O1-O4), and O5's refusal; refusals change nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from queues.outbound.scheduler import ReviewScheduler
from register import commands as c
from register.errors import RuleViolation
from register.model import (
    AccommodationType,
    Address,
    EndReason,
    FundingBasis,
    NoticeMethod,
    PlanStatus,
    WrittenNotice,
)
from register.nhs_number import synthetic
from register.queries import responsibility
from register.refdata.sql import SqlRefData
from register.rules.ports import AppliesTo, Commencement, LocalityPolicy
from register.service import RegisterService
from register.store import database
from register.store.casework_tables import CaseworkIndexRow
from register.store.orm import OutboxRow
from register.store.uow import SqlUnitOfWork
from tests.builders import line
from tests.conftest import TODAY, table_dump
from tests.integration.test_service_store import admit, ask, discharge

HEREFORDSHIRE, SWINDON, WORCESTERSHIRE = "E06000019", "E06000030", "E10000034"
GLOUCESTERSHIRE = "E10000013"
ON = Commencement(date(2026, 4, 1), AppliesTo.DETENTIONS_FROM)
MHA_2025 = LocalityPolicy(rule_sets={"mha-2025-s46-deeming": ON, "mha-2025-s46-notice": ON})


def service_with(engine, policy: LocalityPolicy) -> RegisterService:  # type: ignore[no-untyped-def]
    sessions = database.session_factory(engine)
    return RegisterService(lambda: SqlUnitOfWork(sessions), SqlRefData(sessions), policy,
                           today=lambda: TODAY)


def moved(nhs: str, key: str, postcode: str, since: date,
          kind: AccommodationType | None = None, placed_by: str | None = None) -> c.UpdatePerson:
    return c.UpdatePerson(command_id=f"address-{key}-{nhs}", nhs_number=nhs, effective=since,
                          address=Address(postcode=postcode, accommodation=kind,
                                          placed_by=placed_by))


def events(engine, nhs_events: set[str] | None = None) -> list[tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        rows = session.scalars(select(OutboxRow).order_by(OutboxRow.id)).all()
        return [(r.event, r.payload.get("flag")) for r in rows
                if nhs_events is None or r.event in nhs_events]


FLAG_EVENTS = {"flag-raised", "flag-cleared"}


# --- L6/L7 ----------------------------------------------------------------------------------


def _placed_from_worcester(service: RegisterService, nhs: str) -> None:
    service.handle(moved(nhs, "home", "WR1 1AA", date(2015, 1, 1)))
    service.handle(moved(nhs, "care-home", "SN1 1AA", date(2025, 1, 1),
                         AccommodationType.SPECIFIED, WORCESTERSHIRE))
    service.handle(admit(nhs, day="2026-06-01", postcode="SN1 1AA"))


def test_l7_switched_on_the_council_of_the_residence_before_the_placement(engine, uow):
    nhs = synthetic(1901)
    _placed_from_worcester(service_with(engine, MHA_2025), nhs)
    answer = responsibility(uow(), SqlRefData(database.session_factory(engine)), MHA_2025,
                            nhs, TODAY)
    assert answer.local_authority == WORCESTERSHIRE
    assert {"L6", "L7"} <= {b.rule_id for b in answer.basis}


def test_l6_shipped_off_the_same_facts_give_the_placement_council(engine, service, uow):
    nhs = synthetic(1902)
    _placed_from_worcester(service, nhs)
    assert ask(engine, uow, nhs).local_authority == SWINDON


# --- D8 -------------------------------------------------------------------------------------


def _ready_to_end(service: RegisterService, nhs: str) -> str:
    service.handle(admit(nhs))
    service.handle(discharge(nhs))
    service.handle(c.RecordReview(command_id=f"review-{nhs}", nhs_number=nhs,
                                  entitlement_id=None, on=date(2026, 10, 1),
                                  needs_arise_from_disorder=False))
    return service._entitlement(_facts(service, nhs), None)[0].id


def _facts(service: RegisterService, nhs: str):  # type: ignore[no-untyped-def]
    with service._uow() as uow:
        return uow.people.get(nhs).facts


def _end(nhs: str, ent_id: str, notice: WrittenNotice | None, cid: str) -> c.EndEntitlement:
    return c.EndEntitlement(
        command_id=cid, nhs_number=nhs, entitlement_id=ent_id, decision_date=date(2026, 10, 2),
        la_agreed=True, icb_agreed=True, person_involved=True,
        reasons=(EndReason.NO_LONGER_NEEDED,), la_agreed_by="A. Khan",
        la_agreed_on=date(2026, 10, 2), icb_agreed_by="B. Cole", icb_agreed_on=date(2026, 10, 2),
        notice=notice)


def test_d8_switched_on_an_end_without_the_notice_is_refused_and_nothing_changes(engine, uow):
    service = service_with(engine, MHA_2025)
    nhs = synthetic(1903)
    ent_id = _ready_to_end(service, nhs)
    before = table_dump(engine)
    with pytest.raises(RuleViolation) as err:
        service.handle(_end(nhs, ent_id, None, "end-1"))
    assert err.value.rule == "D8"
    assert table_dump(engine) == before
    notice = WrittenNotice(date(2026, 10, 2), [HEREFORDSHIRE, "QGH"], NoticeMethod.POST,
                           "Letter ending s117 aftercare")
    service.handle(_end(nhs, ent_id, notice, "end-2"))
    assert ask(engine, uow, nhs).status == "ended"
    assert _facts(service, nhs).end_decisions[0].notice == notice


def test_d8_shipped_off_the_same_end_needs_no_notice(engine, service, uow):
    nhs = synthetic(1904)
    ent_id = _ready_to_end(service, nhs)
    service.handle(_end(nhs, ent_id, None, "end-1"))
    assert ask(engine, uow, nhs).status == "ended"


# --- O1-O4 ---------------------------------------------------------------------------------


def test_o1_o2_o3_raised_at_a_late_discharge_and_cleared_by_a_plan_with_events(engine, service):
    """Discharged 2024-05-10 and nothing recorded since: all three flags are in force today
    and announced, each once; a plan with an assessment clears them, announced too."""
    nhs = synthetic(1905)
    service.handle(admit(nhs))
    service.handle(discharge(nhs))
    # O1 comes with the discharge; O2 and O3 came with the window's closing (2024-06-22),
    # which the scheduler announces, once.
    assert [f for e, f in events(engine, FLAG_EVENTS)] == ["no-aftercare-plan"]
    scheduler = ReviewScheduler(database.session_factory(engine), today=lambda: TODAY,
                                flags=True)
    scheduler.run_once()
    scheduler.run_once()
    raised = sorted(f for e, f in events(engine, FLAG_EVENTS) if e == "flag-raised")
    assert raised == ["entitlement-not-acknowledged", "no-aftercare-plan", "no-assessment"]
    with Session(engine) as session:
        codes = set(session.scalars(select(CaseworkIndexRow.code).where(
            CaseworkIndexRow.kind == "alert")))
    assert {"no-aftercare-plan", "no-assessment", "entitlement-not-acknowledged"} <= codes
    service.handle(c.RecordCarePlan(
        command_id=f"plan-{nhs}", nhs_number=nhs, plan_id="P1905", entitlement_id=None,
        status=PlanStatus.ACTIVE, lines=(line(),), agreed_on=date(2026, 11, 1),
        needs=(c.AssessedNeed("mental-healthcare", True),),
        care_coordinator=c.CareCoordinator("Jo Bloggs", "R1A")))
    cleared = sorted(f for e, f in events(engine, FLAG_EVENTS) if e == "flag-cleared")
    assert cleared == ["entitlement-not-acknowledged", "no-aftercare-plan", "no-assessment"]
    scheduler.run_once()
    assert len(events(engine, FLAG_EVENTS)) == 6, "cleared flags are not raised again"


def test_o2_o3_the_scheduler_raises_them_the_day_after_the_window_closes(engine, service):
    nhs = synthetic(1910)
    service.handle(admit(nhs, day="2026-10-01"))
    service.handle(discharge(nhs, day="2026-11-10"))  # the window closes 2026-12-22
    sessions = database.session_factory(engine)
    ReviewScheduler(sessions, today=lambda: date(2026, 12, 22), flags=True).run_once()
    assert not [f for e, f in events(engine, FLAG_EVENTS) if f != "no-aftercare-plan"]
    ReviewScheduler(sessions, today=lambda: date(2026, 12, 23), flags=True).run_once()
    with Session(engine) as session:
        raised = {(r.payload["flag"], r.payload["effective"]) for r in session.scalars(
            select(OutboxRow).where(OutboxRow.event == "flag-raised"))}
    assert {("no-assessment", "2026-12-23"),
            ("entitlement-not-acknowledged", "2026-12-23")} <= raised


def test_o4_a_charge_raises_the_flag_and_its_full_refund_clears_it(engine, service):
    nhs = synthetic(1906)
    service.handle(admit(nhs))
    service.handle(discharge(nhs))
    charge = c.RecordCharge(command_id=f"charge-{nhs}", nhs_number=nhs, charge_id="CH-1",
                            entitlement_id=None, charged_from=date(2025, 1, 1),
                            charged_to=date(2025, 12, 31), amount=Decimal("5200"),
                            charged_by=HEREFORDSHIRE)
    service.handle(charge)
    assert ("flag-raised", "charged-for-s117") in events(engine, FLAG_EVENTS)
    service.handle(replace(charge, command_id=f"refund-{nhs}",
                           refunded_amount=Decimal("5461.30"), refunded_on=date(2026, 3, 1)))
    assert events(engine, FLAG_EVENTS)[-1] == ("flag-cleared", "charged-for-s117")
    [kept] = _facts(service, nhs).charges
    assert kept.refunded and kept.amount == Decimal("5200")


def test_o4_moving_the_placement_to_care_act_funding_raises_the_flag(engine, service):
    nhs = synthetic(1907)
    service.handle(admit(nhs))
    service.handle(discharge(nhs))
    home = replace(line("home", "residential-care", "s117", cost="900"), provider="Oak House")
    plan = c.RecordCarePlan(command_id=f"plan-{nhs}", nhs_number=nhs, plan_id="P1907",
                            entitlement_id=None, status=PlanStatus.ACTIVE, lines=(home,),
                            agreed_on=date(2024, 5, 10),
                            care_coordinator=c.CareCoordinator("Jo Bloggs", "R1A"))
    service.handle(plan)
    assert ("flag-raised", "charged-for-s117") not in events(engine, FLAG_EVENTS)
    care_act = replace(home, funding_basis=FundingBasis.CARE_ACT, meets_disorder_need=False)
    service.handle(replace(plan, command_id=f"plan2-{nhs}", lines=(care_act,)))
    assert ("flag-raised", "charged-for-s117") in events(engine, FLAG_EVENTS)


# --- O5 ---------------------------------------------------------------------------------------


def _moved_to_swindon(service: RegisterService, nhs: str) -> None:
    service.handle(admit(nhs))  # from Herefordshire
    service.handle(discharge(nhs, to="SN1 1AA"))


def test_o5_a_transfer_to_the_council_moved_to_is_refused_naming_l2(engine, service):
    nhs = synthetic(1908)
    _moved_to_swindon(service, nhs)
    before = table_dump(engine)
    with pytest.raises(RuleViolation) as err:
        service.handle(c.RecordOrdinaryResidence(
            command_id=f"or-{nhs}", nhs_number=nhs, la_gss=SWINDON, decided_by="Swindon OR",
            decided_on=date(2024, 7, 1), decided_by_org=SWINDON))
    assert err.value.rule == "O5" and "(L2)" in str(err.value)
    assert table_dump(engine) == before


def test_o5_a_decision_on_residence_before_the_detention_is_taken(engine, service, uow):
    nhs = synthetic(1909)
    _moved_to_swindon(service, nhs)
    service.handle(c.RecordOrdinaryResidence(
        command_id=f"or-{nhs}", nhs_number=nhs, la_gss=GLOUCESTERSHIRE, decided_by="OR panel",
        decided_on=date(2024, 7, 1), evidence="tenancy in Gloucester until admission"))
    assert ask(engine, uow, nhs).local_authority == GLOUCESTERSHIRE
