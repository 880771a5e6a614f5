"""D1-D7 (ending, reinstating), R1-R3 (reviews), F1 (free)."""

from datetime import date

import pytest

from register.errors import RuleViolation
from register.model import EndDecision, EndReason, EntitlementStatus, Reinstatement, Review
from register.rules import ending, funding, reviews
from register.rules.entitlements import derive
from register.rules.ports import LocalityPolicy
from tests.builders import person, refdata, stay

RD = refdata()
POLICY = LocalityPolicy()


def active():
    facts = person(stay("A", "2023-01-10", ("03", "2023-01-10"), discharged="2023-03-01"))
    [ent] = derive(facts, RD, POLICY)
    return facts, ent


def decision(ent, *reasons, la=True, icb=True, involved=True, moved=False):
    return EndDecision(ent.id, date(2024, 5, 1), la, icb, involved,
                       list(reasons or (EndReason.NO_LONGER_NEEDED,)),
                       moved_to_suitable_accommodation=moved)


def check(ent, d, cto=False, cond=False, accommodation=False):
    ending.check_end(ent, d, cto_in_force=cto, conditionally_discharged_restricted=cond,
                     specialist_accommodation=accommodation)


def test_d1_d5_a_joint_decision_ends_it_and_records_the_date():
    facts, ent = active()
    d = decision(ent)
    check(ent, d)
    facts.end_decisions.append(d)
    [ent] = derive(facts, RD, POLICY)
    assert ent.status is EntitlementStatus.ENDED and ent.ended_on == date(2024, 5, 1)
    assert ent.status_history[-1].rule_ids == ("D1", "D5")


@pytest.mark.parametrize("missing", ["la", "icb", "involved"])
def test_d1_both_bodies_and_the_person_must_be_party_to_it(missing):
    _, ent = active()
    with pytest.raises(RuleViolation) as err:
        check(ent, decision(ent, **{missing: False}))
    assert err.value.rule == "D1"


def test_d1_a_planned_entitlement_cannot_be_ended():
    facts = person(stay("A", "2023-01-10", ("03", "2023-01-10")))
    [ent] = derive(facts, RD, POLICY)
    with pytest.raises(RuleViolation) as err:
        check(ent, decision(ent))
    assert err.value.rule == "D1"


def test_d2_never_while_on_a_cto_and_conditional_discharge_is_reviewed_not_ended():
    _, ent = active()
    with pytest.raises(RuleViolation) as err:
        check(ent, decision(ent), cto=True)
    assert err.value.rule == "D2"
    with pytest.raises(RuleViolation) as err:
        check(ent, decision(ent), cond=True)
    assert err.value.rule == "D2"


@pytest.mark.parametrize("reason", sorted(ending.INSUFFICIENT, key=lambda r: r.value))
def test_d3_each_insufficient_reason_alone_is_rejected(reason):
    _, ent = active()
    with pytest.raises(RuleViolation) as err:
        check(ent, decision(ent, reason))
    assert err.value.rule == "D3" and reason.value in err.value.message


def test_d3_insufficient_reasons_together_are_still_rejected_but_with_a_real_reason_pass():
    _, ent = active()
    with pytest.raises(RuleViolation):
        check(ent, decision(ent, EndReason.TIME_ELAPSED, EndReason.REFUSED_SERVICES))
    check(ent, decision(ent, EndReason.TIME_ELAPSED, EndReason.NO_LONGER_NEEDED))


def test_d4_specialist_accommodation_needs_a_recorded_move_first():
    _, ent = active()
    with pytest.raises(RuleViolation) as err:
        check(ent, decision(ent), accommodation=True)
    assert err.value.rule == "D4"
    check(ent, decision(ent, moved=True), accommodation=True)


def test_d6_reinstating_keeps_both_in_the_history():
    facts, ent = active()
    facts.end_decisions.append(decision(ent))
    [ended] = derive(facts, RD, POLICY)
    ending.check_reinstate(ended, is_latest=True)
    facts.reinstatements.append(Reinstatement(ent.id, date(2024, 6, 1), "relapse"))
    [ent] = derive(facts, RD, POLICY)
    assert ent.status is EntitlementStatus.ACTIVE and ent.ended_on is None
    assert [c.status.value for c in ent.status_history] == ["planned", "active", "ended",
                                                            "active"]


def test_d6_only_an_ended_entitlement_can_be_reinstated():
    _, ent = active()
    with pytest.raises(RuleViolation) as err:
        ending.check_reinstate(ent, is_latest=True)
    assert err.value.rule == "D6"


def test_death_ends_it_and_cannot_be_reinstated():
    facts, ent = active()
    facts.died_on = date(2024, 1, 5)
    [ent] = derive(facts, RD, POLICY)
    assert ent.status is EntitlementStatus.ENDED and ent.end_reasons == ["died"]
    with pytest.raises(RuleViolation):
        ending.check_reinstate(ent, is_latest=True)


def test_r1_first_review_within_six_weeks_then_r2_at_most_twelve_months():
    facts, ent = active()
    due, rule = reviews.next_review_due(ent, [], POLICY)
    assert due == date(2023, 4, 12) and rule.rule_id == "R1"
    assert not reviews.overdue(due, date(2023, 4, 12))
    assert reviews.overdue(due, date(2023, 4, 13))  # R3
    due, rule = reviews.next_review_due(ent, [Review(ent.id, date(2023, 4, 10))], POLICY)
    assert due == date(2024, 4, 10) and rule.rule_id == "R2"
    six = LocalityPolicy(review_interval_months=6)
    assert reviews.next_review_due(ent, [Review(ent.id, date(2023, 8, 31))], six)[0] == \
        date(2024, 2, 29)


def test_r_no_review_is_due_while_planned():
    facts = person(stay("A", "2023-01-10", ("03", "2023-01-10")))
    [ent] = derive(facts, RD, POLICY)
    assert reviews.next_review_due(ent, [], POLICY) == (None, None)


def test_f1_no_personal_payment_towards_an_s117_service():
    with pytest.raises(RuleViolation) as err:
        funding.check_personal_payment("s117", 10)
    assert err.value.rule == "F1"
    funding.check_personal_payment("s117a-top-up", 100)
    funding.check_personal_payment("s117", 0)
