"""E: eligibility and start of the entitlement."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from register import legal_status
from register.legal_status import Qualifies
from register.model import RuleApplied, Stay, StayEventKind
from register.rules.citations import applied, review
from register.rules.ports import LocalityPolicy


@dataclass(frozen=True)
class QualifyingDetention:
    """The detention in a stay that makes it count for s117 (or needs a human to decide)."""

    start: datetime
    code: str
    basis: tuple[RuleApplied, ...]
    needs_review: tuple[str, ...] = ()
    restricted: bool = False

    @property
    def on(self) -> date:
        return self.start.date()


def qualifying_detention(stay: Stay) -> QualifyingDetention | None:
    """First qualifying legal status in the stay (E1, E5), or a review case (E7), or None."""
    periods = sorted(stay.legal_status, key=lambda p: p.start)
    for i, period in enumerate(periods):
        status = legal_status.lookup(period.code)
        if status.qualifies is Qualifies.YES:
            basis = [applied("E1", f"detained under {status.display} (code {status.code}), "
                                   "a qualifying section")]
            if i > 0:
                basis.append(applied("E5", f"converted to {status.display} on "
                                           f"{period.start.date()}: qualifying from that date"))
            return QualifyingDetention(period.start, status.code, tuple(basis),
                                       restricted=period.restricted or status.restricted)
    for period in periods:
        status = legal_status.lookup(period.code)
        if status.qualifies is Qualifies.REVIEW:
            return QualifyingDetention(
                period.start, status.code,
                (applied("E7", f"{status.display} (code {status.code}) may count as a notional "
                               "s37 hospital order"),),
                needs_review=(review("E7", f"legal status code {status.code} ({status.display}): "
                                           "decide whether it qualifies"),))
        if status.code == legal_status.DETENTION_NOT_KNOWN:
            return QualifyingDetention(
                period.start, status.code,
                (applied("E7", "a detention was recorded with legal status 99 (not known)"),),
                needs_review=(review("E7", "legal status 99 (not known) on a detention: "
                                           "establish the section"),))
    return None


@dataclass(frozen=True)
class Departure:
    """When and how the person left hospital after the qualifying detention."""

    on: date
    basis: RuleApplied


def departure(stay: Stay, detention: QualifyingDetention,
              policy: LocalityPolicy) -> Departure | None:
    """The first way the person left hospital on or after the qualifying detention began."""
    after = detention.start
    candidates: list[tuple[datetime, RuleApplied]] = []
    if stay.discharged_at and stay.discharged_at >= after:
        candidates.append((stay.discharged_at, applied(
            "E1", "ceased to be detained and left hospital (discharge recorded)")))
    for event in stay.events:
        if event.at < after:
            continue
        if event.kind is StayEventKind.CTO_START:
            candidates.append((event.at, applied(
                "E3", "left hospital on a community treatment order (s17A)")))
        elif event.kind is StayEventKind.CONDITIONAL_DISCHARGE:
            candidates.append((event.at, applied(
                "E1", "conditionally discharged from hospital (s42/s73)")))
        elif (event.kind is StayEventKind.LEAVE_START and event.with_aftercare_plan
              and policy.s17_leave_with_plan_starts_entitlement):
            candidates.append((event.at, applied(
                "E4", "left hospital on s17 leave with an aftercare plan (locality policy)")))
    if not candidates:
        return None
    when, basis = min(candidates, key=lambda c: c[0])
    return Departure(when.date(), basis)


def cto_in_force(stay: Stay, on: date) -> bool:
    """A CTO started in this stay and not ended by `on` (E3, D2)."""
    in_force = False
    for event in sorted(stay.events, key=lambda e: e.at):
        if event.at.date() > on:
            break
        if event.kind is StayEventKind.CTO_START:
            in_force = True
        elif event.kind is StayEventKind.CTO_END:
            in_force = False
    return in_force


def conditionally_discharged(stay: Stay, on: date) -> bool:
    return any(e.kind is StayEventKind.CONDITIONAL_DISCHARGE and e.at.date() <= on
               for e in stay.events)
