"""Derive a person's entitlements and their responsibility history from the recorded facts.

The derivation is a pure function of the facts, so applying the same messages twice, or in
another order, gives the same entitlements: the service stores what changed as history.
The facts are walked as one dated timeline: qualifying detentions, departures from hospital,
end decisions, reinstatements and death.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime

from register.model import (
    Entitlement,
    EntitlementStatus,
    PersonFacts,
    Responsibility,
    StatusChange,
    Stay,
)
from register.rules import local_authority, nhs_body, ruleset, timeline
from register.rules.citations import applied, review
from register.rules.eligibility import (
    Departure,
    QualifyingDetention,
    departure,
    qualifying_detention,
)
from register.rules.ports import LocalityPolicy, RefData

_NAMESPACE = uuid.UUID("6f1c1f2e-117a-4e0b-9a59-3f0c5d1e1170")


def entitlement_id(first_stay_key: str) -> str:
    """Stable id: the same first qualifying stay always gives the same entitlement id."""
    return str(uuid.uuid5(_NAMESPACE, first_stay_key))


# Same-day order: a decision dated on the day of a new detention applies to the old duty.
_END, _REINSTATE, _DETAINED, _LEFT, _INFORMAL, _DEATH = range(6)


@dataclass(frozen=True)
class _Item:
    day: date
    order: int
    stay: Stay | None = None
    detention: QualifyingDetention | None = None
    departure: Departure | None = None
    ref: str = ""
    detail: object = None


def _timeline(facts: PersonFacts, policy: LocalityPolicy) -> list[_Item]:
    items: list[_Item] = []
    for stay in facts.stays:
        if stay.cancelled:
            continue
        detention = qualifying_detention(stay)
        if detention is None:
            items.append(_Item(stay.admitted_at.date(), _INFORMAL, stay))
            continue
        items.append(_Item(detention.on, _DETAINED, stay, detention))
        left = departure(stay, detention, policy)
        if left:
            items.append(_Item(left.on, _LEFT, stay, detention, left))
    # D5: aftercare ends on the formal end date the decision records.
    items += [_Item(d.ends_on, _END, ref=d.entitlement_id, detail=d)
              for d in facts.end_decisions]
    items += [_Item(r.on, _REINSTATE, ref=r.entitlement_id, detail=r)
              for r in facts.reinstatements]
    if facts.died_on:
        items.append(_Item(facts.died_on, _DEATH))
    return sorted(items, key=lambda i: (i.day, i.order,
                                        i.stay.admitted_at if i.stay else datetime.min))


def _deemed(facts: PersonFacts, stay: Stay, detention: QualifyingDetention,
            found: local_authority.LaFinding, duty_holder: str | None, refdata: RefData,
            policy: LocalityPolicy) -> local_authority.LaFinding:
    """L6/L7: the MHA 2025 deeming rule, when the locality policy has switched it on."""
    left = departure(stay, detention, policy)
    regime = ruleset.deeming_regime(detention.on, left.on if left else None, policy)
    if regime is None:
        return found
    deemed = local_authority.deemed_residence(facts, stay, detention, duty_holder, refdata)
    decided = any(d.stay_key == stay.key for d in facts.or_decisions)
    return local_authority.with_deeming(found, deemed, regime, decided, refdata)


def _first_determination(facts: PersonFacts, stay: Stay, detention: QualifyingDetention,
                         refdata: RefData, policy: LocalityPolicy) -> Responsibility:
    """The local authority from this detention; the NHS body comes from the timeline."""
    rules = ruleset.for_detention(detention.on, policy)
    la = _deemed(facts, stay, detention,
                 local_authority.ordinary_residence(facts, stay, detention, refdata), None,
                 refdata, policy)
    age = facts.age_on(detention.on)
    young = (applied("E6", f"aged {age} when detained: children and young people are "
                           "entitled on the same terms"),) if age is not None and age < 18 else ()
    return Responsibility(
        effective_from=detention.on, rule_set=rules.id, local_authority=la.local_authority,
        icb=None, basis=(*detention.basis, *young, *la.basis),
        needs_review=(*detention.needs_review, *la.needs_review))


def _redetermination(facts: PersonFacts, stay: Stay, detention: QualifyingDetention,
                     previous: Responsibility, refdata: RefData,
                     policy: LocalityPolicy) -> Responsibility:
    rules = ruleset.for_detention(detention.on, policy)
    la = _deemed(facts, stay, detention,
                 local_authority.redetention(facts, stay, detention, previous.local_authority,
                                             refdata),
                 previous.local_authority, refdata, policy)
    return replace(
        previous, effective_from=detention.on, rule_set=rules.id,
        local_authority=la.local_authority, basis=(*detention.basis, *la.basis),
        needs_review=(*detention.needs_review, *la.needs_review))


def _detained_from(stay: Stay, detention: QualifyingDetention) -> date:
    """The first day of detention under the Act in this stay (an s2 converted to s3 began
    with the s2: SI 2022/635 regs 5(3) and 6 count detention under any section)."""
    starts = [p.start.date() for p in stay.legal_status
              if p.code not in nhs_body.NOT_DETAINED and p.start <= detention.start]
    return min(starts, default=detention.on)


def nhs_detentions(facts: PersonFacts, ent: Entitlement,
                   policy: LocalityPolicy) -> list[nhs_body.Detention]:
    """The entitlement's qualifying detentions as the N rules see them, oldest first."""
    found = []
    for key in ent.qualifying_stays:
        stay = facts.stay(key)
        detention = qualifying_detention(stay) if stay else None
        if stay is None or detention is None:
            continue
        left = departure(stay, detention, policy)
        found.append(nhs_body.Detention(
            stay, min(_detained_from(stay, detention), detention.on),
            left.on if left else None,
            part3=detention.code in nhs_body.PART3_CODES, restricted=detention.restricted))
    return found


