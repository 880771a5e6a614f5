"""L6 (rule sets switched on by the locality policy), L7 (Mental Health Act 2025 s46(3),
s117(3A): deeming of ordinary residence) and D8 (MHA 2025 s46(2): joint written notice),
on both sides of the commencement date and under both transitional choices."""

from datetime import date
from pathlib import Path

import pytest

from adapter.config import load_policy
from register.errors import InvalidData, RuleViolation
from register.model import (
    AccommodationType,
    Address,
    AddressPeriod,
    EndDecision,
    EndReason,
    NoticeMethod,
    Review,
    WrittenNotice,
)
from register.rules import ending, ruleset
from register.rules.entitlements import derive
from register.rules.ports import AppliesTo, Commencement, LocalityPolicy
from tests.builders import (
    HEREFORDSHIRE,
    SWINDON,
    WORCESTERSHIRE,
    person,
    refdata,
    stay,
)

RD = refdata()
SHIPPED = LocalityPolicy()
COMMENCED = date(2027, 4, 1)


def switched_on(applies_to: AppliesTo = AppliesTo.DETENTIONS_FROM, *sets: str) -> LocalityPolicy:
    ids = sets or (ruleset.MHA_2025_DEEMING.id, ruleset.MHA_2025_NOTICE.id)
    return LocalityPolicy(rule_sets={i: Commencement(COMMENCED, applies_to) for i in ids})


def lived(facts, *periods: tuple[str, str, AccommodationType | None, str | None]):
    """Address history: (postcode, from, accommodation type, placed by)."""
    facts.addresses = [AddressPeriod(Address(postcode=pc, accommodation=kind, placed_by=by),
                                     date.fromisoformat(day)) for pc, day, kind, by in periods]
    return facts


def placed_in_swindon(detained: str, discharged: str | None = None, born: str = "1980-05-01"):
    """Lived in Worcester, then placed in a Swindon care home (specified accommodation) from
    which they were detained."""
    facts = person(stay("A", detained, ("03", detained), discharged=discharged,
                        postcode="SN1 1AA"), born=born)
    return lived(facts, ("WR1 1AA", "2015-01-01", None, None),
                 ("SN1 1AA", "2024-06-01", AccommodationType.SPECIFIED, None))


def answer(facts, policy):
    [ent] = derive(facts, RD, policy)
    return ent.current


def rules(resp):
    return [b.rule_id for b in resp.basis]


# --- L6: shipped disabled, switched on with a date ------------------------------------------


def test_l6_the_mha_2025_sets_ship_disabled():
    assert ruleset.commencement(ruleset.MHA_2025_DEEMING, SHIPPED) is None
    assert ruleset.commencement(ruleset.MHA_2025_NOTICE, SHIPPED) is None
    resp = answer(placed_in_swindon("2027-05-01"), SHIPPED)
    assert resp.local_authority == SWINDON and "L7" not in rules(resp)  # L1 as before


def test_l6_l7_switched_on_a_detention_on_the_commencement_day_is_deemed():
    resp = answer(placed_in_swindon("2027-04-01"), switched_on())
    assert resp.local_authority == WORCESTERSHIRE
    assert {"L6", "L7"} <= set(rules(resp)) and not resp.needs_review


def test_l6_detentions_from_a_detention_the_day_before_keeps_l1():
    resp = answer(placed_in_swindon("2027-03-31", discharged="2027-03-31"), switched_on())
    assert resp.local_authority == SWINDON and "L7" not in rules(resp)
    assert not resp.needs_review  # left hospital before the commencement: no straddle


def test_l6_detentions_from_a_straddling_case_keeps_l1_and_needs_review():
    resp = answer(placed_in_swindon("2027-03-01", discharged="2027-05-01"), switched_on())
    assert resp.local_authority == SWINDON
    [why] = [r for r in resp.needs_review if r.startswith("L6")]
    assert "before the MHA 2025 s46 commencement (2027-04-01)" in why
    assert WORCESTERSHIRE in why and SWINDON in why


def test_l6_determinations_from_a_straddling_case_is_deemed_and_needs_review():
    resp = answer(placed_in_swindon("2027-03-01", discharged="2027-05-01"),
                  switched_on(AppliesTo.DETERMINATIONS_FROM))
    assert resp.local_authority == WORCESTERSHIRE and "L7" in rules(resp)
    assert any(r.startswith("L6") for r in resp.needs_review)


def test_l6_determinations_from_a_discharge_before_commencement_keeps_l1():
    resp = answer(placed_in_swindon("2027-03-01", discharged="2027-03-31"),
                  switched_on(AppliesTo.DETERMINATIONS_FROM))
    assert resp.local_authority == SWINDON and not resp.needs_review


