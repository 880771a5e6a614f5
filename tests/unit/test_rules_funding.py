"""F1-F5: the funding of each service line of an aftercare plan (RULES.md section F)."""

from __future__ import annotations

import pytest

from register.errors import InvalidData, RuleViolation
from register.rules.funding import check_plan
from tests.builders import line, plan, refdata

RD = refdata()
ENT = "ent-1"


def refused(*lines, **more) -> RuleViolation:
    with pytest.raises(RuleViolation) as err:
        check_plan(plan(ENT, *lines, **more), RD)
    return err.value


def test_f2_a_split_between_council_and_icb_that_adds_up_is_accepted():
    check_plan(plan(ENT, line("L1", "supported-accommodation", funders="E06000019=60;QGH=40",
                              cost="1450"),
                    line("L2", "psychological-therapy", funders="QGH=100"),
                    line("L3", "day-services", funders="E06000019=100")), RD)


@pytest.mark.parametrize(("funders", "says"), [
    ("E06000019=60;QGH=30", "add up to 90%, not 100%"),
    ("E06000019=60;QGH=50", "add up to 110%"),
    ("E06000019=100;E06000019=0", "named twice"),
    ("E06000019=100;QGH=0", "more than 0"),
    ("E06000019=150;QGH=-50", "at most 100"),
    ("E99999999=100", "unknown funder"),
    ("ZZZ=100", "unknown funder"),
    ("", "no funder"),
])
def test_f2_shares_add_up_to_100_and_every_funder_is_known(funders, says):
    err = refused(line(funders=funders))
    assert (err.rule, err.field) == ("F2", "lines[0].funders") and says in err.message


def test_f2_an_s117_service_must_meet_a_need_arising_from_the_disorder():
    err = refused(line(meets=False))
    assert (err.rule, err.field) == ("F2", "lines[0].meets_disorder_need")


def test_f2_a_need_not_arising_from_the_disorder_is_met_under_the_care_act_and_may_be_charged():
    check_plan(plan(ENT, line("L1", "domiciliary", "care-act", "E06000019=70;person=30",
                              meets=False)), RD)


@pytest.mark.parametrize("service", ["medication", "psychological-therapy", "nursing-care",
                                     "personal-health-budget"])
def test_f3_a_council_cannot_fund_health_care_alone(service):
    err = refused(line(service=service, funders="E06000019=100", requested="2024-01-05"))
    assert (err.rule, err.field) == ("F3", "lines[0].funders")


def test_f3_shared_health_care_and_a_line_the_sender_classes_as_health():
    check_plan(plan(ENT, line(service="nursing-care", funders="E06000019=50;QGH=50")), RD)
    err = refused(line(service="other", funders="E06000019=100", health=True))
    assert err.rule == "F3"
    check_plan(plan(ENT, line(service="medication", funders="E06000019=100", health=False)),
               RD)


def test_f1_the_person_pays_nothing_towards_an_s117_service():
    err = refused(line(funders="E06000019=80;person=20"))
    assert (err.rule, err.field) == ("F1", "lines[0].funders")


def test_f1_a_service_meeting_a_need_from_the_disorder_cannot_be_charged_under_the_care_act():
    err = refused(line(basis="care-act", funders="E06000019=50;person=50"))
    assert (err.rule, err.field) == ("F1", "lines[0].funding_basis")


@pytest.mark.parametrize("payer", ["person", "housing-benefit"])
def test_f4_specialist_accommodation_is_not_paid_by_the_person_or_housing_benefit(payer):
    """Priya's mother's sheltered accommodation (seed 000)."""
    err = refused(line(service="supported-accommodation", funders=f"E06000019=60;{payer}=40"))
    assert (err.rule, err.field) == ("F4", "lines[0].funders")


def test_f4_accommodation_the_assessment_ties_to_the_disorder_is_s117_even_if_not_ticked():
    """Ruth's care home (seed 000): the team recommended accommodation for her mental health
    needs, so charging it to her under the Care Act is refused."""
    err = refused(line(service="residential-care", basis="care-act",
                       funders="E06000019=50;person=50", meets=False,
                       needs=("accommodation",)), needs=(("accommodation", True),))
    assert (err.rule, err.field) == ("F4", "lines[0].funding_basis")
    check_plan(plan(ENT, line(service="residential-care", basis="care-act",
                              funders="E06000019=50;person=50", meets=False,
                              needs=("accommodation",)),
                    needs=(("accommodation", False),)), RD)


def test_f4_an_s117a_top_up_is_the_one_personal_payment_and_tops_up_an_s117_placement():
    placement = line("L1", "residential-care", funders="E06000019=50;QGH=50", cost="900")
    top_up = line("L2", "residential-care", "s117a-top-up", "person=100", cost="120")
    check_plan(plan(ENT, placement, top_up), RD)
    err = refused(top_up)
    assert (err.rule, err.field) == ("F4", "lines[0].funding_basis")
    err = refused(placement, line("L2", "domiciliary", "s117a-top-up", "person=100"))
    assert (err.rule, err.field) == ("F4", "lines[1].service_type")
    err = refused(placement, line("L2", "residential-care", "s117a-top-up", "E06000019=100"))
    assert (err.rule, err.field) == ("F4", "lines[1].funders")


@pytest.mark.parametrize("service", ["personal-health-budget", "direct-payment"])
def test_f5_a_personal_budget_records_when_it_was_requested(service):
    funders = "QGH=100" if service == "personal-health-budget" else "E06000019=100"
    err = refused(line(service=service, funders=funders))
    assert (err.rule, err.field) == ("F5", "lines[0].requested_on")
    check_plan(plan(ENT, line(service=service, funders=funders, requested="2019-01-10")), RD)


@pytest.mark.parametrize(("build", "field"), [
    (lambda: plan(ENT, line("L1"), line("L1")), "lines[1].id"),
    (lambda: plan(ENT, line("bad id!")), "lines[0].id"),
    (lambda: plan(ENT, line(needs=("housework",))), "lines[0].needs"),
    (lambda: plan(ENT, line(cost="-5")), "lines[0].weekly_cost"),
    (lambda: plan(ENT, needs=(("flying", True),)), "needs[0].category"),
    (lambda: plan(ENT, plan_id="has space"), "plan_id"),
])
def test_malformed_plans_name_the_field(build, field):
    with pytest.raises(InvalidData) as err:
        check_plan(build(), RD)
    assert err.value.field == field
