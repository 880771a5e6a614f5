"""The holder timeline of one entitlement (RULES.md N, L): dated segments saying which local
authority and which NHS body hold the s117 duty, by which rule, and why.

The NHS holder is asked of the N rules on every date where one of their inputs can change
(the regime dates, each detention, each GP registration or address, each succession date);
between those dates the answer cannot change, so consecutive equal answers merge into one
segment. The local authority changes only at a qualifying re-detention (L3), so its
determinations arrive here already dated. "As of D" reads the segment covering D.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from register.model import PersonFacts, Responsibility
from register.rules import nhs_body as n
from register.rules.ports import RefData


def _latest(detentions: list[n.Detention], day: date) -> n.Detention:
    return [d for d in detentions if d.began <= day][-1]


def _in_aftercare(detentions: list[n.Detention], day: date) -> bool:
    began = [d for d in detentions if d.began <= day]
    return bool(began) and began[-1].left is not None and began[-1].left <= day


def _ccg_era(facts: PersonFacts, detentions: list[n.Detention], day: date,
             refdata: RefData) -> n.NhsFinding:
    latest = _latest(detentions, day)
    if day < n.FREEZE:
        return n.n2_current_gp(facts, day, refdata)
    if latest.began < n.FREEZE and _in_aftercare(detentions, n.FREEZE - timedelta(days=1)):
        return n.n3_freeze(n.n2_current_gp(facts, n.FREEZE - timedelta(days=1), refdata))
    if latest.began < n.WHO_PAYS_2020:
        return n.n3_residence(facts, latest, refdata)
    return n.n4_commissioning_and_paying(facts, latest, refdata)


def _icb_era(facts: PersonFacts, detentions: list[n.Detention], day: date,
             refdata: RefData) -> n.NhsFinding:
    first = detentions[0]
    later = [d for d in detentions if n.ICB_START <= d.began <= day and d is not first]
    if first.began < n.ICB_START:
        on_commencement = _latest(detentions, n.ICB_START - timedelta(days=1))
        if on_commencement.left is None or on_commencement.left >= n.ICB_START:
            found = n.n5a_on_commencement(facts, "in detention on 2022-07-01 (reg 6(2))",
                                          refdata)
        elif later:
            found = n.n5a_on_commencement(
                facts, "in aftercare on 2022-07-01 and detained again on "
                       f"{later[0].began} (reg 6(4))", refdata)
            later = later[1:]
        else:
            found = n.n5b_discharged_before(facts, refdata)
    elif first.stay.application_on and first.stay.application_on < n.ICB_START:
        found = n.n5a_on_commencement(
            facts, f"detained on {first.began} on an application made "
                   f"{first.stay.application_on}, before 2022-07-01 (reg 6(3))", refdata)
    elif first.part3:
        found = n.n5d_part3(facts, first, refdata)
    else:
        found = n.n5_application(facts, first, refdata)
    if later:
        found = replace(found, basis=(*found.basis, *(n.n7_kept(found.body, d) for d in later)))
    return found


def nhs_on(facts: PersonFacts, detentions: list[n.Detention], day: date,
           refdata: RefData) -> n.NhsFinding:
    """The NHS holder on one date of the entitlement (`detentions` oldest first, the first
    on or before `day`)."""
    if day < n.CCG_START:
        return n.n1_pct_era(day)
    found = (_ccg_era if day < n.ICB_START else _icb_era)(facts, detentions, day, refdata)
    return n.n6_successor(found, facts, day, refdata)


def _cuts(facts: PersonFacts, detentions: list[n.Detention], start: date,
          end: date | None) -> set[date]:
    days = {start, *n.REGIME_DATES, *(d.began for d in detentions),
            *(g.valid_from for g in n.gp_history(facts)),
            *(a.valid_from for a in n.address_history(facts))}
    return {d for d in days if d >= start and (end is None or d <= end)}


def nhs_segments(facts: PersonFacts, detentions: list[n.Detention], start: date,
                 end: date | None, refdata: RefData
                 ) -> list[tuple[date, date | None, n.NhsFinding]]:
    """(from, to inclusive or None, finding) from `start` to `end`, without gaps or overlaps."""
    found = {day: nhs_on(facts, detentions, day, refdata)
             for day in _cuts(facts, detentions, start, end)}
    bodies = {f.body for f in found.values() if f.body}
    for day in {d for body in bodies for d in n.succession_dates(body, refdata)
                if d >= start and (end is None or d <= end)} - found.keys():
        found[day] = nhs_on(facts, detentions, day, refdata)
    segments: list[tuple[date, n.NhsFinding]] = []
    for day in sorted(found):
        if not segments or segments[-1][1] != found[day]:
            segments.append((day, found[day]))
    return [(day, nxt[0] - timedelta(days=1) if nxt else end, found)
            for (day, found), nxt in zip(segments, [*segments[1:], None], strict=True)]


def holder_timeline(facts: PersonFacts, detentions: list[n.Detention],
                    la_determinations: list[Responsibility], start: date, end: date | None,
                    refdata: RefData) -> list[Responsibility]:
    """The entitlement's segments: each local authority determination (dated at the
    detention it follows) joined with the NHS segments over the same dates."""
    nhs = nhs_segments(facts, detentions, start, end, refdata)
    days = sorted({s for s, _, _ in nhs} | {r.effective_from for r in la_determinations
                                            if r.effective_from >= start})
    result: list[Responsibility] = []
    for i, day in enumerate(days):
        la = [r for r in la_determinations if r.effective_from <= day][-1]
        found = [f for s, _, f in nhs if s <= day][-1]
        to = days[i + 1] - timedelta(days=1) if i + 1 < len(days) else end
        result.append(replace(
            la, effective_from=day, effective_to=to, icb=found.holder,
            original_body=found.body, commissioning_body=found.commissioning_body,
            paying_body=found.paying_body, paying_icb=found.paying_icb,
            basis=(*la.basis, *found.basis), needs_review=(*la.needs_review,
                                                            *found.needs_review),
            nhs_rule=found.rule))
    return result
