"""The Ombudsman's case stories (seed 000) and the local policies (seeds 001, 004) played
through the register service on a real store: each failure the register must make
impossible to miss either shows up as a flag, a task and an event, or is refused naming the
rule. Each test names the rule ids (RULES.md sections L5, F, R, D) it proves."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from register import commands as c
from register.casework import AlertCode, TaskKind, TaskStatus
from register.errors import RuleViolation
from register.model import Address, DisputeStatus, EndReason, PanelOutcome, PlanStatus
from register.nhs_number import synthetic
from register.queries import overdue_reviews, responsibility
from register.refdata.sql import SqlRefData
from register.rules.ports import LocalityOverride, LocalityPolicy
from register.service import RegisterService
from register.store import database
from register.store.casework_views import CaseworkViews, TaskFilter
from register.store.uow import SqlUnitOfWork
from register.store.views import RegisterViews
from tests.builders import line
from tests.conftest import TODAY, table_dump
from tests.integration.test_service_store import admit, ask, discharge, t

HEREFORDSHIRE, SWINDON, ROTHERHAM = "E06000019", "E06000030", "E08000018"


def register(engine, policy: LocalityPolicy | None = None):  # type: ignore[no-untyped-def]
    policy = policy or LocalityPolicy()
    sessions = database.session_factory(engine)
    service = RegisterService(lambda: SqlUnitOfWork(sessions), SqlRefData(sessions), policy,
                              today=lambda: TODAY)
    return service, CaseworkViews(sessions, policy)


def casework(views, engine, uow, nhs: str):  # type: ignore[no-untyped-def]
    """The responsibility answer and the person's casework as the read side shows them."""
    [pid] = RegisterViews(database.session_factory(engine)).person_ids_by_nhs_number((nhs,))
    return ask(engine, uow, nhs), views.person_casework(pid).casework


def flags(work, on: date = TODAY) -> set[str]:
    return {a.code.value for a in work.alerts if a.active_on(on)}


def plan(nhs: str, *lines, cid: str, status=PlanStatus.ACTIVE, coordinator: str | None =
         "Dee Patel, CMHT", agreed: date = date(2024, 5, 20), **more) -> c.RecordCarePlan:
    return c.RecordCarePlan(
        command_id=cid, nhs_number=nhs, plan_id=f"plan-{nhs}", entitlement_id=None,
        status=status, lines=lines, agreed_on=agreed,
        care_coordinator=c.CareCoordinator(coordinator, "R1A") if coordinator else None,
        **more)


def end(nhs: str, ent: str, *reasons: EndReason, cid: str, on: date = date(2026, 11, 1),
        **more) -> c.EndEntitlement:
    values = dict(la_agreed=True, la_agreed_by="Herefordshire s117 lead", la_agreed_on=on,
                  icb_agreed=True, icb_agreed_by="QGH s117 commissioner", icb_agreed_on=on,
                  person_involved=True)
    return c.EndEntitlement(command_id=cid, nhs_number=nhs, entitlement_id=ent,
                            decision_date=on, reasons=reasons, **{**values, **more})


def test_sarah_discharged_with_no_care_plan_and_no_care_coordinator(engine, uow):
    """Sarah (19 016 759): s3, discharged with no care plan and no care coordinator, never
    reviewed. The register flags each gap the day she leaves hospital (E2), publishes a
    needs-review event, and the missed first review is overdue six weeks later (R1, R3)."""
    service, views = register(engine)
    nhs = synthetic(50)
    service.handle(admit(nhs, day="2024-03-01"))
    left = service.handle(discharge(nhs, day="2024-04-10"))
    assert any(e.event.value == "needs-review" and "no aftercare plan" in e.detail
               for e in left.events)
    answer, work = casework(views, engine, uow, nhs)
    assert {"entitled", "no-aftercare-plan", "review-overdue"} <= flags(work)
    assert answer.review_overdue and answer.next_review_due == date(2024, 5, 22)  # R1
    # A plan arrives later, still without a care coordinator: that is flagged too.
    service.handle(plan(nhs, line(), cid="sarah-plan", coordinator=None,
                        agreed=date(2024, 6, 1)))
    _, work = casework(views, engine, uow, nhs)
    assert "no-care-coordinator" in flags(work) and "no-aftercare-plan" not in flags(work)
    # history keeps that she left hospital before any plan existed
    [gap] = [a for a in work.alerts if a.code is AlertCode.NO_PLAN]
    assert (gap.since, gap.until) == (date(2024, 4, 10), date(2024, 6, 1))
    service.handle(plan(nhs, line(), cid="sarah-plan-2", agreed=date(2024, 6, 1)))
    answer, work = casework(views, engine, uow, nhs)
    assert not {"no-care-coordinator", "no-aftercare-plan"} & flags(work)
    assert not [r for r in answer.needs_review if r.startswith("E2")]


