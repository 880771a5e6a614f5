"""E1-E7: eligibility and start."""

from dataclasses import replace
from datetime import date

import pytest

from register.model import EntitlementStatus, StayEventKind
from register.rules.entitlements import derive
from register.rules.ports import LocalityPolicy
from tests.builders import person, refdata, stay

RD = refdata()
POLICY = LocalityPolicy()


def only(facts, policy=POLICY):
    result = derive(facts, RD, policy)
    assert len(result) == 1
    return result[0]


def rules_of(ent):
    return {b.rule_id for r in ent.responsibilities for b in r.basis} | {
        rid for c in ent.status_history for rid in c.rule_ids}


def test_e1_e2_s3_gives_a_planned_entitlement_that_starts_on_leaving_hospital():
    ent = only(person(stay("A", "2023-01-10", ("03", "2023-01-10"), discharged="2023-03-01")))
    assert ent.planned_on == date(2023, 1, 10)
    assert ent.started_on == date(2023, 3, 1)
    assert ent.status is EntitlementStatus.ACTIVE
    assert [c.status for c in ent.status_history] == [EntitlementStatus.PLANNED,
                                                      EntitlementStatus.ACTIVE]
    assert {"E1", "E2"} <= rules_of(ent)


def test_e2_still_detained_is_planned_not_active():
    ent = only(person(stay("A", "2023-01-10", ("03", "2023-01-10"))))
    assert ent.status is EntitlementStatus.PLANNED and ent.started_on is None


def test_e1_staying_on_informally_starts_the_duty_on_the_day_of_leaving():
    facts = person(stay("A", "2023-01-10", ("03", "2023-01-10"), ("01", "2023-02-01"),
                        discharged="2023-04-20"))
    assert only(facts).started_on == date(2023, 4, 20)


@pytest.mark.parametrize("code", ["02", "04", "05", "06", "07", "08", "12", "13", "14", "19",
                                  "20", "32", "33", "35", "36", "98", "01"])
def test_e1_non_qualifying_stays_give_no_entitlement(code):
    facts = person(stay("A", "2023-01-10", (code, "2023-01-10"), discharged="2023-02-01"))
    assert derive(facts, RD, POLICY) == []


@pytest.mark.parametrize("code", ["03", "09", "10", "15", "16", "17", "18", "37", "38"])
def test_e1_every_qualifying_code_gives_an_entitlement(code):
    facts = person(stay("A", "2023-01-10", (code, "2023-01-10"), discharged="2023-02-01"))
    assert only(facts).status is EntitlementStatus.ACTIVE


def test_e3_leaving_on_a_cto_starts_the_entitlement():
    facts = person(stay("A", "2023-01-10", ("03", "2023-01-10"),
                        events=((StayEventKind.CTO_START, "2023-02-15"),)))
    ent = only(facts)
    assert ent.status is EntitlementStatus.ACTIVE and ent.started_on == date(2023, 2, 15)
    assert "E3" in rules_of(ent)


def test_e4_s17_leave_with_plan_starts_it_only_when_the_locality_says_so():
    leave = stay("A", "2023-01-10", ("03", "2023-01-10"),
                 events=((StayEventKind.LEAVE_START, "2023-02-01"),))
    leave.events[0] = replace(leave.events[0], with_aftercare_plan=True)
    assert only(person(leave)).status is EntitlementStatus.PLANNED
    on = LocalityPolicy(s17_leave_with_plan_starts_entitlement=True)
    ent = only(person(leave), on)
    assert ent.status is EntitlementStatus.ACTIVE and "E4" in rules_of(ent)


def test_e4_s17_leave_without_plan_never_starts_it():
    facts = person(stay("A", "2023-01-10", ("03", "2023-01-10"),
                        events=((StayEventKind.LEAVE_START, "2023-02-01"),)))
    on = LocalityPolicy(s17_leave_with_plan_starts_entitlement=True)
    assert only(facts, on).status is EntitlementStatus.PLANNED


def test_e5_s2_converted_to_s3_qualifies_from_the_s3_date():
    facts = person(stay("A", "2023-01-10", ("02", "2023-01-10"), ("03", "2023-02-05"),
                        discharged="2023-05-01"))
    ent = only(facts)
    assert ent.planned_on == date(2023, 2, 5)
    assert "E5" in rules_of(ent)


def test_e6_a_child_is_entitled_on_the_same_terms():
    facts = person(stay("A", "2023-01-10", ("03", "2023-01-10"), discharged="2023-03-01"),
                   born="2009-06-01")
    ent = only(facts)
    assert ent.status is EntitlementStatus.ACTIVE and "E6" in rules_of(ent)


@pytest.mark.parametrize("code", ["31", "99"])
def test_e7_code_31_and_99_are_recorded_as_needing_review(code):
    ent = only(person(stay("A", "2023-01-10", (code, "2023-01-10"), discharged="2023-02-01")))
    assert any(r.startswith("E7") for r in ent.needs_review)


def test_e7_cancelled_stays_are_ignored():
    cancelled = stay("A", "2023-01-10", ("03", "2023-01-10"))
    cancelled.cancelled = True
    assert derive(person(cancelled), RD, POLICY) == []
