"""L: the responsible local (social services) authority."""

from __future__ import annotations

from dataclasses import dataclass

from register.model import Address, PersonFacts, RuleApplied, Stay
from register.rules.citations import applied, review
from register.rules.eligibility import QualifyingDetention
from register.rules.ports import RefData


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


def deemed_residence(previous_la: str | None, placed_by_previous: bool,
                     refdata: RefData) -> LaFinding | None:
    """L6 (disabled until commenced): a person placed out of area under s117 stays deemed
    ordinarily resident in the placing authority, so re-detention does not move the LA."""
    if previous_la is None or not placed_by_previous:
        return None
    return LaFinding(previous_la, (applied(
        "L6", f"placed out of area by {_named(previous_la, refdata)}: deemed ordinarily "
              "resident there"),))


def interim_lead(parties: list[str], current_residence_la: str | None,
                 agreed: str | None = None) -> tuple[str, RuleApplied]:
    """L5: the authority where the person is leads in the interim, unless agreed otherwise."""
    if agreed:
        return agreed, applied("L5", f"interim lead {agreed} agreed between "
                                     f"{', '.join(parties)}")
    lead = current_residence_la if current_residence_la in parties else parties[0]
    return lead, applied("L5", f"dispute between {', '.join(parties)}: {lead}, where the "
                               "person is, leads in the interim; all deadlines keep running")
