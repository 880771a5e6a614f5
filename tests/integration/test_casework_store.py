"""Council casework through the register service on a real store (SQLite and PostgreSQL):
plans with versions and If-Match, refusals that change nothing, panel decisions, disputes
(L5), overdue reviews (R3), the read model kept in step with the facts."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from register import commands as c
from register.casework import AlertCode, TaskKind
from register.errors import InvalidData, NotFound, RuleViolation, StaleVersion
from register.model import DisputeStatus, PanelOutcome, PlanStatus
from register.nhs_number import synthetic
from register.queries import overdue_reviews
from register.rules.ports import LocalityPolicy
from register.store import database
from register.store.casework_tables import CarePlanRow, CaseworkIndexRow
from register.store.casework_views import AlertFilter, CaseworkViews, TaskFilter
from register.store.orm import DeterminationRow, OutboxRow
from tests.builders import line
from tests.conftest import TODAY, table_dump
from tests.integration.test_service_store import admit, ask, count, discharge

HEREFORDSHIRE, SWINDON = "E06000019", "E06000030"


def views(engine) -> CaseworkViews:  # type: ignore[no-untyped-def]
    return CaseworkViews(database.session_factory(engine), LocalityPolicy())


def entitled(service, nhs: str) -> None:  # type: ignore[no-untyped-def]
    ref = f"H{nhs[-5:]}"  # a visit number is one person's
    service.handle(admit(nhs, ref=ref))
    service.handle(discharge(nhs, ref=ref))


def care_plan(nhs: str, *lines, cid: str = "plan-1", plan_id: str = "P1", **more):
    values = dict(command_id=cid, nhs_number=nhs, plan_id=plan_id, entitlement_id=None,
                  status=PlanStatus.ACTIVE, lines=lines, agreed_on=date(2024, 5, 1),
                  care_coordinator=c.CareCoordinator("Jo Bloggs", "R1A"))
    return c.RecordCarePlan(**{**values, **more})


def outbox(engine) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return [(r.event, r.payload["detail"]) for r in
                session.scalars(select(OutboxRow).order_by(OutboxRow.id))]


def test_e2_discharge_without_a_plan_puts_a_needs_review_event_in_the_outbox(engine, service,
                                                                              uow):
    """Sarah's case: the flag and the event come with the discharge itself."""
    nhs = synthetic(30)
    service.handle(admit(nhs))
    outcome = service.handle(discharge(nhs))
    needs = [e for e in outcome.events if e.event.value == "needs-review"]
    assert needs and "E2" in needs[0].detail and "no aftercare plan" in needs[0].detail
    assert ("needs-review", needs[0].detail) in outbox(engine)
    found = views(engine).search_alerts(AlertFilter(codes=("no-aftercare-plan",),
                                                    owners=(HEREFORDSHIRE,), active_on=TODAY))
    assert found[0] == 1
    service.handle(care_plan(nhs, line()))
    assert views(engine).search_alerts(AlertFilter(codes=("no-aftercare-plan",),
                                                   active_on=TODAY))[0] == 0
    assert not [r for r in ask(engine, uow, nhs).needs_review if r.startswith("E2")]


def test_a_plan_with_split_funding_is_versioned_and_if_match_refuses_a_stale_writer(
        engine, service):
    nhs = synthetic(31)
    entitled(service, nhs)
    split = line("L1", "supported-accommodation", funders="E06000019=60;QGH=40", cost="950")
    service.handle(care_plan(nhs, split))
    stored = views(engine).plan("P1")
    assert stored.version == 1 and stored.responsible_la == HEREFORDSHIRE
    assert [s.percent for s in stored.state.lines[0].line.funders] == [Decimal(60),
                                                                      Decimal(40)]
    # the same plan sent again is no new version
    service.handle(care_plan(nhs, split, cid="plan-1-again"))
    assert views(engine).plan("P1").version == 1
    dearer = replace(split, weekly_cost=Decimal(1100))
    service.handle(care_plan(nhs, dearer, cid="plan-2", if_version=1))
    assert [p.version for p in views(engine).plan_history("P1")] == [2, 1]
    before = table_dump(engine)
    with pytest.raises(StaleVersion):
        service.handle(care_plan(nhs, split, cid="plan-3", if_version=1))
    assert table_dump(engine) == before