def test_marlon_waited_48_weeks_for_funding_and_the_delay_shows(engine, uow):
    """Marlon (18 012 800): private support requested from the CCG took 12 months to be
    funded jointly. A personal health budget line records its request date (F5); it sits
    on the panel agenda, ageing, until the panel decides; the decision records its date."""
    service, views = register(engine)
    nhs = synthetic(51)
    service.handle(admit(nhs, day="2018-11-01"))
    service.handle(discharge(nhs, day="2019-01-02"))
    phb = line("private-support", "personal-health-budget", funders="QGH=50;E06000019=50",
               cost="180", requested="2019-01-10")
    with pytest.raises(RuleViolation) as refused:  # F5: the request date must be kept
        service.handle(plan(nhs, line("private-support", "personal-health-budget",
                                      funders="QGH=50;E06000019=50"), cid="marlon-0",
                            agreed=date(2019, 1, 2)))
    assert refused.value.rule == "F5"
    service.handle(plan(nhs, phb, cid="marlon-1", agreed=date(2019, 1, 2)))
    total, found = views.search_tasks(views_filter(HEREFORDSHIRE))
    assert total == 1
    _, work = casework(views, engine, uow, nhs)
    [waiting] = [x for x in work.tasks if x.status is TaskStatus.REQUESTED
                 and x.kind is TaskKind.PANEL]
    assert waiting.authored_on == date(2019, 1, 10)
    assert (date(2019, 12, 10) - waiting.authored_on).days == 334  # still waiting
    service.handle(c.RecordPanelDecision(
        command_id="marlon-panel", nhs_number=nhs, plan_id=f"plan-{nhs}",
        line_id="private-support", outcome=PanelOutcome.APPROVED,
        decided_on=date(2019, 12, 12), members=("QGH", HEREFORDSHIRE),
        note="jointly funded"))
    _, work = casework(views, engine, uow, nhs)
    [decided] = [x for x in work.tasks if x.kind is TaskKind.PANEL]
    assert (decided.authored_on, decided.done_on) == (date(2019, 1, 10), date(2019, 12, 12))
    assert (decided.done_on - decided.authored_on).days == 336  # 48 weeks
    assert views.search_tasks(views_filter(HEREFORDSHIRE))[0] == 0


def views_filter(la: str) -> TaskFilter:
    """The panel agenda of a council."""
    return TaskFilter(codes=("panel-decision",), statuses=("requested",), owners=(la,))


def test_ruth_care_home_for_mental_health_needs_is_not_charged_to_her(engine):
    """Ruth (18 011 391): the team recommended accommodation for her mental health needs,
    her family paid the care home from her funds. Recording the care home as a Care Act
    service paid by her, when the assessment ties it to her mental disorder, is refused
    (F1, F4); recorded as s117, split between council and CCG, it is accepted (F2)."""
    service, _ = register(engine)
    nhs = synthetic(52)
    service.handle(admit(nhs, day="2021-01-05"))
    service.handle(discharge(nhs, day="2021-03-01"))
    needs = (c.AssessedNeed("accommodation", True), c.AssessedNeed("physical-health", False))
    charged = line("home", "residential-care", "care-act", "person=100", cost="950",
                   meets=False, needs=("accommodation",))
    before = table_dump(engine)
    with pytest.raises(RuleViolation) as refused:
        service.handle(plan(nhs, charged, cid="ruth-1", needs=needs,
                            agreed=date(2021, 3, 1)))
    assert (refused.value.rule, refused.value.field) == ("F4", "lines[0].funding_basis")
    assert table_dump(engine) == before
    free = line("home", "residential-care", "s117", "E06000019=50;QGH=50", cost="950",
                needs=("accommodation",))
    nursing = line("nursing", "other", "fnc", "QGH=100", cost="219", meets=False,
                   needs=("physical-health",))
    service.handle(plan(nhs, free, nursing, cid="ruth-2", needs=needs,
                        agreed=date(2021, 3, 1)))


