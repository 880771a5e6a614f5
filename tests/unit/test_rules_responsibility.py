"""L1-L5 and N1-N8: the responsible local authority and NHS body, with dated boundaries
(L6-L7 are in test_rules_mha_2025.py)."""

from datetime import date

import pytest

from register.model import EntitlementStatus, OrdinaryResidenceDecision
from register.refdata.memory import InMemoryRefData
from register.rules.entitlements import derive
from register.rules.ports import LocalityPolicy
from tests.builders import (
    GLOUCESTERSHIRE,
    HEREFORDSHIRE,
    POSTCODES,
    SWINDON,
    WORCESTERSHIRE,
    person,
    refdata,
    stay,
)

RD = refdata()
POLICY = LocalityPolicy()


def current(facts, policy=POLICY):
    [ent] = derive(facts, RD, policy)
    return ent, ent.current


def rule_ids(resp):
    return [b.rule_id for b in resp.basis]


# --- L: local authority -----------------------------------------------------------


def test_l1_ordinary_residence_from_the_address_before_admission():
    _, resp = current(person(stay("A", "2023-01-10", ("03", "2023-01-10"), postcode="SN1 1AA")))
    assert resp.local_authority == SWINDON and "L1" in rule_ids(resp)


def test_l1_a_district_postcode_gives_the_county_with_social_services_duties():
    _, resp = current(person(stay("A", "2023-01-10", ("03", "2023-01-10"), postcode="WR1 1AA")))
    assert resp.local_authority == WORCESTERSHIRE


def test_l1_trust_reported_ordinary_residence_is_used_when_given():
    _, resp = current(person(stay("A", "2023-01-10", ("03", "2023-01-10"), postcode="SN1 1AA",
                                  or_la=GLOUCESTERSHIRE)))
    assert resp.local_authority == GLOUCESTERSHIRE


def test_l1_a_council_decision_overrides_what_the_trust_implied():
    facts = person(stay("A", "2023-01-10", ("03", "2023-01-10"), postcode="SN1 1AA",
                        or_la=GLOUCESTERSHIRE))
    facts.or_decisions.append(OrdinaryResidenceDecision("RLQ/A", HEREFORDSHIRE, "E06000019",
                                                        date(2023, 2, 1), "tenancy found"))
    _, resp = current(facts)
    assert resp.local_authority == HEREFORDSHIRE
    assert "decision recorded" in resp.basis[[b.rule_id for b in resp.basis].index("L1")].reason


def test_l1_no_known_residence_needs_review_not_a_guess():
    _, resp = current(person(stay("A", "2023-01-10", ("03", "2023-01-10"), postcode=None)))
    assert resp.local_authority is None
    assert any(r.startswith("L1") for r in resp.needs_review)


def test_l1_no_fixed_abode_uses_the_discharge_destination():
    s = stay("A", "2023-01-10", ("03", "2023-01-10"), discharged="2023-03-01",
             destination="GL1 1AA")
    s.residence_before.no_fixed_abode = True
    s.residence_before.postcode = None
    _, resp = current(person(s))
    assert resp.local_authority == GLOUCESTERSHIRE


def _worcestershire_case(policy=POLICY):
    first = stay("A", "2023-01-10", ("03", "2023-01-10"), discharged="2023-06-01",
                 postcode="WR1 1AA", gp="Z10001", destination="SN1 1AA")
    again = stay("B", "2024-03-01", ("03", "2024-03-01"), discharged="2024-09-01",
                 postcode="SN1 1AA", gp="Z20001", trust="RNZ")
    [ent] = derive(person(first, again), RD, policy)
    return ent


def test_l3_d7_n7_redetention_moves_the_la_but_not_the_icb():
    ent = _worcestershire_case()
    first, latest = ent.responsibilities
    assert first.local_authority == WORCESTERSHIRE and first.icb == "QGH"
    assert latest.local_authority == SWINDON  # L3: residence before the latest detention
    assert latest.icb == "QGH"  # N7: originating ICB keeps it (GP now in Swindon)
    assert latest.effective_from == date(2024, 3, 1)
    assert {"L3", "D7", "N7"} <= set(rule_ids(latest))
    assert [c.status for c in ent.status_history] == [
        EntitlementStatus.PLANNED, EntitlementStatus.ACTIVE, EntitlementStatus.PLANNED,
        EntitlementStatus.ACTIVE]
    assert ent.responsibility_on(date(2023, 12, 1)).local_authority == WORCESTERSHIRE


@pytest.mark.parametrize("code", ["01", "02"])
def test_l4_informal_or_s2_readmission_leaves_everything_unchanged(code):
    first = stay("A", "2023-01-10", ("03", "2023-01-10"), discharged="2023-06-01",
                 postcode="WR1 1AA", destination="SN1 1AA")
    again = stay("B", "2024-03-01", (code, "2024-03-01"), postcode="SN1 1AA", gp="Z20001")
    [ent] = derive(person(first, again), RD, POLICY)
    assert ent.status is EntitlementStatus.ACTIVE
    assert ent.current.local_authority == WORCESTERSHIRE and ent.current.icb == "QGH"
    assert "L4" in rule_ids(ent.current) and len(ent.responsibilities) == 1


def test_l5_an_open_dispute_is_flagged_and_deadlines_keep_running():
    from register.model import Dispute
    from register.rules.local_authority import interim_lead

    facts = person(stay("A", "2023-01-10", ("03", "2023-01-10"), discharged="2023-03-01"))
    [ent] = derive(facts, RD, POLICY)
    lead, step = interim_lead([HEREFORDSHIRE, SWINDON], SWINDON)
    assert lead == SWINDON and step.rule_id == "L5"
    facts.disputes.append(Dispute(ent.id, [HEREFORDSHIRE, SWINDON], lead, date(2023, 4, 1)))
    [ent] = derive(facts, RD, POLICY)
    assert ent.status is EntitlementStatus.ACTIVE
    assert any(r.startswith("L5") for r in ent.needs_review)


