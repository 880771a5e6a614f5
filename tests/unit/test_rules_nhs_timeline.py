"""N1-N8: the NHS holder timeline, each rule with its regulation and both sides of every
boundary (2013-04-01, 2016-04-01, 2020-09-01, 2022-07-01, 2026-04-01; application vs admission
date; Part 2 vs Part 3; usually resident in England or not)."""

from datetime import date, timedelta

import pytest

from register.model import (
    Address,
    AddressPeriod,
    EndDecision,
    EndReason,
    EntitlementStatus,
    GpRegistration,
)
from register.refdata.memory import InMemoryRefData
from register.rules.entitlements import derive
from register.rules.ports import LocalityPolicy
from tests.builders import HEREFORDSHIRE, POSTCODES, PRACTICES, SWINDON, person, stay

POLICY = LocalityPolicy()
BIRMINGHAM_PRACTICE = "Z50001"  # in sub-ICB 15E of ICB QHL


def rd() -> InMemoryRefData:
    return InMemoryRefData.from_shipped(
        postcodes=POSTCODES, practices={**PRACTICES, BIRMINGHAM_PRACTICE: "15E",
                                        "Z90001": "05X"})


def entitlement(facts, refdata=None):
    [ent] = derive(facts, refdata or rd(), POLICY)
    return ent


def on(ent, day: str):
    return ent.responsibility_on(date.fromisoformat(day))


def rules_of(resp):
    return [b.rule_id for b in resp.basis]


def gp(facts, practice: str, day: str):
    facts.gp_registrations.append(GpRegistration(practice, date.fromisoformat(day)))
    facts.gp_registrations.sort(key=lambda g: g.valid_from)
    return facts


def test_n1_pct_era_before_2013_04_01_needs_review_then_n2_from_that_date():
    """N1 (Who Pays? 2013): before 2013-04-01 no CCG existed; from then N2 names one."""
    ent = entitlement(person(stay("A", "2012-06-01", ("03", "2012-06-01"),
                                  discharged="2012-12-01")))
    before, after = on(ent, "2013-03-31"), on(ent, "2013-04-01")
    assert before.nhs_rule == "N1" and before.icb is None
    assert any(r.startswith("N1") for r in before.needs_review)
    assert after.nhs_rule == "N2" and after.icb == "18C" and not after.needs_review
    assert before.effective_to == date(2013, 3, 31)


def test_n2_follows_the_current_gp_registration_2013_to_2016():
    """N2 (Standing Rules 2012 reg 14(2)): the CCG of the practice on each date."""
    facts = person(stay("A", "2013-05-01", ("03", "2013-05-01"), discharged="2013-08-01"))
    gp(facts, "Z20001", "2014-06-01")
    ent = entitlement(facts)
    assert on(ent, "2014-05-31").icb == "18C"
    assert on(ent, "2014-06-01").icb == "92G"
    assert on(ent, "2014-06-01").nhs_rule == "N2"
    assert "N2" in rules_of(on(ent, "2014-06-01"))


def test_n3_freeze_keeps_the_ccg_holding_the_duty_on_2016_03_31():
    """N3 freeze (2016 amendment to reg 14): a later GP change no longer moves the duty."""
    facts = person(stay("A", "2014-05-01", ("03", "2014-05-01"), discharged="2014-08-01",
                        postcode="GL1 1AA"))
    gp(facts, "Z20001", "2015-06-01")  # N2: 92G from here
    gp(facts, "Z40001", "2017-01-01")  # after the freeze: no change
    ent = entitlement(facts)
    assert on(ent, "2016-03-31").nhs_rule == "N2" and on(ent, "2016-03-31").icb == "92G"
    frozen = on(ent, "2016-04-01")
    assert frozen.nhs_rule == "N3" and frozen.icb == "92G" and "freeze" in frozen.basis[-1].reason
    assert on(ent, "2018-01-01").icb == "92G"
    assert on(ent, "2022-06-30").icb == "92G"


