"""Casework derived from the facts: plans as shown with panel status, tasks and dated alerts
(RULES.md E2, L5, R1-R3, F5, D1; the panel of seeds 001 and 004)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from register import casework
from register.casework import AlertCode, PanelStatus, TaskKind, TaskStatus
from register.model import (
    Dispute,
    DisputeStatus,
    OrdinaryResidenceDecision,
    PanelDecision,
    PanelOutcome,
    Review,
)
from register.rules.entitlements import derive
from register.rules.ports import LocalityOverride, LocalityPolicy
from tests.builders import HEREFORDSHIRE, SWINDON, line, person, plan, refdata, stay

RD = refdata()
POLICY = LocalityPolicy()


def discharged(**more):
    facts = person(stay("A", "2023-01-10", ("03", "2023-01-10"), discharged="2023-03-01",
                        **more))
    [ent] = derive(facts, RD, POLICY)
    return facts, ent


def work(facts, policy=POLICY):
    ents = derive(facts, RD, policy)
    return ents, casework.derive(facts, ents, policy)


def alerts(cw, code, on=date(2026, 11, 22)):
    return [a for a in cw.alerts if a.code is code and a.active_on(on)]


def test_e2_o1_aftercare_without_a_plan_is_flagged_and_needs_review():
    """Sarah's case (seed 000): discharged with no care plan and no care coordinator."""
    facts, ent = discharged()
    [ent], cw = work(facts)
    assert any(r.startswith("E2:") and "no aftercare plan" in r for r in ent.needs_review)
    [flag] = alerts(cw, AlertCode.NO_PLAN)
    assert flag.since == date(2023, 3, 1) and flag.until is None and flag.rule_id == "O1"
    facts.plans.append(plan(ent.id, line(), coordinator=None, agreed="2023-06-01"))
    [ent], cw = work(facts)
    assert any("names no care coordinator" in r for r in ent.needs_review)
    assert alerts(cw, AlertCode.NO_COORDINATOR) and not alerts(cw, AlertCode.NO_PLAN)
    # ... and the history keeps that she left hospital three months before the plan.
    [late] = [a for a in cw.alerts if a.code is AlertCode.NO_PLAN]
    assert (late.since, late.until) == (date(2023, 3, 1), date(2023, 6, 1))
    facts.plans[0].care_coordinator = plan(ent.id).care_coordinator
    [ent], cw = work(facts)
    assert not [r for r in ent.needs_review if r.startswith("E2:")]
    assert ent.care_coordinator == "Jo Bloggs"
    assert not alerts(cw, AlertCode.NO_COORDINATOR) and not alerts(cw, AlertCode.NO_PLAN)


def test_e2_no_flag_while_planning_in_hospital_or_for_a_draft_plan_once_out():
    facts = person(stay("A", "2023-01-10", ("03", "2023-01-10")))
    [ent], cw = work(facts)
    assert not [r for r in ent.needs_review if r.startswith("E2:")]
    assert not cw.alerts
    facts, ent = discharged()
    facts.plans.append(plan(ent.id, line(), status="draft"))
    _, cw = work(facts)
    assert alerts(cw, AlertCode.NO_PLAN)  # a draft is not a plan in place


def test_r1_r3_the_next_review_is_a_task_and_overdue_is_a_flag_from_the_day_after():
    facts, ent = discharged()
    _, cw = work(facts)
    [due] = [t for t in cw.tasks if t.kind is TaskKind.REVIEW]
    assert (due.status, due.due_on) == (TaskStatus.REQUESTED, date(2023, 4, 12))
    [overdue] = [a for a in cw.alerts if a.code is AlertCode.REVIEW_OVERDUE]
    assert not overdue.active_on(date(2023, 4, 12)) and overdue.active_on(date(2023, 4, 13))
    facts.reviews.append(Review(ent.id, date(2023, 4, 20), "continue"))
    _, cw = work(facts)
    kinds = sorted((t.status.value, t.due_on) for t in cw.tasks if t.kind is TaskKind.REVIEW)
    assert kinds == [("completed", None), ("requested", date(2024, 4, 20))]
    assert not alerts(cw, AlertCode.REVIEW_OVERDUE, date(2024, 4, 20))
    # the late first review stays in the history as a period that has ended
    assert [(a.since, a.until) for a in cw.alerts if a.code is AlertCode.REVIEW_OVERDUE][0] \
        == (date(2023, 4, 13), date(2023, 4, 20))