def test_priya_sheltered_accommodation_was_never_hers_to_pay_and_never_reviewed(engine, uow):
    """Priya's mother (18 O10 781): sheltered accommodation in her s117 plan, paid through
    housing benefit and by the family since 2016, never reviewed. Paying it by housing
    benefit or by her is refused (F4); it goes on the register as s117; the missing review
    is overdue (R1, R3) and on the scheduler's list; ending it needs the move first (D4)."""
    service, views = register(engine)
    nhs = synthetic(53)
    service.handle(admit(nhs, day="2016-02-01"))
    service.handle(discharge(nhs, day="2016-06-15"))
    for payer in ("housing-benefit", "person"):
        with pytest.raises(RuleViolation) as refused:
            service.handle(plan(nhs, line("flat", "supported-accommodation",
                                          funders=f"E06000019=40;{payer}=60", cost="320"),
                                cid=f"priya-{payer}", agreed=date(2016, 6, 15)))
        assert (refused.value.rule, refused.value.field) == ("F4", "lines[0].funders")
    flat = line("flat", "supported-accommodation", funders="E06000019=100", cost="320")
    service.handle(plan(nhs, flat, cid="priya-ok", agreed=date(2016, 6, 15)))
    answer, work = casework(views, engine, uow, nhs)
    assert {"entitled", "review-overdue"} <= flags(work)
    [late] = [a for a in work.alerts if a.code is AlertCode.REVIEW_OVERDUE]
    assert late.since == date(2016, 7, 28)  # six weeks after discharge (R1), then overdue
    assert nhs in [s.nhs_number for s in overdue_reviews(uow(), TODAY)]
    service.handle(c.RecordReview(command_id="priya-review", nhs_number=nhs,
                                  entitlement_id=None, on=date(2026, 10, 1),
                                  outcome="moving on", needs_arise_from_disorder=False))
    with pytest.raises(RuleViolation) as refused:
        service.handle(end(nhs, answer.entitlement_id, EndReason.NO_LONGER_NEEDED,
                           cid="priya-end"))
    assert refused.value.rule == "D4"
    service.handle(end(nhs, answer.entitlement_id, EndReason.NO_LONGER_NEEDED,
                       cid="priya-end-2", moved_to_suitable_accommodation=True))
    assert ask(engine, uow, nhs).status == "ended"


def test_ending_without_the_proper_process_is_refused_naming_the_rule(engine, uow):
    """Ending s117 "without following the proper process" (seed 000): by one body alone
    (D1), with no review (D1), on a CTO (D2), for reasons that are not enough (D3). The
    proper decision records who agreed for each body and when and the formal end date
    (D5); aftercare can be reinstated when the person deteriorates (D6)."""
    service, _ = register(engine)
    nhs, cto = synthetic(54), synthetic(55)
    service.handle(admit(nhs, ref="E1", day="2023-01-10"))
    service.handle(discharge(nhs, ref="E1", day="2023-03-01"))
    ent = ask(engine, uow, nhs).entitlement_id
    with pytest.raises(RuleViolation) as refused:
        service.handle(end(nhs, ent, EndReason.NO_LONGER_NEEDED, cid="e0"))
    assert refused.value.rule == "D1" and "review" in refused.value.message
    service.handle(c.RecordReview(command_id="rv", nhs_number=nhs, entitlement_id=ent,
                                  on=date(2026, 10, 20), outcome="well, settled at home",
                                  needs_arise_from_disorder=False, carer_involved=True,
                                  attendees=(c.Attendee("Dee Patel", "care coordinator"),)))
    with pytest.raises(RuleViolation) as refused:
        service.handle(end(nhs, ent, EndReason.NO_LONGER_NEEDED, cid="e1", icb_agreed=False))
    assert (refused.value.rule, refused.value.field) == ("D1", "icb-agreed")
    with pytest.raises(RuleViolation) as refused:
        service.handle(end(nhs, ent, EndReason.NO_LONGER_NEEDED, cid="e2", la_agreed_by=""))
    assert (refused.value.rule, refused.value.field) == ("D1", "la-agreed-by")
    with pytest.raises(RuleViolation) as refused:
        service.handle(end(nhs, ent, EndReason.DISCHARGED_FROM_SPECIALIST_SERVICES,
                           EndReason.TIME_ELAPSED, cid="e3"))
    assert refused.value.rule == "D3"
    service.handle(end(nhs, ent, EndReason.NO_LONGER_NEEDED, cid="e4",
                       end_date=date(2026, 11, 30), carer_involved=True))
    # D5: it ends on the formal end date, not the day of the decision
    assert [ask(engine, uow, nhs, day).status for day in (date(2026, 11, 29),
                                                          date(2026, 11, 30))] == \
        ["active", "ended"]
    service.handle(c.ReinstateEntitlement(command_id="back", nhs_number=nhs,
                                          entitlement_id=ent, on=date(2026, 12, 1),
                                          reason="relapse within weeks"))
    assert ask(engine, uow, nhs, date(2026, 12, 1)).status == "active"  # D6
    service.handle(admit(cto, ref="C1", day="2024-06-01"))
    service.handle(c.StartCto(command_id="cto", nhs_number=cto, trust_ods="R1A",
                              stay_ref="C1", at=t("2024-08-01")))
    cto_ent = ask(engine, uow, cto).entitlement_id
    service.handle(c.RecordReview(command_id="rv-cto", nhs_number=cto, entitlement_id=None,
                                  on=date(2026, 10, 20), needs_arise_from_disorder=False))
    with pytest.raises(RuleViolation) as refused:
        service.handle(end(cto, cto_ent, EndReason.NO_LONGER_NEEDED, cid="cto-end"))
    assert refused.value.rule == "D2"


