"""Review compliance (R1, R2): of the reviews that fell due in each month or quarter, how
many were held in time (the first within the locality's first-review days, six weeks by
default; later ones within its review interval), held late, or are still not held."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from register.model import Entitlement, Review
from register.reports import Chart, Inputs, Report
from register.reports.periods import label, window
from register.rules.ports import LocalityPolicy
from register.rules.reviews import add_months, last_started, reviews_since_start

BUCKETS = ("<1 month", "1-3 months", "3-6 months", "6-12 months", "over 12 months")


@dataclass(frozen=True)
class ReviewDue:
    due: date
    held_on: date | None
    rule_id: str  # R1 (first review) or R2 (a later one)

    def in_time(self) -> bool:
        return self.held_on is not None and self.held_on <= self.due


def reviews_due(entitlement: Entitlement, reviews: list[Review], policy: LocalityPolicy,
                on: date) -> list[ReviewDue]:
    """Every review of the current period of aftercare that fell due by `on` (or by the
    end of aftercare), with the review that answered it."""
    started = last_started(entitlement)
    if started is None:
        return []
    local = policy.for_la(entitlement.current.local_authority if entitlement.current
                          else None)
    until = min(entitlement.ended_on or on, on)
    due, rule = started + timedelta(days=local.first_review_days), "R1"
    out = []
    for review in reviews_since_start(entitlement, reviews):
        if review.on > until:
            break
        out.append(ReviewDue(due, review.on, rule))
        due, rule = add_months(review.on, local.review_interval_months), "R2"
    if due < until:
        out.append(ReviewDue(due, None, rule))
    return out


def _all_due(inputs: Inputs) -> list[ReviewDue]:
    return [d for case in inputs.cases for stored in case.entitlements
            for d in reviews_due(stored.entitlement, case.facts.reviews, inputs.policy,
                                 inputs.on)]


def compliance(inputs: Inputs) -> Report:
    periods = window(inputs.on, inputs.period)
    counts = {p: [0] * 6 for p in periods}  # due, in time, late, not held, first, first ok
    for due in _all_due(inputs):
        row = counts.get(label(due.due, inputs.period))
        if row is None:
            continue
        row[0] += 1
        row[1 if due.in_time() else 2 if due.held_on else 3] += 1
        if due.rule_id == "R1":
            row[4] += 1
            row[5] += due.in_time()
    rows = tuple((p, *c, round(100 * c[1] / c[0]) if c[0] else "-")
                 for p, c in counts.items())
    return Report(
        "review-compliance", f"Review compliance by {inputs.period}",
        "Reviews that fell due in each period: held in time (the first within "
        f"{inputs.policy.first_review_days} days of aftercare starting, rule R1; later ones "
        f"within {inputs.policy.review_interval_months} months of the last, rule R2), held "
        "late, or not held yet (overdue, rule R3). Local policies may set other intervals.",
        (inputs.period, "reviews due", "held in time", "held late", "not held (overdue)",
         "first reviews due", "first reviews in time", "% in time"),
        rows, Chart("stacked", inputs.period, ("held in time", "held late",
                                               "not held (overdue)"),
                    inputs.period.capitalize() + " the review fell due", "Reviews"))


def _bucket(days: int) -> str:
    for limit, name in ((31, BUCKETS[0]), (92, BUCKETS[1]), (183, BUCKETS[2]),
                        (366, BUCKETS[3])):
        if days < limit:
            return name
    return BUCKETS[4]


def overdue(inputs: Inputs) -> Report:
    """The reviews overdue today (R3), by how long."""
    counts = dict.fromkeys(BUCKETS, 0)
    for due in _all_due(inputs):
        if due.held_on is None and inputs.on > due.due:
            counts[_bucket((inputs.on - due.due).days)] += 1
    return Report(
        "overdue-reviews", f"Reviews overdue on {inputs.on:%-d %B %Y}",
        "Reviews of people now receiving aftercare that were due and have not been held "
        "(rule R3), by how long they are overdue. The list of people is on the caseload "
        "page (overdue reviews).",
        ("overdue by", "reviews"), tuple(counts.items()),
        Chart("bar", "overdue by", ("reviews",), "How long overdue", "Reviews"))
