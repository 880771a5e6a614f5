"""Casework: what councils and ICBs must act on, derived from a person's facts and
entitlements. Pure: the same facts always give the same casework.

- **Plans as shown**: each aftercare plan with, per service line, whether it needs a panel
  decision (locality policy; personal budgets always, F5) and where that stands.
- **Tasks** (FHIR Task): reviews held and the next one due (R1-R3), ordinary-residence
  decisions, disputes (L5), panel decisions and the lines awaiting one (the panel agenda),
  joint end decisions (D1-D5).
- **Alerts** (FHIR Flag), each a dated period so history is kept and "active on a day" is a
  comparison: entitled to free s117 aftercare, responsibility disputed, review overdue
  (R3), no care coordinator once aftercare has begun (E2), and the failures the Ombudsman
  keeps finding (RULES.md O1-O4): no plan at discharge, no assessment or s117 meeting in the
  first-review window, the entitlement not acknowledged, charged for s117 services.

The store keeps an index of tasks and alerts for searches across people; what is shown is
always derived again from the facts by this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from register.events import EntitlementEvent, EventType
from register.handlers import stable_id
from register.model import (
    FINAL_OUTCOMES,
    PERSONAL_BUDGETS,
    AftercarePlan,
    Dispute,
    EndDecision,
    EndProposal,
    Entitlement,
    EntitlementStatus,
    OrdinaryResidenceDecision,
    PanelDecision,
    PanelOutcome,
    PersonFacts,
    PlanStatus,
    ProposalStatus,
    Review,
    ServiceLine,
)
from register.rules import reviews
from register.rules.funding import meets_disorder_need
from register.rules.ports import LocalityPolicy

# --- plans ---------------------------------------------------------------------------------


class PanelStatus(StrEnum):
    NOT_REQUIRED = "not-required"
    PENDING = "pending"
    DEFERRED = "deferred"
    APPROVED = "approved"
    APPROVED_WITH_CHANGES = "approved-with-changes"
    DECLINED = "declined"


AWAITING = frozenset({PanelStatus.PENDING, PanelStatus.DEFERRED})


@dataclass(frozen=True)
class LineState:
    line: ServiceLine
    panel: PanelStatus
    panel_reason: str  # why the line needs a decision ("" if it does not)
    decision: PanelDecision | None  # the latest decision on the line, if any
    meets_disorder_need: bool
    round: int  # final decisions so far: a new round starts when the line changes after one


@dataclass(frozen=True)
class PlanState:
    """An aftercare plan as the register shows it (CarePlan)."""

    plan: AftercarePlan
    lines: tuple[LineState, ...]

    def line(self, line_id: str) -> LineState | None:
        return next((s for s in self.lines if s.line.id == line_id), None)


def _money(value: Decimal) -> str:
    return f"£{value:,.2f}"


def panel_reason(line: ServiceLine, policy: LocalityPolicy) -> str:
    """Why a line needs a panel decision under the policy, or "" if it does not."""
    if line.service_type in PERSONAL_BUDGETS:
        return f"{line.service_type.value}: its request and decision are recorded (F5)"
    if line.service_type.value in policy.panel_service_types:
        return f"{line.service_type.value} is considered by the panel (locality policy)"
    if line.weekly_cost is not None and line.weekly_cost >= policy.panel_weekly_cost:
        return (f"weekly cost {_money(line.weekly_cost)} is at or above "
                f"{_money(policy.panel_weekly_cost)} (locality policy)")
    return ""


def line_state(plan: AftercarePlan, line: ServiceLine, decisions: list[PanelDecision],
               policy: LocalityPolicy) -> LineState:
    mine = [d for d in decisions if d.plan_id == plan.id and d.line_id == line.id]
    finals = [d for d in mine if d.outcome in FINAL_OUTCOMES]
    latest = mine[-1] if mine else None
    reason = panel_reason(line, policy)
    status = PanelStatus.PENDING if reason else PanelStatus.NOT_REQUIRED
    if latest is not None:
        status = PanelStatus(latest.outcome.value)
        rose = (latest.outcome in (PanelOutcome.APPROVED, PanelOutcome.APPROVED_WITH_CHANGES)
                and latest.weekly_cost is not None and line.weekly_cost is not None
                and line.weekly_cost > latest.weekly_cost)
        if rose:
            # A package that costs more than the panel agreed goes back to the panel.
            status = PanelStatus.PENDING
            reason = (f"weekly cost rose from {_money(latest.weekly_cost)} to "  # type: ignore[arg-type]
                      f"{_money(line.weekly_cost)} after the decision of {latest.decided_on}")  # type: ignore[arg-type]
    return LineState(line, status, reason, latest, meets_disorder_need(line, plan),
                     len(finals))


def plan_state(plan: AftercarePlan, facts: PersonFacts, policy: LocalityPolicy) -> PlanState:
    return PlanState(plan, tuple(line_state(plan, ln, facts.panel_decisions, policy)
                                 for ln in plan.lines))


# --- tasks -----------------------------------------------------------------------------------


class TaskKind(StrEnum):
    REVIEW = "review"
    OR_DECISION = "or-decision"
    OR_DISPUTE = "or-dispute"
    PANEL = "panel-decision"
    END = "end-decision"
    END_PROPOSAL = "end-proposal"


class TaskStatus(StrEnum):
    REQUESTED = "requested"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class DueReview:
    due: date
    rule_id: str  # R1 or R2
    reason: str


@dataclass(frozen=True)
class AgendaItem:
    """A service line waiting for a panel decision."""

    plan_id: str
    state: LineState


Record = (Review | OrdinaryResidenceDecision | Dispute | PanelDecision | EndDecision
          | DueReview | AgendaItem | EndProposal)


@dataclass(frozen=True)
class CaseTask:
    key: str  # unique within the person
    kind: TaskKind
    status: TaskStatus
    entitlement_id: str
    owner: str | None  # the council that acts on it
    icb: str | None
    authored_on: date  # requested (or, for a record of something done, when it was done)
    record: Record
    due_on: date | None = None
    done_on: date | None = None
    business_status: str | None = None
    plan_id: str | None = None


# --- alerts ----------------------------------------------------------------------------------


class AlertCode(StrEnum):
    ENTITLED = "entitled"
    DISPUTED = "responsibility-disputed"
    REVIEW_OVERDUE = "review-overdue"
    NO_PLAN = "no-aftercare-plan"  # O1
    NO_ASSESSMENT = "no-assessment"  # O2
    NOT_ACKNOWLEDGED = "entitlement-not-acknowledged"  # O3
    CHARGED = "charged-for-s117"  # O4
    NO_COORDINATOR = "no-care-coordinator"


# The Ombudsman's flags (RULES.md O1-O4; O5 is a refusal, not a flag) by their rule.
OMBUDSMAN: dict[AlertCode, str] = {AlertCode.NO_PLAN: "O1", AlertCode.NO_ASSESSMENT: "O2",
                                   AlertCode.NOT_ACKNOWLEDGED: "O3", AlertCode.CHARGED: "O4"}
# Raised by the first-review window closing rather than by a fact: the scheduler announces
# them (queues/outbound/scheduler.py); a change of facts announces the rest.
TIME_DRIVEN = (AlertCode.NO_ASSESSMENT, AlertCode.NOT_ACKNOWLEDGED)


def window_closed_event(code: AlertCode, entitlement_id: str, status: str,
                        local_authority: str | None, icb: str | None, paying_icb: str | None,
                        residence_la: str | None, since: date) -> EntitlementEvent:
    """The `flag-raised` event of O2 or O3 on the day the first-review window closed; its
    command id names the entitlement, flag and day, so each is raised once."""
    rule = OMBUDSMAN[code]
    return EntitlementEvent(
        EventType.FLAG_RAISED, entitlement_id, status, local_authority, icb, residence_la,
        since, f"{rule} {code.value}: raised on {since}, the first-review window having "
               "closed without it being put right",
        f"scheduler:flag:{rule}:{entitlement_id}:{since}", paying_icb=paying_icb,
        flag=code.value)


@dataclass(frozen=True)
class Alert:
    key: str  # unique within the person
    code: AlertCode
    entitlement_id: str
    since: date
    until: date | None  # None: still in force
    reason: str
    rule_id: str
    owner: str | None
    icb: str | None

    def active_on(self, day: date) -> bool:
        return self.since <= day and (self.until is None or day < self.until)


@dataclass(frozen=True)
class Casework:
    plans: tuple[PlanState, ...] = ()
    tasks: tuple[CaseTask, ...] = ()
    alerts: tuple[Alert, ...] = ()

    def task(self, key: str) -> CaseTask | None:
        return next((t for t in self.tasks if t.key == key), None)

    def plan(self, plan_id: str) -> PlanState | None:
        return next((p for p in self.plans if p.plan.id == plan_id), None)


EMPTY = Casework()


def derive(facts: PersonFacts, entitlements: list[Entitlement],
           policy: LocalityPolicy) -> Casework:
    by_id = {e.id: e for e in entitlements}
    plans = []
    for plan in facts.plans:
        ent = by_id.get(plan.entitlement_id)
        local = policy.for_la(ent.current.local_authority if ent and ent.current else None)
        plans.append(plan_state(plan, facts, local))
    tasks: list[CaseTask] = []
    alerts: list[Alert] = []
    for ent in entitlements:
        if ent.status is EntitlementStatus.CANCELLED:
            continue
        tasks += _tasks(ent, facts, policy, [p for p in plans
                                             if p.plan.entitlement_id == ent.id])
        alerts += _alerts(ent, facts, policy)
    return Casework(tuple(plans), tuple(tasks), tuple(alerts))


def _tasks(ent: Entitlement, facts: PersonFacts, policy: LocalityPolicy,
           plans: list[PlanState]) -> list[CaseTask]:
    la = ent.current.local_authority if ent.current else None
    icb = ent.current.icb if ent.current else None

    def task(key: str, kind: TaskKind, status: TaskStatus, authored_on: date, record: Record,
             **more: object) -> CaseTask:
        return CaseTask(key, kind, status, ent.id, more.pop("owner", la), icb,  # type: ignore[arg-type]
                        authored_on, record, **more)  # type: ignore[arg-type]

    out = [task(f"review-{stable_id(ent.id, r.on)}", TaskKind.REVIEW, TaskStatus.COMPLETED,
                r.on, r, done_on=r.on)
           for r in facts.reviews if r.entitlement_id == ent.id]
    due, rule = reviews.next_review_due(ent, facts.reviews, policy)
    if due is not None and rule is not None:
        held = reviews.reviews_since_start(ent, facts.reviews)
        since = held[-1].on if held else reviews.last_started(ent)
        out.append(task(f"due-{stable_id(ent.id, due)}", TaskKind.REVIEW, TaskStatus.REQUESTED,
                        since or due, DueReview(due, rule.rule_id, rule.reason), due_on=due))
    out += [task(f"or-{stable_id(d.stay_key, d.decided_on)}", TaskKind.OR_DECISION,
                 TaskStatus.COMPLETED, d.decided_on, d, done_on=d.decided_on)
            for d in facts.or_decisions if d.stay_key in ent.qualifying_stays]
    out += [task(f"dispute-{stable_id(d.id)}", TaskKind.OR_DISPUTE,
                 TaskStatus.IN_PROGRESS if d.is_open else TaskStatus.COMPLETED, d.opened_on, d,
                 owner=d.interim_lead, done_on=d.resolved_on, business_status=d.status.value)
            for d in ent.disputes]
    out += [task(f"end-{stable_id(ent.id, d.decision_date)}", TaskKind.END,
                 TaskStatus.COMPLETED, d.decision_date, d, done_on=d.ends_on)
            for d in facts.end_decisions if d.entitlement_id == ent.id]
    out += [task(f"end-proposal-{stable_id(p.id)}", TaskKind.END_PROPOSAL,
                 _PROPOSAL_STATUS[p.status], p.proposed_on, p,
                 owner=icb if p.proposed_by_kind == "la" else la,
                 done_on=p.withdrawn_on or p.responded_on,
                 business_status=p.status.value)
            for p in facts.end_proposals if p.entitlement_id == ent.id]
    live = ent.status in (EntitlementStatus.PLANNED, EntitlementStatus.ACTIVE)
    for state in plans:
        plan = state.plan
        for d in facts.panel_decisions:
            if d.plan_id == plan.id:
                line = plan.line(d.line_id)
                requested = (line.requested_on if line else None) or plan.recorded_on
                out.append(task(f"panel-{d.id}", TaskKind.PANEL, TaskStatus.COMPLETED,
                                min(requested or d.decided_on, d.decided_on), d,
                                done_on=d.decided_on, business_status=d.outcome.value,
                                plan_id=plan.id))
        if not live or plan.status not in (PlanStatus.DRAFT, PlanStatus.ACTIVE):
            continue
        for line in state.lines:
            requested = line.line.requested_on or plan.recorded_on or plan.agreed_on
            if line.panel in AWAITING and requested is not None:
                out.append(task(f"agenda-{stable_id(plan.id, line.line.id, line.round)}",
                                TaskKind.PANEL, TaskStatus.REQUESTED, requested,
                                AgendaItem(plan.id, line), business_status=line.panel.value,
                                plan_id=plan.id))
    return out


_PROPOSAL_STATUS = {ProposalStatus.PROPOSED: TaskStatus.REQUESTED,
                    ProposalStatus.AGREED: TaskStatus.COMPLETED,
                    ProposalStatus.DECLINED: TaskStatus.REJECTED,
                    ProposalStatus.WITHDRAWN: TaskStatus.CANCELLED}


class _MakeAlert(Protocol):
    def __call__(self, code: AlertCode, since: date, until: date | None, reason: str,
                 rule_id: str, *key: object) -> Alert: ...


def _alerts(ent: Entitlement, facts: PersonFacts, policy: LocalityPolicy) -> list[Alert]:
    la = ent.current.local_authority if ent.current else None
    icb = ent.current.icb if ent.current else None

    def alert(code: AlertCode, since: date, until: date | None, reason: str,
              rule_id: str, *key: object) -> Alert:
        return Alert(f"{code.value}-{stable_id(ent.id, *key)}", code, ent.id, since, until,
                     reason, rule_id, la, icb)

    out = []
    history = ent.status_history
    for i, change in enumerate(history):
        if change.status is EntitlementStatus.ACTIVE:
            until = next((c.on for c in history[i + 1:]
                          if c.status is not EntitlementStatus.ACTIVE), None)
            out.append(alert(AlertCode.ENTITLED, change.on, until,
                             f"entitled to free s117 aftercare: {change.reason}",
                             change.rule_ids[0] if change.rule_ids else "E1", change.on))
    out += [alert(AlertCode.DISPUTED, d.opened_on, d.resolved_on,
                  f"ordinary residence disputed between {', '.join(d.parties)}; interim lead "
                  f"{d.interim_lead}; {d.status.value}", "L5", d.id)
            for d in ent.disputes]
    out += [alert(AlertCode.REVIEW_OVERDUE, late.since, late.until,
                  f"s117 review due by {late.due} ({late.rule_id}) "
                  + (f"held late, on {late.until}" if late.until else "not yet held"),
                  "R3", late.due)
            for late in reviews.late_reviews(ent, facts.reviews, policy)]
    started = reviews.last_started(ent)
    if started is not None and ent.status in (EntitlementStatus.ACTIVE,
                                              EntitlementStatus.ENDED):
        # O1 keeps its history once aftercare has ended: it closes then at the latest.
        plans = [p for p in facts.plans if p.entitlement_id == ent.id
                 and p.status in (PlanStatus.ACTIVE, PlanStatus.COMPLETED)]
        in_force_from = min((d for p in plans if (d := p.agreed_on or p.recorded_on)),
                            default=None)
        if in_force_from is None or in_force_from > started:
            until = min((d for d in (in_force_from, ent.ended_on) if d), default=None)
            out.append(alert(AlertCode.NO_PLAN, started, until,
                             f"entitled from {started} with no aftercare plan recorded on the "
                             "discharge date" + (f"; a plan in force from {in_force_from}"
                                                 if in_force_from else ""), "O1", started))
    if ent.status is EntitlementStatus.ACTIVE and started is not None:
        plan = facts.active_plan(ent.id)
        in_force_from = (plan.agreed_on or plan.recorded_on) if plan else None
        if plan is not None and plan.care_coordinator is None:
            since = max(started, in_force_from or started)
            out.append(alert(AlertCode.NO_COORDINATOR, since, None,
                             f"aftercare plan {plan.id} names no care coordinator (MHA Code "
                             "of Practice 34.5)", "E2", plan.id))
    out += _first_window(ent, facts, policy.for_la(la).first_review_days, alert)
    out += _charged(ent, facts, alert)
    return out


def _first_window(ent: Entitlement, facts: PersonFacts, window: int,
                  alert: _MakeAlert) -> list[Alert]:
    """O2 and O3 for each discharge that began aftercare (after a re-detention too, when
    the duty may have moved, L3): from the day after its first-review window (R1) closes
    without an assessment or s117 meeting (O2), or without the bodies having recorded
    anything about the entitlement since the detention (O3), until the day one is
    recorded, or the period of aftercare ends first."""
    plans = [p for p in facts.plans if p.entitlement_id == ent.id]
    reviews_held = [r.on for r in facts.reviews if r.entitlement_id == ent.id]
    assessed = [d for p in plans if p.needs and (d := p.agreed_on or p.recorded_on)]
    noticed = [*reviews_held, *(d for p in plans if (d := p.recorded_on or p.agreed_on)),
               *(d.decided_on for d in facts.or_decisions if d.stay_key in ent.qualifying_stays),
               *(d.opened_on for d in ent.disputes)]
    out: list[Alert] = []
    history = ent.status_history
    detained = ent.planned_on
    for i, change in enumerate(history):
        if change.status is EntitlementStatus.PLANNED:
            detained = change.on
        if change.status is not EntitlementStatus.ACTIVE or "D6" in change.rule_ids:
            continue  # a reinstatement is not a discharge
        started = change.on
        closes = started + timedelta(days=window)
        over = next((c.on for c in history[i + 1:] if c.status is not EntitlementStatus.ACTIVE),
                    None)
        if over is not None and over <= closes:
            continue
        for code, dates, what in (
                (AlertCode.NO_ASSESSMENT, [*reviews_held, *assessed],
                 "no assessment or s117 meeting"),
                (AlertCode.NOT_ACKNOWLEDGED, noticed,
                 "the responsible bodies have not acknowledged the entitlement (no plan, "
                 "review or decision recorded)")):
            done = min((d for d in dates if d >= detained), default=None)
            if done is not None and done <= closes:
                continue
            until = min((d for d in (done, over) if d), default=None)
            out.append(alert(code, closes + timedelta(days=1), until,
                             f"discharged from a qualifying detention on {started}: {what} "
                             f"within {window} days (by {closes})"
                             + (f"; recorded on {done}" if done else ""),
                             OMBUDSMAN[code], started))
    return out


def _charged(ent: Entitlement, facts: PersonFacts, alert: _MakeAlert) -> list[Alert]:
    """O4: each charge recorded for services s117 makes free, until refunded in full; and
    each s117 service moved to Care Act funding in the same placement without an end
    decision, until moved back or aftercare ends."""
    out = []
    for charge in facts.charges:
        if charge.entitlement_id != ent.id:
            continue
        period = f"from {charge.charged_from}" + (f" to {charge.charged_to}"
                                                  if charge.charged_to else "")
        refund = (f"; refunded £{charge.refunded_amount:,.2f} on {charge.refunded_on}"
                  if charge.refunded_amount is not None and charge.refunded_on else "")
        out.append(alert(AlertCode.CHARGED, charge.charged_from,
                         charge.refunded_on if charge.refunded else None,
                         f"charged £{charge.amount:,.2f} for s117 services {period}"
                         + (f" by {charge.charged_by}" if charge.charged_by else "") + refund,
                         "O4", "charge", charge.id))
    moves = sorted((m for m in facts.funding_moves if m.entitlement_id == ent.id),
                   key=lambda m: m.on)
    for i, move in enumerate(moves):
        if move.to_s117:
            continue
        back = next((m.on for m in moves[i + 1:] if m.to_s117 and m.line_id == move.line_id
                     and m.plan_id == move.plan_id), None)
        out.append(alert(AlertCode.CHARGED, move.on, back or ent.ended_on,
                         f"service {move.line_id} at {move.provider or 'the same placement'} "
                         f"moved from s117 to Care Act funding on {move.on} without an end "
                         "decision, while the person stays in the same placement",
                         "O4", "move", move.plan_id, move.line_id, move.on))
    return out
