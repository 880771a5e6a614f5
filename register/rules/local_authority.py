"""L: the responsible local (social services) authority."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING

from register.errors import RuleViolation
from register.model import (
    AccommodationType,
    Address,
    AddressPeriod,
    PersonFacts,
    RuleApplied,
    Stay,
)
from register.rules.citations import applied, review
from register.rules.eligibility import QualifyingDetention
from register.rules.ports import RefData

if TYPE_CHECKING:  # ruleset imports the NHS rules, which import this module
    from register.rules.ruleset import Regime


@dataclass(frozen=True)
class LaFinding:
    local_authority: str | None
    basis: tuple[RuleApplied, ...]
    needs_review: tuple[str, ...] = ()


def la_of_address(address: Address | None, refdata: RefData) -> str | None:
    """Social services authority for an address: a stated LA, else its postcode's."""
    if address is None:
        return None
    if address.la_gss:
        return refdata.social_services_authority(address.la_gss)
    if address.postcode:
        district = refdata.la_for_postcode(address.postcode)
        if district:
            return refdata.social_services_authority(district)
    return None


def _named(code: str, refdata: RefData) -> str:
    name = refdata.name(code)
    return f"{name} ({code})" if name else code


def ordinary_residence(facts: PersonFacts, stay: Stay, detention: QualifyingDetention,
                       refdata: RefData) -> LaFinding:
    """L1: where the person was ordinarily resident immediately before being detained."""
    decisions = [d for d in facts.or_decisions if d.stay_key == stay.key]
    if decisions:
        d = max(decisions, key=lambda d: d.decided_on)
        la = refdata.social_services_authority(d.la_gss)
        return LaFinding(la, (applied(
            "L1", f"ordinarily resident in {_named(la, refdata)} immediately before detention: "
                  f"decision recorded by {d.decided_by} on {d.decided_on}"),))
    if stay.or_la_from_trust:
        la = refdata.social_services_authority(stay.or_la_from_trust)
        return LaFinding(la, (applied(
            "L1", f"ordinarily resident in {_named(la, refdata)} immediately before detention, "
                  f"as reported by trust {stay.trust_ods}"),))
    address = stay.residence_before or facts.address_on(detention.on)
    if address is not None and address.no_fixed_abode:
        destination = la_of_address(stay.discharge_address, refdata)
        if destination:
            return LaFinding(destination, (applied(
                "L1", "not ordinarily resident anywhere (no fixed abode): the authority for "
                      f"the area the person is sent to on discharge, {_named(destination, refdata)}"
                      " (s117(3)(c))"),))
        return LaFinding(None, (), (review(
            "L1", "no fixed abode before detention and no discharge destination yet: the "
                  "authority under s117(3)(c) cannot be named"),))
    la = la_of_address(address, refdata)
    if la:
        where = f"postcode {address.postcode}" if address and address.postcode else "address"
        return LaFinding(la, (applied(
            "L1", f"usual address immediately before admission ({where}) lies in "
                  f"{_named(la, refdata)}: taken as ordinary residence"),))
    return LaFinding(None, (), (review(
        "L1", "no residence immediately before detention is known: record an ordinary "
              "residence decision"),))


def redetention(facts: PersonFacts, stay: Stay, detention: QualifyingDetention,
                previous_la: str | None, refdata: RefData) -> LaFinding:
    """L3 / D7: a qualifying re-detention ends the LA duty; residence before *this* detention."""
    found = ordinary_residence(facts, stay, detention, refdata)
    ended = (f"the duty of {_named(previous_la, refdata)} ended at this detention"
             if previous_la else "the earlier duty ended at this detention")
    step = applied("L3", f"detained again under a qualifying section on {detention.on}: {ended}; "
                         "the new duty falls on the authority of ordinary residence immediately "
                         "before the latest detention")
    return LaFinding(found.local_authority, (step, applied("D7", ended), *found.basis),
                     found.needs_review)


# --- L7: Mental Health Act 2025 s46(3), s117(3A) (switched on by the locality policy) ----

_NATIONS = {"W": "Wales", "S": "Scotland", "N": "Northern Ireland"}