def test_l6_a_straddling_case_where_both_rules_agree_needs_no_review():
    facts = person(stay("A", "2027-03-01", ("03", "2027-03-01"), discharged="2027-05-01",
                        postcode="WR1 1AA"))
    lived(facts, ("WR1 1AA", "2015-01-01", None, None))
    resp = answer(facts, switched_on())
    assert resp.local_authority == WORCESTERSHIRE and not resp.needs_review


# --- L7: the deeming rules ----------------------------------------------------------------


def test_l7_consecutive_specified_placements_chain_back_to_the_first():
    facts = person(stay("A", "2027-05-01", ("03", "2027-05-01"), postcode="GL1 1AA"))
    lived(facts, ("HR1 1AA", "2010-01-01", None, None),
          ("SN1 1AA", "2025-01-01", AccommodationType.SPECIFIED, None),
          ("GL1 1AA", "2026-01-01", AccommodationType.SPECIFIED, None))
    resp = answer(facts, switched_on())
    assert resp.local_authority == HEREFORDSHIRE
    assert sum(1 for r in rules(resp) if r == "L7") == 3  # two placements, then home


def test_l7_nhs_accommodation_is_disregarded():
    facts = person(stay("A", "2027-05-01", ("03", "2027-05-01"), postcode="SN1 1AA"))
    lived(facts, ("HR1 1AA", "2010-01-01", None, None),
          ("SN1 1AA", "2026-01-01", AccommodationType.NHS, None))
    resp = answer(facts, switched_on())
    assert resp.local_authority == HEREFORDSHIRE
    assert any("s39(5)-(6)" in b.reason for b in resp.basis)


def test_l7_reverses_the_result_of_worcestershire_for_s117_accommodation():
    """[2023] UKSC 31: re-detained from an s117 placement in Swindon, the duty moved to
    Swindon. s117(3A) deems the person resident in the duty-holder's area (Care Act s39(4));
    the duty still ends and restarts at the re-detention (L3, D7)."""
    first = stay("A", "2027-05-01", ("03", "2027-05-01"), discharged="2027-06-01",
                 postcode="WR1 1AA", destination="SN1 1AA")
    again = stay("B", "2027-09-01", ("03", "2027-09-01"), postcode="SN1 1AA", trust="RNZ")
    facts = lived(person(first, again), ("WR1 1AA", "2015-01-01", None, None),
                  ("SN1 1AA", "2027-06-01", AccommodationType.S117, None))
    assert answer(facts, SHIPPED).local_authority == SWINDON  # L3 as the law stands
    resp = answer(facts, switched_on())
    assert resp.local_authority == WORCESTERSHIRE
    assert {"L3", "D7", "L7"} <= set(rules(resp))
    assert resp.icb == answer(facts, SHIPPED).icb  # the NHS body rules are untouched


def test_l7_a_placement_in_wales_keeps_the_placing_authority():
    facts = person(stay("A", "2027-05-01", ("03", "2027-05-01"), postcode="CF10 1AA"))
    lived(facts, ("SN1 1AA", "2010-01-01", None, None),
          ("CF10 1AA", "2026-01-01", AccommodationType.SPECIFIED, WORCESTERSHIRE))
    resp = answer(facts, switched_on())
    assert resp.local_authority == WORCESTERSHIRE
    assert any("Wales" in b.reason and "Sch. 1" in b.reason for b in resp.basis)


def test_l7_under_18_children_act_s105_6_disregards_s117_accommodation():
    """s117(3A)(a): for time under 18, s105(6) applies, also disregarding s117 and NHS
    accommodation; for an adult the same s117 placement is deemed in the duty-holder's area."""
    def history(born: str):
        facts = person(stay("A", "2027-05-01", ("03", "2027-05-01"), postcode="SN1 1AA"),
                       born=born)
        return lived(facts, ("HR1 1AA", "2015-01-01", None, None),
                     ("SN1 1AA", "2026-01-01", AccommodationType.S117, WORCESTERSHIRE))
    child = answer(history("2011-01-01"), switched_on())
    assert child.local_authority == HEREFORDSHIRE
    assert any("Children Act 1989 s105(6)" in b.reason for b in child.basis)
    assert answer(history("1990-01-01"), switched_on()).local_authority == WORCESTERSHIRE


