"""Property tests of the holder timeline (RULES.md N1-N8, L3): for any history of detentions,
discharges, GP registrations, addresses, successions and end decisions, (1) the segments cover
each entitlement from its start to its end with no gap or overlap, (2) the answer as of any
date is the segment covering it and agrees with the N rules asked about that date directly,
and (3) the same facts recorded in any order give the same timeline."""

from __future__ import annotations

import random
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from register.model import (
    Address,
    AddressPeriod,
    EndDecision,
    EndReason,
    GpRegistration,
    PersonFacts,
)
from register.rules import timeline
from register.rules.entitlements import derive, nhs_detentions
from register.rules.ports import LocalityPolicy
from tests.builders import PRACTICES, person, refdata, stay

POLICY = LocalityPolicy()
POSTCODES = ["HR1 1AA", "SN1 1AA", "GL1 1AA", "S60 1AA", "SO23 8AA", "CF10 1AA"]
START, SPAN = date(2011, 1, 1), 16 * 365  # 2011 to 2026: every regime boundary inside
PROPERTY = settings(max_examples=150, deadline=None)

days = st.integers(0, SPAN).map(lambda n: START + timedelta(days=n))


@st.composite
def histories(draw: st.DrawFn) -> tuple[PersonFacts, bool]:
    """A person's facts; and whether a 2026 merger of QGH is in the reference data."""
    stays = []
    day = draw(days)
    for i in range(draw(st.integers(1, 3))):
        code = draw(st.sampled_from(["03", "03", "10", "02"]))
        stayed = draw(st.integers(1, 400))
        discharged = day + timedelta(days=stayed)
        s = stay(f"S{i}", day.isoformat(), (code, day.isoformat()),
                 discharged=discharged.isoformat() if draw(st.booleans()) or i < 2 else None,
                 postcode=draw(st.sampled_from(POSTCODES)),
                 gp=draw(st.sampled_from([*PRACTICES, None])))
        if draw(st.booleans()):
            s.application_on = day - timedelta(days=draw(st.integers(0, 14)))
        stays.append(s)
        day = discharged + timedelta(days=draw(st.integers(1, 900)))
    facts = person(*stays)
    facts.gp_registrations = [GpRegistration(draw(st.sampled_from(sorted(PRACTICES))), d)
                              for d in sorted(set(draw(st.lists(days, max_size=4))))]
    facts.addresses = [AddressPeriod(Address(postcode=draw(st.sampled_from(POSTCODES))), d)
                       for d in sorted(set(draw(st.lists(days, max_size=3))))]
    return facts, draw(st.booleans())


def _refdata(merger: bool):  # type: ignore[no-untyped-def]
    rd = refdata()
    if merger:
        rd.add_succession("QGH", "X26HW", date(2026, 4, 1), "NHS test merged ICB")
    return rd


def _with_end(facts: PersonFacts, rd, end_after: int) -> PersonFacts:  # type: ignore[no-untyped-def]
    """End the first entitlement some days after it started, if it started."""
    first = derive(facts, rd, POLICY)
    started = [e for e in first if e.started_on]
    if started:
        ent = started[0]
        facts.end_decisions.append(EndDecision(
            ent.id, ent.started_on + timedelta(days=end_after), True, True, True,  # type: ignore[operator]
            [EndReason.NO_LONGER_NEEDED]))
    return facts


@PROPERTY
@given(history=histories(), end_after=st.integers(1, 3000))
def test_segments_cover_each_entitlement_without_gaps_or_overlaps(history, end_after):
    facts, merger = history
    rd = _refdata(merger)
    for ent in derive(_with_end(facts, rd, end_after), rd, POLICY):
        segments = ent.responsibilities
        assert segments and segments[0].effective_from == ent.planned_on
        for a, b in zip(segments, segments[1:], strict=False):
            assert a.effective_to is not None
            assert a.effective_to + timedelta(days=1) == b.effective_from  # no gap, no overlap
        assert segments[-1].effective_to == ent.ended_on


@PROPERTY
@given(history=histories(), probes=st.lists(days, min_size=1, max_size=8))
def test_as_of_answers_agree_with_the_timeline_and_with_the_rules_on_that_date(history,
                                                                                probes):
    facts, merger = history
    rd = _refdata(merger)
    for ent in derive(facts, rd, POLICY):
        detentions = nhs_detentions(facts, ent, POLICY)
        for day in probes:
            if day < ent.planned_on or (ent.ended_on and day > ent.ended_on):
                continue
            covering = [s for s in ent.responsibilities if s.effective_from <= day and (
                s.effective_to is None or day <= s.effective_to)]
            assert len(covering) == 1
            assert ent.responsibility_on(day) == covering[0]
            direct = timeline.nhs_on(facts, detentions, day, rd)
            assert (covering[0].icb, covering[0].original_body, covering[0].nhs_rule) == (
                direct.holder, direct.body, direct.rule)


@PROPERTY
@given(history=histories(), shuffle=st.randoms(use_true_random=False))
def test_the_same_facts_in_any_order_give_the_same_timeline(history, shuffle: random.Random):
    facts, merger = history
    rd = _refdata(merger)
    before = [e.responsibilities for e in derive(facts, rd, POLICY)]
    for listed in (facts.stays, facts.gp_registrations, facts.addresses):
        shuffle.shuffle(listed)
    assert [e.responsibilities for e in derive(facts, rd, POLICY)] == before