@pytest.mark.parametrize(("bad", "error", "rule", "field"), [
    (line(funders="E06000019=60;QGH=30"), RuleViolation, "F2", "lines[0].funders"),
    (line(funders="E06000019=60;XYZ99=40"), RuleViolation, "F2", "lines[0].funders"),
    (line(service="medication", funders="E06000019=100"), RuleViolation, "F3",
     "lines[0].funders"),
    (line(funders="E06000019=90;person=10"), RuleViolation, "F1", "lines[0].funders"),
    (line(service="supported-accommodation", funders="E06000019=50;housing-benefit=50"),
     RuleViolation, "F4", "lines[0].funders"),
    (line(service="direct-payment"), RuleViolation, "F5", "lines[0].requested_on"),
    (line(cost="-1"), InvalidData, None, "lines[0].weekly_cost"),
])
def test_a_plan_that_breaks_a_rule_is_refused_whole_and_nothing_changes(engine, service, bad,
                                                                         error, rule, field):
    nhs = synthetic(32)
    entitled(service, nhs)
    service.handle(care_plan(nhs, line("L0")))
    before = table_dump(engine)
    with pytest.raises(error) as refused:
        service.handle(care_plan(nhs, line("L0"), replace(bad, id="L1"), cid="plan-bad"))
    assert (refused.value.rule, refused.value.field) == (rule, field.replace("[0]", "[1]"))
    assert table_dump(engine) == before


def test_one_plan_in_force_per_entitlement_and_a_plan_needs_an_entitlement(engine, service):
    nhs = synthetic(33)
    with pytest.raises(NotFound):
        service.handle(care_plan(nhs, line()))
    entitled(service, nhs)
    service.handle(care_plan(nhs, line()))
    with pytest.raises(RuleViolation) as refused:
        service.handle(care_plan(nhs, line(), cid="plan-2", plan_id="P2"))
    assert refused.value.field == "status"
    service.handle(care_plan(nhs, line(), cid="plan-1-done", status=PlanStatus.COMPLETED))
    service.handle(care_plan(nhs, line(), cid="plan-2b", plan_id="P2"))
    assert count(engine, CarePlanRow) == 2


def test_panel_agenda_and_decisions_are_tasks_found_across_people(engine, service):
    first, second = synthetic(34), synthetic(35)
    for nhs in (first, second):
        entitled(service, nhs)
        service.handle(care_plan(nhs, line("L1", "residential-care", cost="1300",
                                           funders="E06000019=50;QGH=50"),
                                 cid=f"plan-{nhs}", plan_id=f"P-{nhs}"))
    pending = TaskFilter(codes=("panel-decision",), statuses=("requested",),
                         owners=(HEREFORDSHIRE,))
    total, found = views(engine).search_tasks(pending)
    assert total == 2
    with pytest.raises(InvalidData) as refused:
        service.handle(c.RecordPanelDecision(
            command_id="panel-future", nhs_number=first, plan_id=f"P-{first}", line_id="L1",
            outcome=PanelOutcome.APPROVED, decided_on=date(2099, 1, 1), members=("QGH",)))
    assert refused.value.field == "decided_on"
    with pytest.raises(NotFound):
        service.handle(c.RecordPanelDecision(
            command_id="panel-x", nhs_number=first, plan_id=f"P-{first}", line_id="nope",
            outcome=PanelOutcome.APPROVED, decided_on=TODAY, members=("QGH",)))
    service.handle(c.RecordPanelDecision(
        command_id="panel-1", nhs_number=first, plan_id=f"P-{first}", line_id="L1",
        outcome=PanelOutcome.APPROVED, decided_on=TODAY, members=(HEREFORDSHIRE, "QGH")))
    total, found = views(engine).search_tasks(pending)
    assert total == 1
    person_id, key = found[0]
    work = views(engine).person_casework(person_id)
    assert work.person.facts.nhs_number == second and work.casework.task(key)
    assert views(engine).plan(f"P-{first}").state.lines[0].panel.value == "approved"
    assert views(engine).plan(f"P-{first}").version == 2  # the plan as shown changed


