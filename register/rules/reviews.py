"""R: review schedule (intervals are locality policy, not law, and may differ by the
responsible local authority)."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

from register.events import EntitlementEvent, EventType
from register.model import Entitlement, EntitlementStatus, Review, RuleApplied
from register.rules.citations import applied
from register.rules.ports import LocalityPolicy


def add_months(day: date, months: int) -> date:
    """Same day of month `months` later, clipped to the month's end (31 Jan + 1 = 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def last_started(entitlement: Entitlement) -> date | None:
    """The day the current active period began (after a reinstatement or re-detention)."""
    starts = [c.on for c in entitlement.status_history if c.status is EntitlementStatus.ACTIVE]
    return starts[-1] if starts else None


def _local(entitlement: Entitlement, policy: LocalityPolicy) -> LocalityPolicy:
    return policy.for_la(entitlement.current.local_authority if entitlement.current else None)


def reviews_since_start(entitlement: Entitlement, reviews: list[Review]) -> list[Review]:
    """The reviews of the current active period, oldest first."""
    started = last_started(entitlement)
    if started is None:
        return []
    return sorted((r for r in reviews if r.entitlement_id == entitlement.id
                   and r.on >= started), key=lambda r: r.on)


def next_review_due(entitlement: Entitlement, reviews: list[Review],
                    policy: LocalityPolicy) -> tuple[date | None, RuleApplied | None]:
    """R1 (first review within six weeks) then R2 (at most the locality interval)."""
    if entitlement.status is not EntitlementStatus.ACTIVE:
        return None, None
    started = last_started(entitlement)
    if started is None:
        return None, None
    local = _local(entitlement, policy)
    done = reviews_since_start(entitlement, reviews)
    if not done:
        due = started + timedelta(days=local.first_review_days)
        return due, applied("R1", f"first review due by {due}, {local.first_review_days} days "
                                  f"after aftercare started on {started}")
    last = done[-1].on
    due = add_months(last, local.review_interval_months)
    return due, applied("R2", f"next review due by {due}, {local.review_interval_months} months "
                              f"after the review of {last}")


@dataclass(frozen=True)
class LateReview:
    """A period in which a review was overdue (R3): from the day after it was due until the
    day it took place, or open (None) while it still has not."""

    due: date
    since: date
    until: date | None
    rule_id: str  # R1 (first review) or R2 (a later one)


def late_reviews(entitlement: Entitlement, reviews: list[Review],
                 policy: LocalityPolicy) -> list[LateReview]:
    """Every review of the current active period that was, or is, overdue."""
    started = last_started(entitlement)
    if started is None or entitlement.status is not EntitlementStatus.ACTIVE:
        return []
    local = _local(entitlement, policy)
    out = []
    due, rule = started + timedelta(days=local.first_review_days), "R1"
    for review in reviews_since_start(entitlement, reviews):
        if review.on > due:
            out.append(LateReview(due, due + timedelta(days=1), review.on, rule))
        due, rule = add_months(review.on, local.review_interval_months), "R2"
    out.append(LateReview(due, due + timedelta(days=1), None, rule))
    return out


def overdue_before(on: date) -> date:
    """R3 as a bound for searches: on `on`, a review due before this day is overdue."""
    return on


def overdue(due: date | None, on: date) -> bool:
    """R3: a review is overdue the day after its due date."""
    return due is not None and due < overdue_before(on)


def announce_until(on: date, notice_days: int) -> date:
    """A review due by this day is announced as coming (`review-due`, R1 and R2), so that
    the council can arrange it in time; `notice_days` is S117_REVIEW_NOTICE_DAYS."""
    return on + timedelta(days=notice_days)


def review_event(kind: EventType, entitlement_id: str, status: str, local_authority: str | None,
                 icb: str | None, paying_icb: str | None, residence_la: str | None,
                 due: date) -> EntitlementEvent:
    """The `review-due` or `review-overdue` event for one entitlement and due date; its
    command id names both, so each is raised once."""
    detail = f"review overdue: it was due by {due} (rule R3)" \
        if kind is EventType.REVIEW_OVERDUE else f"review due by {due} (R1, R2)"
    return EntitlementEvent(kind, entitlement_id, status, local_authority, icb, residence_la,
                            due, detail, f"scheduler:{kind.value}:{entitlement_id}:{due}",
                            paying_icb=paying_icb)
