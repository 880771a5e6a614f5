"""O1-O4: the failures the Ombudsman keeps finding, raised and cleared by the register as the
facts change, and announced as flag-raised / flag-cleared events (RULES.md section O)."""

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

from register import casework, changes
from register.casework import AlertCode
from register.events import EventType
from register.model import Charge, FlagPeriod, FundingBasis, OrdinaryResidenceDecision, Review
from register.rules import charging
from register.rules.entitlements import derive
from register.rules.ports import LocalityPolicy
from tests.builders import HEREFORDSHIRE, line, person, plan, refdata, stay

RD = refdata()
POLICY = LocalityPolicy()
LEFT = date(2023, 3, 1)  # discharged from s3
WINDOW_CLOSES = LEFT + timedelta(days=42)  # R1: six weeks


def discharged():
    facts = person(stay("A", "2023-01-10", ("03", "2023-01-10"), discharged="2023-03-01"))
    [ent] = derive(facts, RD, POLICY)
    return facts, ent


def flags(facts, code: AlertCode):
    ents = derive(facts, RD, POLICY)
    return [a for a in casework.derive(facts, ents, POLICY).alerts if a.code is code]


def active(found, on: date):
    return [a for a in found if a.active_on(on)]


# --- O1 no plan at discharge (seed 000 Sarah; LGSCO West Northamptonshire 24 015 710) -------


def test_o1_raised_on_the_discharge_date_without_a_plan_and_cleared_by_one():
    facts, ent = discharged()
    [o1] = flags(facts, AlertCode.NO_PLAN)
    assert (o1.rule_id, o1.since, o1.until) == ("O1", LEFT, None)
    facts.plans.append(plan(ent.id, line(), agreed="2023-04-01"))
    [o1] = flags(facts, AlertCode.NO_PLAN)
    assert o1.until == date(2023, 4, 1) and not active([o1], date(2023, 4, 1))


def test_o1_a_plan_agreed_by_the_discharge_date_raises_nothing():
    facts, ent = discharged()
    facts.plans.append(plan(ent.id, line(), agreed="2023-03-01"))
    assert not flags(facts, AlertCode.NO_PLAN)


# --- O2 no assessment in the first-review window (LGSCO Ealing 25 000 832) -------------------


def test_o2_a_review_on_the_last_day_of_the_window_raises_nothing():
    facts, ent = discharged()
    facts.reviews.append(Review(ent.id, WINDOW_CLOSES))
    assert not flags(facts, AlertCode.NO_ASSESSMENT)


def test_o2_raised_the_day_after_the_window_and_cleared_by_the_late_review():
    facts, ent = discharged()
    [o2] = flags(facts, AlertCode.NO_ASSESSMENT)
    assert (o2.rule_id, o2.since, o2.until) == ("O2", WINDOW_CLOSES + timedelta(days=1), None)
    assert not o2.active_on(WINDOW_CLOSES) and o2.active_on(WINDOW_CLOSES + timedelta(days=1))
    late = WINDOW_CLOSES + timedelta(days=230)  # Ealing: nine months
    facts.reviews.append(Review(ent.id, late))
    [o2] = flags(facts, AlertCode.NO_ASSESSMENT)
    assert o2.until == late and not o2.active_on(late)


def test_o2_an_assessment_recorded_with_the_plan_counts():
    facts, ent = discharged()
    facts.plans.append(plan(ent.id, line(), agreed="2023-03-20",
                            needs=(("accommodation", True),)))
    assert not flags(facts, AlertCode.NO_ASSESSMENT)


# --- O3 entitlement not acknowledged (LGSCO Northamptonshire ICB 22 009 742a) ---------------


def test_o3_raised_when_no_body_records_anything_and_cleared_by_an_or_decision():
    facts, ent = discharged()
    [o3] = flags(facts, AlertCode.NOT_ACKNOWLEDGED)
    assert (o3.rule_id, o3.since) == ("O3", WINDOW_CLOSES + timedelta(days=1))
    facts.or_decisions.append(OrdinaryResidenceDecision("RLQ/A", HEREFORDSHIRE, "OR panel",
                                                        date(2023, 9, 1)))
    [o3] = flags(facts, AlertCode.NOT_ACKNOWLEDGED)
    assert o3.until == date(2023, 9, 1)


def test_o3_acknowledged_within_the_window_raises_nothing():
    facts, ent = discharged()
    facts.or_decisions.append(OrdinaryResidenceDecision("RLQ/A", HEREFORDSHIRE, "OR panel",
                                                        WINDOW_CLOSES))
    assert not flags(facts, AlertCode.NOT_ACKNOWLEDGED)


def test_o1_o2_o3_none_while_still_in_hospital():
    facts = person(stay("A", "2023-01-10", ("03", "2023-01-10")))
    for code in (AlertCode.NO_PLAN, AlertCode.NO_ASSESSMENT, AlertCode.NOT_ACKNOWLEDGED):
        assert not flags(facts, code)


# --- O4 charged for s117 services (LGSCO York 25 002 735; Manchester 23 019 512) -----------