def test_l5_a_dispute_is_a_task_owned_by_the_interim_lead_and_a_flag_until_resolved():
    facts, ent = discharged()
    facts.disputes.append(Dispute(ent.id, [HEREFORDSHIRE, SWINDON], SWINDON,
                                  date(2023, 5, 1), id="d1"))
    [ent], cw = work(facts)
    [task] = [t for t in cw.tasks if t.kind is TaskKind.OR_DISPUTE]
    assert (task.status, task.owner, task.business_status) == (TaskStatus.IN_PROGRESS,
                                                               SWINDON, "open")
    assert alerts(cw, AlertCode.DISPUTED)
    # L5: the entitlement and its review deadline run on regardless
    assert ent.status.value == "active"
    assert [t.due_on for t in cw.tasks if t.kind is TaskKind.REVIEW] == [date(2023, 4, 12)]
    facts.disputes[0].status, facts.disputes[0].resolved_on = (DisputeStatus.RESOLVED,
                                                               date(2023, 9, 1))
    _, cw = work(facts)
    assert not alerts(cw, AlertCode.DISPUTED)
    assert [t.status for t in cw.tasks if t.kind is TaskKind.OR_DISPUTE] == \
        [TaskStatus.COMPLETED]


def test_or_decisions_and_entitlement_periods():
    facts, ent = discharged()
    facts.or_decisions.append(OrdinaryResidenceDecision(
        "RLQ/A", HEREFORDSHIRE, "OR team", date(2023, 2, 1), "tenancy agreement"))
    _, cw = work(facts)
    [decided] = [t for t in cw.tasks if t.kind is TaskKind.OR_DECISION]
    assert decided.record.evidence == "tenancy agreement"
    [entitled] = [a for a in cw.alerts if a.code is AlertCode.ENTITLED]
    assert (entitled.since, entitled.until, entitled.owner) == (date(2023, 3, 1), None,
                                                                HEREFORDSHIRE)


def agenda(cw):
    return [t for t in cw.tasks if t.kind is TaskKind.PANEL and t.status is
            TaskStatus.REQUESTED]


def test_panel_lines_above_the_weekly_cost_or_of_listed_types_wait_on_the_agenda():
    facts, ent = discharged()
    facts.plans.append(plan(ent.id,
                            line("cheap", "day-services", cost="120"),
                            line("dear", "domiciliary", cost="1200"),
                            line("home", "supported-accommodation", cost="300"),
                            line("phb", "personal-health-budget", funders="QGH=100",
                                 cost="80", requested="2019-01-10")))
    facts.plans[0].recorded_on = date(2023, 2, 20)
    _, cw = work(facts)
    state = cw.plans[0]
    assert [s.panel for s in state.lines] == [PanelStatus.NOT_REQUIRED, PanelStatus.PENDING,
                                              PanelStatus.PENDING, PanelStatus.PENDING]
    items = {t.record.state.line.id: t for t in agenda(cw)}
    assert set(items) == {"dear", "home", "phb"}
    assert items["phb"].authored_on == date(2019, 1, 10)  # F5: waiting since the request
    assert items["dear"].authored_on == date(2023, 2, 20)  # since the plan was recorded
    assert "F5" in items["phb"].record.state.panel_reason


def test_the_panel_threshold_and_types_are_per_locality():
    facts, ent = discharged()
    facts.plans.append(plan(ent.id, line("dear", "domiciliary", cost="600"),
                            line("home", "supported-accommodation", cost="300")))
    strict = LocalityPolicy(localities={HEREFORDSHIRE: LocalityOverride(
        panel_weekly_cost=Decimal(0), panel_service_types=frozenset())})
    _, cw = work(facts, strict)
    assert [s.panel for s in cw.plans[0].lines] == [PanelStatus.PENDING, PanelStatus.PENDING]
    relaxed = LocalityPolicy(panel_weekly_cost=Decimal(5000), panel_service_types=frozenset())
    _, cw = work(facts, relaxed)
    assert [s.panel for s in cw.plans[0].lines] == [PanelStatus.NOT_REQUIRED] * 2


def test_a_decision_takes_a_line_off_the_agenda_a_deferral_does_not_a_cost_rise_puts_it_back():
    facts, ent = discharged()
    facts.plans.append(plan(ent.id, line("dear", "domiciliary", cost="1200"),
                            agreed="2023-02-20"))
    deferred = PanelDecision("p1", "P1", "dear", PanelOutcome.DEFERRED, date(2023, 3, 1),
                             ["E06000019", "QGH"], "more information", Decimal(1200))
    facts.panel_decisions.append(deferred)
    _, cw = work(facts)
    [waiting] = agenda(cw)
    assert waiting.business_status == "deferred"
    approved = PanelDecision("p2", "P1", "dear", PanelOutcome.APPROVED, date(2023, 3, 15),
                             ["E06000019", "QGH"], "", Decimal(1200))
    facts.panel_decisions.append(approved)
    _, cw = work(facts)
    assert not agenda(cw) and cw.plans[0].lines[0].panel is PanelStatus.APPROVED
    decided = [t for t in cw.tasks if t.kind is TaskKind.PANEL]
    assert [(t.status, t.business_status) for t in decided] == [
        (TaskStatus.COMPLETED, "deferred"), (TaskStatus.COMPLETED, "approved")]
    facts.plans[0].lines[0].weekly_cost = Decimal(1500)
    _, cw = work(facts)
    [again] = agenda(cw)
    assert "rose from £1,200.00 to £1,500.00" in again.record.state.panel_reason
    assert again.key != waiting.key  # a new round on the agenda
