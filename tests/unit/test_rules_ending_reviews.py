"""D1-D7 (ending, reinstating), R1-R3 (reviews, with per-locality intervals)."""

from datetime import date

import pytest

from register.errors import RuleViolation
from register.model import EndDecision, EndReason, EntitlementStatus, Reinstatement, Review
from register.rules import ending, reviews
from register.rules.entitlements import derive
from register.rules.ports import LocalityOverride, LocalityPolicy
from tests.builders import HEREFORDSHIRE, ROTHERHAM, person, refdata, stay

RD = refdata()
POLICY = LocalityPolicy()


def active():
    facts = person(stay("A", "2023-01-10", ("03", "2023-01-10"), discharged="2023-03-01"))
    [ent] = derive(facts, RD, POLICY)
    return facts, ent


def decision(ent, *reasons, la=True, icb=True, involved=True, moved=False, **more):
    agreed = dict(la_agreed_by="A. Khan, Herefordshire s117 lead", la_agreed_on=date(2024, 4, 29),
                  icb_agreed_by="B. Cole, QGH commissioner", icb_agreed_on=date(2024, 5, 1))
    return EndDecision(ent.id, date(2024, 5, 1), la, icb, involved,
                       list(reasons or (EndReason.NO_LONGER_NEEDED,)),
                       moved_to_suitable_accommodation=moved, **{**agreed, **more})


# The joint decision is made at a review that found the needs no longer arise (D1).
AT_REVIEW = Review("", date(2024, 4, 29), "no longer needs aftercare",
                   needs_arise_from_disorder=False)


def check(ent, d, cto=False, cond=False, accommodation=False, held=None):
    at_review = [Review(ent.id, AT_REVIEW.on, AT_REVIEW.outcome,
                        needs_arise_from_disorder=False)]
    ending.check_end(ent, d, cto_in_force=cto, conditionally_discharged_restricted=cond,
                     specialist_accommodation=accommodation,
                     reviews=at_review if held is None else held)


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


@pytest.mark.parametrize(("given", "field"), [
    ({"la_agreed_by": ""}, "la-agreed-by"), ({"icb_agreed_on": None}, "icb-agreed-on"),
    ({"icb_agreed_by": "  "}, "icb-agreed-by"), ({"la_agreed_on": None}, "la-agreed-on")])
def test_d1_each_bodys_agreement_says_who_and_when(given, field):
    _, ent = active()
    with pytest.raises(RuleViolation) as err:
        check(ent, decision(ent, **given))
    assert (err.value.rule, err.value.field) == ("D1", field)


def test_d1_an_agreement_after_the_joint_decision_is_refused():
    _, ent = active()
    with pytest.raises(RuleViolation) as err:
        check(ent, decision(ent, icb_agreed_on=date(2024, 5, 2)))
    assert (err.value.rule, err.value.field) == ("D1", "icb-agreed-on")


def test_d1_the_decision_is_made_at_a_review_that_found_the_needs_gone():
    _, ent = active()
    with pytest.raises(RuleViolation) as err:
        check(ent, decision(ent), held=[])
    assert err.value.rule == "D1" and "no review" in err.value.message
    later = [Review(ent.id, date(2024, 5, 2), needs_arise_from_disorder=False)]
    with pytest.raises(RuleViolation) as err:  # a review after the decision does not count
        check(ent, decision(ent), held=later)
    assert err.value.rule == "D1"
    still = [Review(ent.id, date(2024, 4, 20), needs_arise_from_disorder=True)]
    with pytest.raises(RuleViolation) as err:
        check(ent, decision(ent), held=still)
    assert err.value.rule == "D1" and "still arise" in err.value.message


def test_d5_the_formal_end_date_is_recorded_and_cannot_precede_the_decision():
    facts, ent = active()
    with pytest.raises(RuleViolation) as err:
        check(ent, decision(ent, end_date=date(2024, 4, 30)))
    assert err.value.rule == "D5"
    d = decision(ent, end_date=date(2024, 5, 31))
    check(ent, d)
    facts.end_decisions.append(d)
    [ended] = derive(facts, RD, POLICY)
    assert ended.ended_on == date(2024, 5, 31)
    assert ended.status_on(date(2024, 5, 30)) is EntitlementStatus.ACTIVE


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


def test_r1_r2_intervals_follow_the_responsible_councils_locality_policy():
    """Rotherham (seed 004) reviews at most every 6 months; the region's default is 12."""
    policy = LocalityPolicy(localities={ROTHERHAM: LocalityOverride(
        first_review_days=28, review_interval_months=6)})
    facts = person(stay("A", "2023-01-10", ("03", "2023-01-10"), discharged="2023-03-01",
                        postcode="S60 1AA", gp="Z40001"))
    [rotherham] = derive(facts, RD, policy)
    assert rotherham.current.local_authority == ROTHERHAM
    assert reviews.next_review_due(rotherham, [], policy)[0] == date(2023, 3, 29)
    assert reviews.next_review_due(rotherham, [Review(rotherham.id, date(2023, 3, 20))],
                                   policy)[0] == date(2023, 9, 20)
    _, hereford = active()
    assert hereford.current.local_authority == HEREFORDSHIRE
    assert reviews.next_review_due(hereford, [], policy)[0] == date(2023, 4, 12)


def test_r3_late_reviews_are_kept_as_dated_periods():
    _, ent = active()
    held = [Review(ent.id, date(2023, 5, 1)), Review(ent.id, date(2024, 3, 1))]
    late = reviews.late_reviews(ent, held, POLICY)
    assert [(x.due, x.until, x.rule_id) for x in late] == [
        (date(2023, 4, 12), date(2023, 5, 1), "R1"),  # first review 19 days late
        (date(2025, 3, 1), None, "R2")]  # the next one, overdue from 2025-03-02
    assert late[-1].since == date(2025, 3, 2)


def test_r_no_review_is_due_while_planned():
    facts = person(stay("A", "2023-01-10", ("03", "2023-01-10")))
    [ent] = derive(facts, RD, POLICY)
    assert reviews.next_review_due(ent, [], POLICY) == (None, None)