def test_n3_freeze_applies_only_to_aftercare_in_force_on_2016_03_31():
    """N3: still detained on 2016-03-31, after-care arises from 2016-04-01: the CCG of
    ordinary residence before the detention, not the N2 holder."""
    facts = person(stay("A", "2016-01-10", ("03", "2016-01-10"), discharged="2016-04-01",
                        postcode="SN1 1AA", gp="Z10001"))
    ent = entitlement(facts)
    assert on(ent, "2016-03-31").nhs_rule == "N2" and on(ent, "2016-03-31").icb == "18C"
    assert on(ent, "2016-04-01").nhs_rule == "N3" and on(ent, "2016-04-01").icb == "92G"
    discharged_before = entitlement(person(stay("A", "2016-01-10", ("03", "2016-01-10"),
                                                discharged="2016-03-31", postcode="SN1 1AA")))
    assert on(discharged_before, "2016-04-01").icb == "18C"  # frozen at the N2 holder


def test_n3_freeze_ends_at_a_further_qualifying_detention():
    first = stay("A", "2015-01-10", ("03", "2015-01-10"), discharged="2015-03-01")
    again = stay("B", "2018-02-01", ("03", "2018-02-01"), discharged="2018-05-01",
                 postcode="SN1 1AA", gp="Z10001")
    ent = entitlement(person(first, again))
    assert on(ent, "2018-01-31").icb == "18C" and on(ent, "2018-01-31").nhs_rule == "N3"
    assert on(ent, "2018-02-01").icb == "92G"  # residence before the latest detention


@pytest.mark.parametrize(("began", "rule"), [("2020-08-31", "N3"), ("2020-09-01", "N4")])
def test_n3_n4_boundary_is_the_day_the_detention_began(began, rule):
    """N4 (Who Pays? 2020 s18): detentions from 2020-09-01 record commissioning (residence)
    and paying (GP) CCGs; earlier ones N3 only."""
    ent = entitlement(person(stay("A", began, ("03", began), postcode="SN1 1AA",
                                  gp="Z10001", discharged="2021-01-01")))
    resp = on(ent, "2021-02-01")
    assert resp.nhs_rule == rule and resp.icb == "92G"
    if rule == "N4":
        assert resp.commissioning_body == "92G" and resp.paying_body == "18C"
        assert resp.paying_icb == "QGH"
    else:
        assert resp.paying_body is None


def test_n5b_reg_7_3_names_the_icb_of_core_responsibility_not_the_ccgs_successor():
    """The issue's example: detained 2018 living in Herefordshire, registered in Birmingham.
    To 2022-06-30 the CCG of residence (N3, 18C); from 2022-07-01 the ICB with core
    responsibility on that date (reg 7(3)): QHL, not QGH (18C's successor)."""
    ent = entitlement(person(stay("A", "2018-03-01", ("03", "2018-03-01"),
                                  discharged="2018-06-01", postcode="HR1 1AA",
                                  gp=BIRMINGHAM_PRACTICE)))
    assert on(ent, "2022-06-30").icb == "18C" and on(ent, "2022-06-30").nhs_rule == "N3"
    today = on(ent, "2026-12-01")
    assert today.nhs_rule == "N5b" and today.icb == "QHL" and today.original_body == "QHL"
    assert any("7(3)" in b.citation for b in today.basis)
    assert not any(r.startswith("N8") for r in ent.needs_review)  # the law settles it


def test_n5b_reads_the_gp_registration_on_2022_07_01_not_at_detention():
    facts = person(stay("A", "2018-03-01", ("03", "2018-03-01"), discharged="2018-06-01"))
    gp(facts, "Z20001", "2021-05-01")
    gp(facts, "Z40001", "2022-07-02")  # the day after: too late to count
    ent = entitlement(facts)
    assert ent.current.icb == "QOX" and ent.current.nhs_rule == "N5b"


@pytest.mark.parametrize(("discharged", "rule"), [("2022-06-30", "N5b"), ("2022-07-01", "N5a")])
def test_n5a_in_detention_on_2022_07_01_vs_n5b_discharged_before(discharged, rule):
    """reg 6(2): in detention on 2022-07-01 (leaving that day still counts); reg 7(3):
    discharged before it."""
    ent = entitlement(person(stay("A", "2022-05-01", ("03", "2022-05-01"),
                                  discharged=discharged)))
    assert ent.current.nhs_rule == rule and ent.current.icb == "QGH"


def test_n5a_s2_before_2022_07_01_converted_to_s3_after_is_in_detention_on_that_day():
    """reg 6(2) counts detention under any section: an s2 from June converted to s3 in July
    was in detention on 2022-07-01."""
    ent = entitlement(person(stay("A", "2022-06-20", ("02", "2022-06-20"), ("03", "2022-07-05"),
                                  discharged="2022-09-01")))
    assert ent.current.nhs_rule == "N5a"