def test_l5_a_dispute_between_councils_never_delays_care(engine, uow):
    """Seed 003: "Even if this happens your care planning and discharge should not be
    delayed." Herefordshire and Swindon dispute ordinary residence; Swindon, where the
    person lives, leads meanwhile; reviews stay due and the plan is recorded; the
    Secretary of State's determination re-determines responsibility with history kept."""
    service, views = register(engine)
    nhs = synthetic(56)
    service.handle(admit(nhs, day="2024-01-10"))
    service.handle(discharge(nhs, day="2024-03-01", to="SN1 1AA"))
    service.handle(c.OpenDispute(command_id="d-open", nhs_number=nhs, dispute_id="OR-17",
                                 entitlement_id=None, parties=(HEREFORDSHIRE, SWINDON),
                                 opened_on=date(2024, 3, 5)))
    service.handle(plan(nhs, line(), cid="plan-during-dispute", agreed=date(2024, 3, 1)))
    answer, work = casework(views, engine, uow, nhs)
    assert answer.status == "active" and answer.next_review_due == date(2024, 4, 12)
    assert "responsibility-disputed" in flags(work)
    [dispute] = [x for x in work.tasks if x.kind is TaskKind.OR_DISPUTE]
    assert dispute.owner == SWINDON and dispute.status is TaskStatus.IN_PROGRESS
    service.handle(c.UpdateDispute(command_id="d-ref", nhs_number=nhs, dispute_id="OR-17",
                                   status=DisputeStatus.REFERRED, on=date(2024, 6, 1)))
    service.handle(c.UpdateDispute(command_id="d-res", nhs_number=nhs, dispute_id="OR-17",
                                   status=DisputeStatus.RESOLVED, on=date(2025, 1, 20),
                                   resolved_la=SWINDON))
    answer, work = casework(views, engine, uow, nhs)
    assert answer.local_authority == SWINDON
    assert "responsibility-disputed" not in flags(work)
    assert ask(engine, uow, nhs, date(2024, 6, 1)).local_authority == SWINDON
    assert {b.rule_id for b in answer.basis} >= {"L1"}


def test_rdash_reviews_six_weeks_then_six_months_and_herefordshire_panel_sees_every_package(
        engine, uow):
    """Seed 004 (Rotherham): first review within 6 weeks, then every 6 months (R1, R2 per
    locality). Seed 001 (Herefordshire): the panel considers all s117 packages."""
    policy = LocalityPolicy(localities={
        ROTHERHAM: LocalityOverride(review_interval_months=6),
        HEREFORDSHIRE: LocalityOverride(panel_weekly_cost=Decimal(0))})
    service, views = register(engine, policy)
    rotherham, hereford = synthetic(57), synthetic(58)
    service.handle(c.Admit(command_id="r-a", nhs_number=rotherham, occurred_at=t("2025-01-10"),
                           trust_ods="RXE", stay_ref="R1", admitted_at=t("2025-01-10"),
                           legal_status="03", residence_before=Address(postcode="S60 1AA"),
                           gp_practice="Z40001"))
    service.handle(c.Discharge(command_id="r-d", nhs_number=rotherham,
                               occurred_at=t("2025-03-01"), trust_ods="RXE", stay_ref="R1",
                               discharged_at=t("2025-03-01")))
    service.handle(c.RecordReview(command_id="r-rv", nhs_number=rotherham,
                                  entitlement_id=None, on=date(2025, 4, 1)))
    answer = responsibility(uow(), service.refdata, policy, rotherham, TODAY)
    assert answer.next_review_due == date(2025, 10, 1)
    service.handle(admit(hereford, ref="H9", day="2025-01-10"))
    service.handle(discharge(hereford, ref="H9", day="2025-03-01"))
    service.handle(plan(hereford, line("day", "day-services", cost="40"), cid="h-plan",
                        agreed=date(2025, 3, 1)))
    assert views.search_tasks(views_filter(HEREFORDSHIRE))[0] == 1
