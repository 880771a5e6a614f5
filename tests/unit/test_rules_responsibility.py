"""L1-L5: the responsible local authority, with dated boundaries (L6-L7 are in
test_rules_mha_2025.py; N1-N8 in test_rules_nhs_timeline.py)."""

from datetime import date

import pytest

from register.model import EntitlementStatus, OrdinaryResidenceDecision
from register.rules.entitlements import derive
from register.rules.ports import LocalityPolicy
from tests.builders import (
    GLOUCESTERSHIRE,
    HEREFORDSHIRE,
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


# N1-N8 (the NHS holder timeline): tests/unit/test_rules_nhs_timeline.py