def test_o4_a_charge_is_raised_until_refunded_in_full_with_interest():
    facts, ent = discharged()
    charge = Charge("CH-1", ent.id, date(2024, 1, 1), Decimal("5200.00"),
                    charged_to=date(2024, 12, 31), charged_by=HEREFORDSHIRE)
    facts.charges.append(charge)
    [o4] = flags(facts, AlertCode.CHARGED)
    assert (o4.rule_id, o4.since, o4.until) == ("O4", date(2024, 1, 1), None)
    assert "£5,200.00" in o4.reason and "2024-12-31" in o4.reason
    facts.charges[0] = replace(charge, refunded_amount=Decimal("2000"),
                               refunded_on=date(2025, 3, 1))
    [o4] = flags(facts, AlertCode.CHARGED)
    assert o4.until is None  # a part refund leaves it raised
    facts.charges[0] = replace(charge, refunded_amount=Decimal("5461.30"),
                               refunded_on=date(2025, 3, 1))
    [o4] = flags(facts, AlertCode.CHARGED)
    assert o4.until == date(2025, 3, 1) and "refunded £5,461.30" in o4.reason


def test_o4_an_s117_placement_moved_to_care_act_funding_is_raised_and_cleared_when_restored():
    facts, ent = discharged()
    home = replace(line("L1", "residential-care", "s117", cost="900"), provider="Oak House")
    first = plan(ent.id, home)
    moved = replace(home, funding_basis=FundingBasis.CARE_ACT, meets_disorder_need=False)
    second = replace(first, lines=[moved])
    facts.funding_moves += charging.funding_moves(first.lines, second, date(2024, 6, 1))
    [o4] = flags(facts, AlertCode.CHARGED)
    assert (o4.since, o4.until) == (date(2024, 6, 1), None) and "Oak House" in o4.reason
    facts.funding_moves += charging.funding_moves(second.lines, first, date(2024, 9, 1))
    [o4] = flags(facts, AlertCode.CHARGED)
    assert o4.until == date(2024, 9, 1)


def test_o4_a_different_service_or_the_same_basis_is_no_move():
    facts, ent = discharged()
    home = replace(line("L1", "residential-care", cost="900"), provider="Oak House")
    other = replace(line("L2", "domiciliary", "care-act", meets=False), provider="Oak House")
    before = plan(ent.id, home)
    assert not charging.funding_moves(before.lines, plan(ent.id, home, other), date(2024, 6, 1))


# --- the events --------------------------------------------------------------------------------


def test_flag_raised_and_cleared_events_follow_the_facts_as_of_today():
    _, ent = discharged()
    o1 = FlagPeriod("no-aftercare-plan-x", "no-aftercare-plan", "O1", LEFT, None, "no plan")
    today = date(2023, 3, 10)
    stored = replace(ent, flags=[])
    raised = replace(ent, flags=[o1])
    _, events = changes.diff([stored], [raised], old_residence=None, residence=None,
                             command_id="c1", today=today)
    [event] = [e for e in events if e.event is EventType.FLAG_RAISED]
    assert (event.flag, event.effective) == ("no-aftercare-plan", LEFT)
    assert event.detail.startswith("O1 no-aftercare-plan")
    cleared = replace(ent, flags=[replace(o1, until=date(2023, 3, 9))])
    _, events = changes.diff([raised], [cleared], old_residence=None, residence=None,
                             command_id="c2", today=today)
    [event] = [e for e in events if e.event is EventType.FLAG_CLEARED]
    assert (event.flag, event.effective) == ("no-aftercare-plan", date(2023, 3, 9))
    _, events = changes.diff([raised], [raised], old_residence=None, residence=None,
                             command_id="c3", today=today)
    assert not events  # nothing changed, nothing announced


def test_a_flag_that_only_comes_into_force_later_is_not_announced_now():
    _, ent = discharged()
    later = FlagPeriod("no-assessment-x", "no-assessment", "O2", date(2023, 4, 13))
    _, events = changes.diff([ent], [replace(ent, flags=[later])], old_residence=None,
                             residence=None, command_id="c1", today=date(2023, 3, 10))
    assert not [e for e in events if e.event in (EventType.FLAG_RAISED,
                                                  EventType.FLAG_CLEARED)]


def test_o2_o3_each_discharge_after_a_redetention_has_its_own_window():
    """Reviewed after the first discharge; detained again (L3: the duty may have moved) and
    discharged on 2024-09-01 with nothing recorded since: O2 and O3 for that discharge."""
    first = stay("A", "2023-01-10", ("03", "2023-01-10"), discharged="2023-03-01")
    again = stay("B", "2024-03-01", ("03", "2024-03-01"), discharged="2024-09-01", trust="RNZ")
    facts = person(first, again)
    [ent] = derive(facts, RD, POLICY)
    facts.reviews.append(Review(ent.id, date(2023, 3, 20)))
    second_closes = date(2024, 9, 1) + timedelta(days=42)
    for code in (AlertCode.NO_ASSESSMENT, AlertCode.NOT_ACKNOWLEDGED):
        [flag] = flags(facts, code)
        assert (flag.since, flag.until) == (second_closes + timedelta(days=1), None), code
        assert "2024-09-01" in flag.reason
