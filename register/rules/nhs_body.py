"""N: the responsible NHS commissioner (CCG before 2022-07-01, ICB after)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from register.model import PersonFacts, RuleApplied, Stay
from register.rules.citations import applied, review
from register.rules.eligibility import QualifyingDetention
from register.rules.local_authority import la_of_address
from register.rules.ports import RefData

ICB_START = date(2022, 7, 1)


@dataclass(frozen=True)
class NhsFinding:
    icb: str | None
    original_body: str | None = None
    commissioning_body: str | None = None
    paying_body: str | None = None
    paying_icb: str | None = None
    basis: tuple[RuleApplied, ...] = ()
    needs_review: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class _Body:
    """A sub-ICB/CCG code and how it was found, or the reason it could not be."""

    code: str | None
    how: str
    icb: str | None = None
    problem: str | None = None


def _gp_at_detention(facts: PersonFacts, stay: Stay, on: date) -> str | None:
    return stay.gp_practice_at_admission or facts.gp_on(on)


def _body_of_gp(practice: str, on: date, refdata: RefData) -> _Body:
    commissioner = refdata.commissioner_for_practice(practice, on)
    if commissioner is None:
        return _Body(None, "", problem=f"GP practice {practice} is not in the reference data "
                                       "(load epraccur)")
    return _known(_Body(commissioner, f"GP practice {practice} is commissioned by "
                                      f"{commissioner}", refdata.icb_for_sub_icb(commissioner)))


def _known(body: _Body) -> _Body:
    """A commissioner code with no ICB in the reference data (a CCG merged away before 2021,
    a mistyped code) is a question for a person, not an answer without an ICB."""
    if body.code and body.icb is None:
        return _Body(body.code, body.how, problem=f"{body.how}, which is not a sub-ICB location "
                                                   "or CCG with a known successor ICB")
    return body


def _body_of_residence(facts: PersonFacts, stay: Stay, on: date, refdata: RefData) -> _Body:
    address = stay.residence_before or facts.address_on(on)
    if address is None or address.no_fixed_abode:
        return _Body(None, "", problem="no usual residence before detention is known")
    if address.postcode:
        sub_icb = refdata.sub_icb_for_postcode(address.postcode)
        if sub_icb:
            return _known(_Body(sub_icb, f"usual residence (postcode {address.postcode}) "
                                         f"lies in {sub_icb}", refdata.icb_for_sub_icb(sub_icb)))
    la = la_of_address(address, refdata)
    if la:
        icbs = refdata.icbs_for_la(la)
        if len(icbs) == 1:
            # The LA lies wholly in one ICB, so every former CCG in it has that successor.
            return _Body(None, f"usual residence lies in {la}, wholly within ICB {icbs[0]}",
                         icbs[0])
        return _Body(None, "", problem=f"usual residence lies in {la}, which spans ICBs "
                                       f"{', '.join(icbs) or 'unknown'}: postcode-level "
                                       "sub-ICB location needed")
    return _Body(None, "", problem="the usual residence before detention has no known area")


def _n6(code: str | None, icb: str | None) -> tuple[RuleApplied, ...]:
    if code and icb:
        return (applied("N6", f"CCG {code} was abolished on 2022-07-01; its duty is held by "
                              f"successor ICB {icb} (sub-ICB location {code})"),)
    return ()


def _finish(rule: str, body: _Body, what: str, ccg_era: bool) -> NhsFinding:
    if body.problem:
        return NhsFinding(None, basis=(), needs_review=(review(rule, f"{what}: {body.problem}"),))
    basis = (applied(rule, f"{what}: {body.how}"),)
    if ccg_era:
        basis += _n6(body.code, body.icb)
    return NhsFinding(body.icb, original_body=body.code or body.icb, basis=basis)


def n1_pct_era(facts: PersonFacts, stay: Stay, detention: QualifyingDetention,
               refdata: RefData) -> NhsFinding:
    return NhsFinding(None, needs_review=(review(
        "N1", f"detention began {detention.on}, before 2013-04-01 (PCT era): the responsible "
              "NHS body must be decided by hand"),))


def n2_gp_ccg(facts: PersonFacts, stay: Stay, detention: QualifyingDetention,
              refdata: RefData) -> NhsFinding:
    practice = _gp_at_detention(facts, stay, detention.on)
    if practice:
        return _finish("N2", _body_of_gp(practice, detention.on, refdata),
                       "CCG of the registered GP practice", ccg_era=True)
    return _finish("N2", _body_of_residence(facts, stay, detention.on, refdata),
                   "not registered with a GP: CCG where usually resident", ccg_era=True)


def n3_residence_ccg(facts: PersonFacts, stay: Stay, detention: QualifyingDetention,
                     refdata: RefData) -> NhsFinding:
    return _finish("N3", _body_of_residence(facts, stay, detention.on, refdata),
                   "CCG of ordinary residence immediately before detention", ccg_era=True)


def n4_commissioning_and_paying(facts: PersonFacts, stay: Stay, detention: QualifyingDetention,
                                refdata: RefData) -> NhsFinding:
    commissioning = _body_of_residence(facts, stay, detention.on, refdata)
    practice = _gp_at_detention(facts, stay, detention.on)
    if practice:
        paying, paying_what = (_body_of_gp(practice, detention.on, refdata),
                               "paying (originating) CCG: CCG of GP registration")
    else:
        paying, paying_what = (commissioning,
                               "paying (originating) CCG: not registered, CCG of usual residence")
    problems = tuple(review("N4", f"{what}: {b.problem}") for b, what in (
        (commissioning, "commissioning CCG"), (paying, "paying CCG")) if b.problem)
    basis: tuple[RuleApplied, ...] = ()
    if not commissioning.problem:
        basis += (applied("N4", f"commissioning CCG: ordinary residence before detention: "
                                f"{commissioning.how}"),)
        basis += _n6(commissioning.code, commissioning.icb)
    if not paying.problem:
        basis += (applied("N4", f"{paying_what}: {paying.how}"),)
        if paying.code != commissioning.code:
            basis += _n6(paying.code, paying.icb)
    return NhsFinding(
        commissioning.icb,
        original_body=commissioning.code or commissioning.icb,
        commissioning_body=commissioning.code or commissioning.icb,
        paying_body=paying.code or paying.icb,
        paying_icb=paying.icb,
        basis=basis, needs_review=problems)


def n5_icb(facts: PersonFacts, stay: Stay, detention: QualifyingDetention,
           refdata: RefData) -> NhsFinding:
    practice = _gp_at_detention(facts, stay, detention.on)
    if practice:
        body = _body_of_gp(practice, detention.on, refdata)
        if body.code and not body.icb and not body.problem:
            body = _Body(None, "", problem=f"sub-ICB location {body.code} has no known ICB")
        found = _finish("N5", body, "ICB of the registered GP practice when detention began",
                        ccg_era=False)
    else:
        found = _finish("N5", _body_of_residence(facts, stay, detention.on, refdata),
                        "not registered with a GP: ICB where usually resident", ccg_era=False)
    return NhsFinding(found.icb, original_body=found.icb, basis=found.basis,
                      needs_review=found.needs_review)


def kept_through_redetention(previous_icb: str | None, on: date) -> RuleApplied:
    """N7: the originating ICB keeps the duty through later detentions."""
    return applied("N7", f"detained again on {on}: the originating NHS body"
                         f"{' ' + previous_icb if previous_icb else ''} keeps responsibility until "
                         "discharge from aftercare (unlike the local authority)")


def special_cases(detention: QualifyingDetention, planned_on: date, ended_on: date | None,
                  la: str | None) -> tuple[str, ...]:
    """N8: transitional, Part 3 restricted and cross-border cases need a human decision."""
    reasons: list[str] = []
    if planned_on < ICB_START and (ended_on is None or ended_on >= ICB_START):
        reasons.append(review("N8", "already detained or entitled on 2022-07-01: confirm the "
                                    "transitional position of the successor ICB"))
    if detention.restricted:
        reasons.append(review("N8", "restricted Part 3 patient: check whether NHS England "
                                    "specialised commissioning is responsible"))
    if la and not la.startswith("E"):
        reasons.append(review("N8", f"residence outside England ({la}): apply the cross-border "
                                    "protocol"))
    return tuple(reasons)