def test_l5_a_dispute_runs_alongside_the_entitlement_and_resolving_redetermines(
        engine, service, uow):
    nhs = synthetic(36)
    entitled(service, nhs)
    due = ask(engine, uow, nhs).next_review_due
    opened = service.handle(c.OpenDispute(
        command_id="dispute-1", nhs_number=nhs, dispute_id="D1", entitlement_id=None,
        parties=(HEREFORDSHIRE, SWINDON), opened_on=date(2024, 6, 1)))
    # The councils' dispute acknowledges the entitlement: O3 (raised from 2024-06-22) clears.
    assert [(e.event.value, e.flag) for e in opened.events] == [
        ("needs-review", None), ("flag-cleared", "entitlement-not-acknowledged")]
    answer = ask(engine, uow, nhs)
    assert answer.status == "active" and answer.next_review_due == due  # L5: nothing paused
    assert any(r.startswith("L5") for r in answer.needs_review)
    with pytest.raises(RuleViolation) as refused:
        service.handle(c.OpenDispute(
            command_id="dispute-2", nhs_number=nhs, dispute_id="D2", entitlement_id=None,
            parties=(HEREFORDSHIRE, SWINDON), opened_on=date(2024, 6, 2)))
    assert refused.value.rule == "L5"
    service.handle(c.UpdateDispute(command_id="dispute-1-ref", nhs_number=nhs,
                                   dispute_id="D1", status=DisputeStatus.REFERRED,
                                   on=date(2024, 9, 1)))
    resolved = service.handle(c.UpdateDispute(
        command_id="dispute-1-res", nhs_number=nhs, dispute_id="D1",
        status=DisputeStatus.RESOLVED, on=date(2025, 2, 1), resolved_la=SWINDON,
        note="Secretary of State determination"))
    assert "responsibility-changed" in [e.event.value for e in resolved.events]
    answer = ask(engine, uow, nhs)
    assert answer.local_authority == SWINDON
    assert not any(r.startswith("L5") for r in answer.needs_review)
    assert count(engine, DeterminationRow) == 2  # the first determination is kept
    with Session(engine) as session:
        tasks = {r.code: r.status for r in session.scalars(select(CaseworkIndexRow).where(
            CaseworkIndexRow.kind == "task"))}
        assert tasks["or-dispute"] == "completed" and tasks["or-decision"] == "completed"
    with pytest.raises(RuleViolation):
        service.handle(c.UpdateDispute(command_id="dispute-1-again", nhs_number=nhs,
                                       dispute_id="D1", status=DisputeStatus.REFERRED,
                                       on=date(2025, 3, 1)))


def test_l5_the_interim_lead_is_where_the_person_is_unless_agreed(engine, service):
    nhs = synthetic(37)
    service.handle(admit(nhs))
    service.handle(discharge(nhs, to="SN1 1AA"))  # now lives in Swindon
    service.handle(c.OpenDispute(command_id="d", nhs_number=nhs, dispute_id="D1",
                                 entitlement_id=None, parties=(HEREFORDSHIRE, SWINDON),
                                 opened_on=date(2024, 6, 1)))
    with Session(engine) as session:
        [owner] = session.scalars(select(CaseworkIndexRow.owner).where(
            CaseworkIndexRow.code == "or-dispute"))
    assert owner == SWINDON
    with pytest.raises(RuleViolation) as refused:
        service.handle(c.OpenDispute(command_id="d2", nhs_number=nhs,
                                     dispute_id="D9", entitlement_id=None,
                                     parties=(HEREFORDSHIRE, SWINDON),
                                     opened_on=date(2024, 6, 1), interim_lead="E08000018"))
    assert (refused.value.rule, refused.value.field) == ("L5", "interim_lead")


def test_r3_overdue_reviews_are_a_query_the_scheduler_can_call(engine, service, uow):
    late, fine = synthetic(39), synthetic(40)
    entitled(service, late)
    entitled(service, fine)
    ent = ask(engine, uow, fine).entitlement_id
    service.handle(c.RecordReview(
        command_id="rv", nhs_number=fine, entitlement_id=ent, on=date(2026, 11, 1),
        attendees=(c.Attendee("Jo Bloggs", "care coordinator", "R1A"),
                   c.Attendee("Sam", "advocate")), carer_involved=True))
    found = overdue_reviews(uow(), TODAY, local_authority=HEREFORDSHIRE)
    assert [f.nhs_number for f in found] == [late]
    with pytest.raises(RuleViolation) as refused:
        service.handle(c.RecordReview(command_id="rv2", nhs_number=late, entitlement_id=None,
                                      on=date(2026, 11, 2), person_involved=False))
    assert refused.value.rule == "R3"
    with pytest.raises(InvalidData):
        service.handle(c.RecordReview(command_id="rv3", nhs_number=late, entitlement_id=None,
                                      on=date(2026, 12, 25)))
    flags = views(engine).search_alerts(AlertFilter(codes=(AlertCode.REVIEW_OVERDUE.value,),
                                                    active_on=TODAY))
    assert flags[0] == 1


def test_a_merge_moves_plans_and_casework_to_the_surviving_record(engine, service):
    survivor, retired = synthetic(41), synthetic(42)
    entitled(service, retired)
    service.handle(care_plan(retired, line()))
    service.handle(c.MergePatient(command_id="merge", nhs_number=survivor,
                                  retired_nhs_number=retired))
    plan = views(engine).plan("P1")
    work = views(engine).person_casework(plan.person_id)
    assert work.person.facts.nhs_number == survivor
    with Session(engine) as session:
        owners = set(session.scalars(select(CaseworkIndexRow.person_id)))
    assert owners == {plan.person_id}
    assert any(t.kind is TaskKind.REVIEW for t in work.casework.tasks)