def _nation(address: Address, refdata: RefData) -> str | None:
    """Wales, Scotland or Northern Ireland for an address outside England, else None."""
    code = address.la_gss or (refdata.la_for_postcode(address.postcode)
                              if address.postcode else None)
    return _NATIONS.get(code[0]) if code else None


def _where(period: AddressPeriod) -> str:
    return f"{period.address.postcode or 'an address'} from {period.valid_from}"


def _history_before(facts: PersonFacts, stay: Stay, on: date) -> list[AddressPeriod]:
    """The person's addresses before the detention, latest first. The address the trust
    gave at admission leads when it carries an accommodation type or the history does not
    describe it (another postcode): the history then stops there."""
    history: list[AddressPeriod] = []
    for period in sorted((a for a in facts.addresses if a.valid_from <= on),
                         key=lambda a: a.valid_from):
        last = history[-1].address if history else None
        # A sender restating the same address without a type (a trust's admission) does
        # not end the placement a council described.
        if (last is not None and period.address.accommodation is None
                and (period.address.postcode, period.address.la_gss)
                == (last.postcode, last.la_gss)):
            continue
        history.append(period)
    history.reverse()
    given = stay.residence_before
    if given is None:
        return history
    if history and (given.postcode is None or given.postcode == history[0].address.postcode):
        if given.accommodation is not None:
            return [AddressPeriod(replace(history[0].address, accommodation=given.accommodation,
                                          placed_by=given.placed_by or
                                          history[0].address.placed_by),
                                  history[0].valid_from), *history[1:]]
        return history
    return [AddressPeriod(given, history[0].valid_from if history else on)] if \
        given.accommodation is not None else []


def deemed_residence(facts: PersonFacts, stay: Stay, detention: QualifyingDetention,
                     duty_holder: str | None, refdata: RefData) -> LaFinding | None:
    """L7: ordinary residence immediately before the detention with s117(3A) applied, or
    None when the person lived in ordinary accommodation (L1's answer stands). Walks back
    through consecutive placements: for time aged 18 or over, specified accommodation is
    deemed residence before the first placement (Care Act 2014 s39(1)-(2)), s117
    accommodation is deemed residence in the area of the authority with the s117 duty
    (s39(4)), NHS accommodation is disregarded (s39(5)-(6)) and a placement into Wales,
    Scotland or Northern Ireland keeps the placing authority (Sch. 1); for time under 18,
    Children Act 1989 s105(6) disregards accommodation provided by a local authority, and
    s117(3A)(a) adds s117 and NHS accommodation."""
    steps: list[RuleApplied] = []
    first_placer: str | None = None
    for period in _history_before(facts, stay, detention.on):
        address = period.address
        kind = address.accommodation or AccommodationType.ORDINARY
        if kind is AccommodationType.ORDINARY:
            if not steps:
                return None
            la = la_of_address(address, refdata)
            if la is None:
                break
            return LaFinding(la, (*steps, applied(
                "L7", f"before that, living at {_where(period)} in "
                      f"{_named(la, refdata)}: deemed ordinarily resident there")))
        age = facts.age_on(period.valid_from)
        first_placer = address.placed_by or first_placer
        if age is not None and age < 18:
            steps.append(applied("L7", f"aged {age} at {_where(period)} ({kind.value} "
                                       "accommodation): the time is disregarded (Children Act "
                                       "1989 s105(6), read with s117(3A)(a))"))
            continue
        if kind is AccommodationType.S117:
            holder = duty_holder or address.placed_by
            if holder is None:
                return LaFinding(None, tuple(steps), (review(
                    "L7", f"in s117 accommodation at {_where(period)} but the authority "
                          "holding the s117 duty is not known: record an ordinary residence "
                          "decision"),))
            return LaFinding(holder, (*steps, applied(
                "L7", f"in s117 accommodation at {_where(period)}: deemed ordinarily resident "
                      f"in the area of {_named(holder, refdata)}, the authority holding the "
                      "s117 duty (Care Act 2014 s39(4))")))
        if kind is AccommodationType.NHS:
            steps.append(applied("L7", f"in NHS accommodation at {_where(period)}: the time "
                                       "is disregarded (Care Act 2014 s39(5)-(6))"))
            continue
        nation = _nation(address, refdata)
        if nation and address.placed_by:
            return LaFinding(address.placed_by, (*steps, applied(
                "L7", f"placed in specified accommodation in {nation} at {_where(period)} by "
                      f"{_named(address.placed_by, refdata)}: a placement across the border "
                      "keeps the placing authority (Care Act 2014 Sch. 1)")))
        steps.append(applied("L7", f"in specified accommodation at {_where(period)}"
                                   + (f" in {nation}" if nation else "")
                                   + ": deemed resident where they lived before the first of "
                                     "consecutive placements (Care Act 2014 s39(1)-(2))"))
    if first_placer:
        return LaFinding(first_placer, (*steps, applied(
            "L7", f"the residence before the first placement is not recorded: the placing "
                  f"authority {_named(first_placer, refdata)} keeps it")))
    return LaFinding(None, tuple(steps), (review(
        "L7", "the residence before the first placement is not recorded: record an ordinary "
              "residence decision"),))