def test_l7_a_placement_with_no_earlier_residence_needs_review():
    facts = person(stay("A", "2027-05-01", ("03", "2027-05-01"), postcode="SN1 1AA"))
    lived(facts, ("SN1 1AA", "2026-01-01", AccommodationType.SPECIFIED, None))
    resp = answer(facts, switched_on())
    assert resp.local_authority is None
    assert any(r.startswith("L7") for r in resp.needs_review)


def test_l7_a_councils_recorded_decision_stands():
    from register.model import OrdinaryResidenceDecision
    facts = placed_in_swindon("2027-05-01")
    facts.or_decisions.append(OrdinaryResidenceDecision("RLQ/A", SWINDON, "OR panel",
                                                        date(2027, 5, 10)))
    assert answer(facts, switched_on()).local_authority == SWINDON


# --- D8: joint written notice ---------------------------------------------------------------


def _active():
    facts = person(stay("A", "2027-01-10", ("03", "2027-01-10"), discharged="2027-02-01"))
    [ent] = derive(facts, RD, SHIPPED)
    return ent


NOTICE = WrittenNotice(date(2027, 6, 1), ["E06000019", "QGH"], NoticeMethod.POST,
                       "Letter ending s117 aftercare")


def _end(ent, on: date, notice: WrittenNotice | None, *reasons: EndReason):
    d = EndDecision(ent.id, on, True, True, True, list(reasons or (EndReason.NO_LONGER_NEEDED,)),
                    la_agreed_by="A. Khan", la_agreed_on=on, icb_agreed_by="B. Cole",
                    icb_agreed_on=on, notice=notice)
    ending.check_end(ent, d, cto_in_force=False, conditionally_discharged_restricted=False,
                     specialist_accommodation=False,
                     reviews=[Review(ent.id, on, needs_arise_from_disorder=False)],
                     notice_from=ruleset.notice_required(on, switched_on()))


def test_d8_off_or_before_commencement_no_notice_is_needed():
    ent = _active()
    _end(ent, date(2027, 3, 31), None)  # the day before: D1-D5 as now
    assert ruleset.notice_required(date(2027, 6, 1), SHIPPED) is None  # shipped off


def test_d8_on_commencement_a_decision_without_the_notice_is_refused():
    ent = _active()
    with pytest.raises(RuleViolation) as err:
        _end(ent, COMMENCED, None)
    assert err.value.rule == "D8" and err.value.field == "notice-date"
    assert "s46(2)" in str(err.value)


@pytest.mark.parametrize(("notice", "field"), [
    (WrittenNotice(date(2027, 6, 1), ["E06000019"], NoticeMethod.POST, "Letter"),
     "notice-given-by"),
    (WrittenNotice(date(2027, 6, 1), ["E06000019", "QGH"], NoticeMethod.EMAIL),
     "notice-document"),
    (WrittenNotice(date(2027, 6, 9), ["E06000019", "QGH"], NoticeMethod.POST, "Letter"),
     "notice-date"),
])
def test_d8_the_notice_needs_both_bodies_the_document_and_a_date_by_the_end(notice, field):
    ent = _active()
    with pytest.raises(RuleViolation) as err:
        _end(ent, date(2027, 6, 1), notice)
    assert (err.value.rule, err.value.field) == ("D8", field)


def test_d8_a_complete_notice_ends_it_and_death_needs_none():
    ent = _active()
    _end(ent, date(2027, 6, 1), NOTICE)
    _end(ent, date(2027, 6, 1), None, EndReason.DIED)


# --- the locality policy file -----------------------------------------------------------------


def test_policy_file_switches_a_set_on_with_its_date_and_choice(tmp_path: Path):
    path = tmp_path / "policy.yaml"
    path.write_text("rule_sets:\n  mha-2025-s46-deeming: {from: 2027-04-01, "
                    "applies_to: determinations-from}\n")
    policy = load_policy(str(path))
    assert policy.rule_sets == {"mha-2025-s46-deeming": Commencement(
        COMMENCED, AppliesTo.DETERMINATIONS_FROM)}


@pytest.mark.parametrize(("text", "says"), [
    ("rule_sets: {mha-2025-s46-deeming: {from: 2027-04-01}}", "applies_to"),
    ("rule_sets: {mha-2025-s46-deeming: {from: 2027-04-01, applies_to: sometimes}}",
     "applies_to"),
    ("rule_sets: {mha-2026: {from: 2027-04-01, applies_to: detentions-from}}", "mha-2026"),
    ("rule_sets: {mha-2025-s46-notice: {applies_to: detentions-from}}", "from"),
])
def test_policy_file_refuses_an_incomplete_or_unknown_switch(tmp_path: Path, text, says):
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(InvalidData) as err:
        load_policy(str(path))
    assert says in str(err.value)