def _change(ent: Entitlement, status: EntitlementStatus, day: date, reason: str,
            *rule_ids: str) -> None:
    ent.status = status
    ent.status_history.append(StatusChange(status, day, reason, tuple(rule_ids)))


def derive(facts: PersonFacts, refdata: RefData, policy: LocalityPolicy) -> list[Entitlement]:
    """All entitlements of a person, oldest first, with their full status and
    responsibility history as the facts now stand."""
    result: list[Entitlement] = []
    current: Entitlement | None = None
    for item in _timeline(facts, policy):
        if item.order == _DETAINED:
            assert item.stay and item.detention
            stay, detention = item.stay, item.detention
            if current is None or current.status in (EntitlementStatus.ENDED,
                                                     EntitlementStatus.CANCELLED):
                current = Entitlement(id=entitlement_id(stay.key),
                                      status=EntitlementStatus.PLANNED,
                                      planned_on=detention.on, qualifying_stays=[stay.key])
                _change(current, EntitlementStatus.PLANNED, detention.on,
                        "detained under a qualifying section: aftercare planning begins", "E2")
                current.responsibilities.append(
                    _first_determination(facts, stay, detention, refdata, policy))
                result.append(current)
            elif current.status is EntitlementStatus.ACTIVE:
                current.qualifying_stays.append(stay.key)
                assert current.current
                current.responsibilities.append(_redetermination(
                    facts, stay, detention, current.current, refdata, policy))
                _change(current, EntitlementStatus.PLANNED, detention.on,
                        "detained again under a qualifying section: the local authority duty "
                        "ended; planning for the next discharge", "L3", "D7",
                        *(("N7",) if detention.on >= nhs_body.ICB_START else ()))
            else:
                previous = current.qualifying_stays[-1]
                current.qualifying_stays.append(stay.key)
                current.needs_review.append(review(
                    "E1", f"new qualifying admission on {detention.on} while stay {previous} "
                          "has no discharge recorded (transfer, or a missing discharge?)"))
            current.needs_review.extend(detention.needs_review)
        elif item.order == _LEFT:
            assert item.stay and item.departure
            if (current and current.status is EntitlementStatus.PLANNED
                    and current.qualifying_stays[-1] == item.stay.key):
                current.started_on = current.started_on or item.day
                _change(current, EntitlementStatus.ACTIVE, item.day, item.departure.basis.reason,
                        item.departure.basis.rule_id)
        elif item.order == _INFORMAL:
            if current and current.status is EntitlementStatus.ACTIVE and current.current:
                assert item.stay
                note = applied("L4", f"readmitted on {item.day} informally or under a "
                                     "non-qualifying section: entitlement and responsible "
                                     "bodies unchanged")
                current.responsibilities[-1] = replace(
                    current.current, basis=(*current.current.basis, note))
        elif item.order == _END:
            if current and current.id == item.ref and current.status is EntitlementStatus.ACTIVE:
                decision = item.detail
                reasons = [r.value for r in decision.reasons]  # type: ignore[attr-defined]
                current.ended_on = item.day
                current.end_reasons = reasons
                _change(current, EntitlementStatus.ENDED, item.day,
                        "joint decision of the local authority and ICB that aftercare is no "
                        f"longer needed ({', '.join(reasons)})", "D1", "D5")
        elif item.order == _REINSTATE:
            if current and current.id == item.ref and current.status is EntitlementStatus.ENDED:
                current.ended_on = None
                current.end_reasons = []
                _change(current, EntitlementStatus.ACTIVE, item.day,
                        "reinstated: the person deteriorated after discharge from s117", "D6")
        elif item.order == _DEATH and current and current.status in (
                EntitlementStatus.PLANNED, EntitlementStatus.ACTIVE):
            current.ended_on = item.day
            current.end_reasons = ["died"]
            _change(current, EntitlementStatus.ENDED, item.day, "the person died", "D5")
    for ent in result:
        detentions = nhs_detentions(facts, ent, policy)
        ent.responsibilities = timeline.holder_timeline(
            facts, detentions, ent.responsibilities, ent.planned_on, ent.ended_on, refdata)
        _add_case_reviews(ent, detentions, facts)
    return result