def test_n5a_reg_6_4_and_n7_aftercare_on_2022_07_01_then_detained_again():
    """reg 6(4): in aftercare on 2022-07-01 and detained later: the ICB with core
    responsibility on 2022-07-01 keeps it (N7) while the LA moves (L3)."""
    first = stay("A", "2019-01-10", ("03", "2019-01-10"), discharged="2019-06-01",
                 postcode="HR1 1AA", gp="Z10001")
    again = stay("B", "2024-03-01", ("03", "2024-03-01"), discharged="2024-09-01",
                 postcode="SN1 1AA", gp="Z20001")
    ent = entitlement(person(first, again))
    before, after = on(ent, "2024-02-29"), on(ent, "2024-03-01")
    assert before.nhs_rule == "N5b" and before.icb == "QGH"
    assert after.nhs_rule == "N5a" and after.icb == "QGH"
    assert after.local_authority == SWINDON and before.local_authority == HEREFORDSHIRE
    assert any("reg 6(4)" in b.reason for b in after.basis)
    assert "L3" in rules_of(after)


def test_n7_the_icb_keeps_it_through_a_re_detention_after_2022():
    """N7 (reg 2(2), regs 5 and 7): detained again in the exclusion period: same ICB."""
    first = stay("A", "2023-01-10", ("03", "2023-01-10"), discharged="2023-06-01",
                 postcode="HR1 1AA", gp="Z10001")
    again = stay("B", "2024-03-01", ("03", "2024-03-01"), discharged="2024-09-01",
                 postcode="SN1 1AA", gp="Z20001", trust="RNZ")
    ent = entitlement(person(first, again))
    assert ent.current.icb == "QGH" and "N7" in rules_of(ent.current)
    assert ent.current.local_authority == SWINDON


@pytest.mark.parametrize(("application", "rule"), [("2022-06-30", "N5a"), ("2022-07-01", "N5")])
def test_n5a_reg_6_3_application_before_2022_07_01_detained_after(application, rule):
    s = stay("A", "2022-07-02", ("03", "2022-07-02"), discharged="2022-09-01")
    s.application_on = date.fromisoformat(application)
    assert entitlement(person(s)).current.nhs_rule == rule


def test_n5_application_date_not_admission_date_fixes_the_icb():
    """reg 5(1)(c): core responsibility when the application was made."""
    facts = person(stay("A", "2023-01-10", ("03", "2023-01-10"), gp=None,
                        discharged="2023-03-01"))
    gp(facts, "Z10001", "2020-01-01")
    gp(facts, "Z20001", "2023-01-08")  # moved practice between application and admission
    facts.stays[0].application_on = date(2023, 1, 5)
    ent = entitlement(facts)
    assert ent.current.icb == "QGH" and ent.current.nhs_rule == "N5"
    facts.stays[0].application_on = None  # without it: the change is inside the window
    ent = entitlement(facts)
    assert ent.current.icb is None
    assert any("14 days" in r and r.startswith("N8") for r in ent.needs_review)


@pytest.mark.parametrize(("code", "rule", "review"), [("03", "N5", False), ("10", "N5d", True)])
def test_n5d_part_3_detention_is_not_a_reg_5_application(code, rule, review):
    ent = entitlement(person(stay("A", "2023-01-10", (code, "2023-01-10"))))
    assert ent.current.nhs_rule == rule and ent.current.icb == "QGH"
    assert any(r.startswith("N8") and "Part 3" in r for r in ent.needs_review) is review


@pytest.mark.parametrize(("postcode", "review"), [("CF10 1AA", True), ("SN1 1AA", False)])
def test_n5b_reg_7_3_c_usually_resident_in_england_or_not(postcode, review):
    facts = person(stay("A", "2019-01-10", ("03", "2019-01-10"), discharged="2019-06-01",
                        gp=None, postcode="SN1 1AA"))
    facts.addresses.append(AddressPeriod(Address(postcode=postcode), date(2021, 1, 1)))
    ent = entitlement(facts)
    assert any("outside England" in r for r in ent.current.needs_review) is review
    assert (ent.current.icb is None) is review