def with_deeming(found: LaFinding, deemed: LaFinding | None, regime: Regime,
                 decided: bool, refdata: RefData) -> LaFinding:
    """L6/L7: the answer under the transitional choice. A council's recorded decision
    stands (it was made with the law in force); a case that straddles the commencement is
    *needs review* when the two regimes give different authorities."""
    if deemed is None or decided:
        return found
    chosen = deemed if regime.applies else found
    note = applied("L6", f"Mental Health Act 2025 s46 deeming {regime.describe()}: "
                         + ("applied" if regime.applies else "not applied to this detention"))
    reviews = chosen.needs_review
    if regime.straddles and deemed.local_authority != found.local_authority:
        reviews = (*reviews, review(
            "L6", f"the detention began before the MHA 2025 s46 commencement "
                  f"({regime.commenced.on}) and the duty arises after it: without the deeming "
                  f"rule {_named(found.local_authority or 'no authority', refdata)}, with it "
                  f"{_named(deemed.local_authority or 'no authority', refdata)}; "
                  "transitional provision is not yet made"))
    # A re-detention still ends the old duty and starts a new one (L3, D7) under L7.
    ended = tuple(b for b in found.basis if b.rule_id in ("L3", "D7")) if regime.applies else ()
    return LaFinding(chosen.local_authority, (*ended, *chosen.basis, note), reviews)


def refuse_transfer_on_move(facts: PersonFacts, stay: Stay, detained_on: date,
                            responsible: str | None, decided: str, refdata: RefData) -> None:
    """O5 (with L2): a decision naming as ordinarily resident the council the person moved
    to after the detention, rather than where they lived immediately before it, is a
    request to "transfer the package" on a move, and the s117 duty does not move with the
    person (LGSCO Worcestershire 24 014 179). A decision that corrects the residence before
    the detention (any other council) is taken."""
    if responsible is None or decided == responsible:
        return
    before = la_of_address(stay.residence_before or facts.address_on(detained_on), refdata)
    if before is None or decided == before:
        return
    moved_to = {la_of_address(a.address, refdata) for a in facts.addresses
                if a.valid_from >= detained_on} | {la_of_address(stay.discharge_address, refdata)}
    if decided in moved_to:
        raise RuleViolation(
            f"{_named(decided, refdata)} is where the person moved to after the detention of "
            f"{detained_on}; they lived in {_named(before, refdata)} immediately before it. A "
            f"move does not transfer the s117 duty: {_named(responsible, refdata)} keeps it "
            "(L2). Record ordinary residence only for where the person lived before the "
            "detention", rule="O5", field="la_gss")


def interim_lead(parties: list[str], current_residence_la: str | None,
                 agreed: str | None = None) -> tuple[str, RuleApplied]:
    """L5: the authority where the person is leads in the interim, unless agreed otherwise."""
    if agreed:
        return agreed, applied("L5", f"interim lead {agreed} agreed between "
                                     f"{', '.join(parties)}")
    lead = current_residence_la if current_residence_la in parties else parties[0]
    return lead, applied("L5", f"dispute between {', '.join(parties)}: {lead}, where the "
                               "person is, leads in the interim; all deadlines keep running")