# --- N: NHS body by detention date --------------------------------------------------
# Lives in Swindon (sub-ICB 92G, ICB QOX); registered with a Herefordshire practice
# (18C, ICB QGH), so each rule points somewhere different.


def _nhs(day):
    return current(person(stay("A", day, ("03", day), postcode="SN1 1AA", gp="Z10001")))[1]


def test_n1_before_april_2013_needs_review():
    resp = _nhs("2013-03-31")
    assert resp.rule_set == "pre-2013" and resp.icb is None
    assert any(r.startswith("N1") for r in resp.needs_review)


@pytest.mark.parametrize("day", ["2013-04-01", "2016-03-31"])
def test_n2_ccg_of_gp_registration(day):
    resp = _nhs(day)
    assert resp.rule_set == "who-pays-2013"
    assert resp.original_body == "18C" and resp.icb == "QGH"
    assert {"N2", "N6"} <= set(rule_ids(resp))


@pytest.mark.parametrize("day", ["2016-04-01", "2020-08-31"])
def test_n3_ccg_of_ordinary_residence(day):
    resp = _nhs(day)
    assert resp.rule_set == "who-pays-2016"
    assert resp.original_body == "92G" and resp.icb == "QOX"
    assert {"N3", "N6"} <= set(rule_ids(resp))


@pytest.mark.parametrize("day", ["2020-09-01", "2022-06-30"])
def test_n4_records_commissioning_and_paying_ccg(day):
    resp = _nhs(day)
    assert resp.rule_set == "who-pays-2020"
    assert resp.commissioning_body == "92G" and resp.icb == "QOX"
    assert resp.paying_body == "18C" and resp.paying_icb == "QGH"
    assert rule_ids(resp).count("N4") == 2


def test_n5_from_july_2022_icb_of_the_gp_practice():
    resp = _nhs("2022-07-01")
    assert resp.rule_set == "icb-2022" and resp.icb == "QGH" and resp.original_body == "QGH"
    assert "N5" in rule_ids(resp) and "N6" not in rule_ids(resp)


def test_n5_unregistered_person_uses_the_icb_where_usually_resident():
    _, resp = current(person(stay("A", "2023-01-10", ("03", "2023-01-10"), postcode="SN1 1AA",
                                  gp=None)))
    assert resp.icb == "QOX"


def test_n5_unregistered_in_an_la_split_between_icbs_needs_review():
    _, resp = current(person(stay("A", "2023-01-10", ("03", "2023-01-10"), postcode="SO23 8AA",
                                  gp=None)))
    assert resp.icb is None and any(r.startswith("N5") for r in resp.needs_review)


def test_n5_unknown_gp_practice_needs_review():
    _, resp = current(person(stay("A", "2023-01-10", ("03", "2023-01-10"), gp="Z99999")))
    assert resp.icb is None and any("Z99999" in r for r in resp.needs_review)


@pytest.mark.parametrize("day", ["2015-01-10", "2023-01-10"])
def test_n2_n5_a_commissioner_with_no_known_successor_needs_review_not_a_blank(day):
    """A practice whose commissioner code is not in the shipped geography (a CCG merged away
    before 2021) must not give an answer without an ICB and without a reason."""
    rd = InMemoryRefData.from_shipped(postcodes=POSTCODES, practices={"Z90001": "05X"})
    [ent] = derive(person(stay("A", day, ("03", day), gp="Z90001")), rd, POLICY)
    assert ent.current.icb is None
    assert any(r.startswith(("N2", "N5")) and "05X" in r for r in ent.current.needs_review)


def test_n5_uses_the_registration_in_force_when_detention_began():
    facts = person(stay("A", "2023-01-10", ("03", "2023-01-10"), gp=None),
                   gps=(("Z20001", "2020-01-01"), ("Z10001", "2023-02-01")))
    _, resp = current(facts)
    assert resp.icb == "QOX"


def test_n8_entitled_on_1_july_2022_is_flagged_for_review():
    ent, _ = current(person(stay("A", "2021-03-01", ("03", "2021-03-01"),
                                 discharged="2021-06-01", postcode="SN1 1AA")))
    assert any(r.startswith("N8") and "2022-07-01" in r for r in ent.needs_review)


def test_n8_ended_before_july_2022_is_not_transitional():
    from register.model import EndDecision, EndReason

    facts = person(stay("A", "2021-03-01", ("03", "2021-03-01"), discharged="2021-06-01"))
    [ent] = derive(facts, RD, POLICY)
    facts.end_decisions.append(EndDecision(ent.id, date(2022, 1, 10), True, True, True,
                                           [EndReason.NO_LONGER_NEEDED]))
    [ent] = derive(facts, RD, POLICY)
    assert ent.status is EntitlementStatus.ENDED
    assert not any(r.startswith("N8") for r in ent.needs_review)


def test_n8_restricted_and_cross_border_cases_need_review():
    ent, _ = current(person(stay("A", "2023-01-10", ("09", "2023-01-10"))))
    assert any("restricted" in r for r in ent.needs_review)
    ent, resp = current(person(stay("A", "2023-01-10", ("03", "2023-01-10"),
                                    postcode="CF10 1AA", gp=None)))
    assert resp.local_authority == "W06000015"
    assert any(r.startswith("N8") and "outside England" in r for r in ent.needs_review)
