"""R: review schedule (intervals are locality policy, not law)."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

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


def next_review_due(entitlement: Entitlement, reviews: list[Review],
                    policy: LocalityPolicy) -> tuple[date | None, RuleApplied | None]:
    """R1 (first review within six weeks) then R2 (at most the locality interval)."""
    if entitlement.status is not EntitlementStatus.ACTIVE:
        return None, None
    started = last_started(entitlement)
    if started is None:
        return None, None
    done = [r.on for r in reviews if r.entitlement_id == entitlement.id and r.on >= started]
    if not done:
        due = started + timedelta(days=policy.first_review_days)
        return due, applied("R1", f"first review due by {due}, {policy.first_review_days} days "
                                  f"after aftercare started on {started}")
    last = max(done)
    due = add_months(last, policy.review_interval_months)
    return due, applied("R2", f"next review due by {due}, {policy.review_interval_months} months "
                              f"after the review of {last}")


def overdue(due: date | None, on: date) -> bool:
    """R3: a review is overdue the day after its due date."""
    return due is not None and on > due