def _add_case_reviews(ent: Entitlement, detentions: list[nhs_body.Detention],
                      facts: PersonFacts) -> None:
    """N8, L5 and the aftercare plan apply to the entitlement as a whole, once its dates
    are known; the holder timeline's own reviews are those of its current segment."""
    la = ent.current.local_authority if ent.current else None
    special = tuple(r for d in detentions for r in nhs_body.n5c_secure_services(d))
    if la and not la.startswith("E"):
        special += (review("N8", f"responsible authority outside England ({la}): apply the "
                                 "cross-border protocol"),)
    ent.disputes = [d for d in facts.disputes if d.entitlement_id == ent.id]
    disputed = tuple(review("L5", f"ordinary residence disputed between "
                                  f"{', '.join(d.parties)} since {d.opened_on}; interim lead "
                                  f"{d.interim_lead}; deadlines keep running")
                     for d in ent.disputes if d.is_open)
    extra = tuple(dict.fromkeys(special + disputed))
    if extra and ent.current:
        ent.responsibilities[-1] = replace(
            ent.current, needs_review=(*ent.current.needs_review, *extra))
    ent.needs_review = list(dict.fromkeys(
        [*ent.needs_review, *(ent.current.needs_review if ent.current else ()), *extra,
         *_plan_reviews(ent, facts)]))


def _plan_reviews(ent: Entitlement, facts: PersonFacts) -> tuple[str, ...]:
    """E2 (Sarah's case): a person who has left hospital has an aftercare plan in force,
    and the plan names a care coordinator (Code of Practice 34.5). Not about who is
    responsible, so these stay off the determination."""
    plan = facts.active_plan(ent.id)
    ent.care_coordinator = plan.care_coordinator.name \
        if plan and plan.care_coordinator else None
    if ent.status is not EntitlementStatus.ACTIVE:
        return ()
    started = [c.on for c in ent.status_history if c.status is EntitlementStatus.ACTIVE][-1]
    if plan is None:
        return (review("E2", f"aftercare began on {started} with no aftercare plan in force: "
                             "record the plan and its care coordinator"),)
    if plan.care_coordinator is None:
        return (review("E2", f"aftercare plan {plan.id} names no care coordinator (MHA Code "
                             "of Practice 34.5)"),)
    return ()