def test_n5_unknown_gp_practice_needs_review_naming_the_code_and_the_file():
    ent = entitlement(person(stay("A", "2023-01-10", ("03", "2023-01-10"), gp="Z99999")))
    assert ent.current.icb is None
    assert any("Z99999" in r and "epraccur" in r for r in ent.needs_review)


def test_n5_unregistered_person_in_an_la_split_between_icbs_needs_review():
    ent = entitlement(person(stay("A", "2023-01-10", ("03", "2023-01-10"),
                                  postcode="SO23 8AA", gp=None)))
    assert ent.current.icb is None and any("spans ICBs" in r for r in ent.needs_review)


def test_n2_then_n5b_a_ccg_with_no_known_icb_is_named_then_reviewed():
    """A practice commissioned by a CCG merged away before 2021 (05X): the CCG-era holder is
    the CCG the law named; on 2022-07-01 its ICB cannot be found, so a person decides."""
    ent = entitlement(person(stay("A", "2015-01-10", ("03", "2015-01-10"), gp="Z90001",
                                  discharged="2015-03-01")))
    assert on(ent, "2015-06-01").icb == "05X"
    assert ent.current.icb is None
    assert any(r.startswith("N8") and "05X" in r for r in ent.needs_review)


def test_n6_a_2026_merger_moves_the_holder_and_keeps_the_body_named():
    refdata = rd()
    refdata.add_succession("QGH", "X26HW", date(2026, 4, 1), "NHS test merged ICB")
    ent = entitlement(person(stay("A", "2023-01-10", ("03", "2023-01-10"),
                                  discharged="2023-03-01")), refdata)
    assert on(ent, "2026-03-31").icb == "QGH"
    merged = on(ent, "2026-04-01")
    assert merged.icb == "X26HW" and merged.original_body == "QGH" and "N6" in rules_of(merged)
    assert on(ent, "2026-03-31").effective_to == date(2026, 3, 31)


def test_n6_a_split_predecessor_resolves_through_the_sub_icb_location_else_review():
    refdata = rd()
    refdata.add_succession("QGH", "X26AA", date(2026, 4, 1), "NHS split A")
    refdata.add_succession("QGH", "X26BB", date(2026, 4, 1), "NHS split B")
    facts = person(stay("A", "2023-01-10", ("03", "2023-01-10"), discharged="2023-03-01"))
    unresolved = entitlement(facts, refdata)
    assert unresolved.current.icb is None and unresolved.current.original_body == "QGH"
    assert any("split" in r and r.startswith("N8") for r in unresolved.needs_review)
    refdata.add_sub_icb_parent("18C", "X26BB", date(2026, 4, 1))
    resolved = entitlement(facts, refdata)
    assert resolved.current.icb == "X26BB"
    assert not any(r.startswith("N") for r in resolved.needs_review)


def test_timeline_segments_have_no_gaps_or_overlaps_and_close_at_the_end():
    facts = person(stay("A", "2014-05-01", ("03", "2014-05-01"), discharged="2014-08-01"))
    gp(facts, "Z20001", "2015-06-01")
    ent = entitlement(facts)
    facts.end_decisions.append(EndDecision(ent.id, date(2024, 1, 10), True, True, True,
                                           [EndReason.NO_LONGER_NEEDED]))
    ent = entitlement(facts)
    assert ent.status is EntitlementStatus.ENDED
    segments = ent.responsibilities
    assert segments[0].effective_from == ent.planned_on
    for a, b in zip(segments, segments[1:], strict=False):
        assert a.effective_to == b.effective_from - timedelta(days=1)
    assert segments[-1].effective_to == date(2024, 1, 10)
    assert [s.nhs_rule for s in segments] == ["N2", "N2", "N3", "N5b"]


def test_n5_application_before_the_only_known_registration_takes_the_admission_practice():
    """reg 5: registration known only from the admission (PD1-3 on the A01), application at
    most 14 days before: the practice named on admission is taken, and the basis says so."""
    s = stay("A", "2023-03-01", ("03", "2023-03-01"), discharged="2023-06-01")
    s.application_on = date(2023, 2, 28)
    ent = entitlement(person(s))
    assert ent.current.icb == "QGH" and ent.current.nhs_rule == "N5"
    assert any("practice named then is taken" in b.reason for b in ent.current.basis)
