"""N: the NHS body holding the s117 duty on a date (PCT before 2013, CCG 2013-2022, ICB since).

The holder is decided by the regime in force on each date, with the transitional rules each
regime made (RULES.md N, December 2026 edition); `register.rules.timeline` asks these rules
about each date where an input changes and keeps the answers as dated segments. Each rule is
a small pure function of the person's facts, the entitlement's detentions and the reference
data, returning the body it names and why, or the reason a person must decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from register.model import (
    Address,
    AddressPeriod,
    GpRegistration,
    PersonFacts,
    RuleApplied,
    Stay,
)
from register.rules.citations import applied, review
from register.rules.local_authority import la_of_address
from register.rules.ports import RefData

CCG_START = date(2013, 4, 1)  # Health and Social Care Act 2012: PCTs abolished, CCGs
FREEZE = date(2016, 4, 1)  # 2016 amendment to the Standing Rules reg 14
WHO_PAYS_2020 = date(2020, 9, 1)  # Who Pays? August 2020: commissioning and paying CCG
ICB_START = date(2022, 7, 1)  # SI 2022/635 in force; CCGs abolished
REGIME_DATES = (CCG_START, FREEZE, ICB_START)

# Part 3 legal status codes (s37, s37/41, s45A, s47, s47/49, s48, s48/49): reg 5 covers Part 2
# applications only (N5d).
PART3_CODES = frozenset({"09", "10", "15", "16", "17", "18", "37", "38"})
# Legal statuses that are not detention in hospital (informal, guardianship, not applicable
# or not known): a stay's detention for regs 5(3) and 6 begins with the first other status.
NOT_DETAINED = frozenset({"01", "35", "36", "98", "99"})
# An application is made at most 14 days before admission (MHA s6(1)): a GP change in that
# window could change the ICB when the application date was not sent.
APPLICATION_WINDOW = timedelta(days=14)


@dataclass(frozen=True)
class Detention:
    """One qualifying detention of an entitlement, as the N rules see it."""

    stay: Stay
    began: date
    left: date | None  # the day the person left hospital (aftercare began); None: still in
    part3: bool = False
    restricted: bool = False


@dataclass(frozen=True)
class NhsFinding:
    """The NHS holder for a run of dates: the rule, the body it named, the holder after
    succession (N6), and for N4 the commissioning and paying CCGs."""

    rule: str
    body: str | None
    holder: str | None
    basis: tuple[RuleApplied, ...] = ()
    needs_review: tuple[str, ...] = ()
    commissioning_body: str | None = None
    paying_body: str | None = None
    paying_icb: str | None = None


@dataclass(frozen=True)
class Body:
    """A CCG/sub-ICB or ICB code and how it was found, or the reason it could not be."""

    code: str | None
    how: str = ""
    problem: str | None = None


EPRACCUR_HINT = "load the NHS ODS GP practice file: s117 refdata load epraccur FILE"


def _dated(valid_from: date, dated_by: str) -> str:
    return f"from {valid_from}" + (f", dated by {dated_by}" if dated_by else "")


def gp_history(facts: PersonFacts) -> list[GpRegistration]:
    """The GP registrations over time: those recorded, and the practice each admission
    named (PD1-3 on the A01) from that day where nothing else is recorded for it."""
    recorded = {g.valid_from for g in facts.gp_registrations}
    implied = [GpRegistration(s.gp_practice_at_admission, s.admitted_at.date(),
                              "the practice named on admission")
               for s in facts.stays if s.gp_practice_at_admission and not s.cancelled
               and s.admitted_at.date() not in recorded]
    return sorted([*facts.gp_registrations, *implied], key=lambda g: g.valid_from)


def address_history(facts: PersonFacts) -> list[AddressPeriod]:
    """The usual addresses over time, as gp_history (PID-11 on admission)."""
    recorded = {a.valid_from for a in facts.addresses}
    implied = [AddressPeriod(s.residence_before, s.admitted_at.date(),
                             "the address before admission")
               for s in facts.stays if s.residence_before and not s.cancelled
               and s.admitted_at.date() not in recorded]
    return sorted([*facts.addresses, *implied], key=lambda a: a.valid_from)


def _registration(facts: PersonFacts, on: date) -> tuple[str, str] | None:
    """The GP practice registered with on `on` and how its start was dated."""
    current = [g for g in gp_history(facts) if g.valid_from <= on]
    if not current:
        return None
    reg = current[-1]
    return reg.practice_ods, _dated(reg.valid_from, reg.dated_by)


def _residence(facts: PersonFacts, on: date) -> tuple[Address, str] | None:
    current = [a for a in address_history(facts) if a.valid_from <= on]
    if not current:
        return None
    period = current[-1]
    return period.address, _dated(period.valid_from, period.dated_by)


def sub_icb_of_practice(practice: str, on: date, refdata: RefData) -> Body:
    sub_icb = refdata.commissioner_for_practice(practice, on)
    if sub_icb is None:
        return Body(None, problem=f"GP practice {practice} is not in the reference data "
                                  f"(or not open on {on}): {EPRACCUR_HINT}")
    return Body(sub_icb, f"GP practice {practice} is in sub-ICB location/CCG {sub_icb}")


def outside_england(address: Address | None, refdata: RefData) -> str | None:
    """The code of a non-English area the address lies in (W, S, N GSS codes), if any."""
    la = la_of_address(address, refdata)
    return la if la and not la.startswith("E") else None


def _ccg_of_address(address: Address, refdata: RefData) -> Body:
    if address.no_fixed_abode:
        return Body(None, problem="no fixed abode: no usual residence")
    sub_icb = refdata.sub_icb_for_postcode(address.postcode) if address.postcode else None
    if sub_icb:
        return Body(sub_icb, f"postcode {address.postcode} lies in CCG/sub-ICB location "
                             f"{sub_icb}")
    return Body(None, problem="the usual residence has no postcode-level CCG (sub-ICB "
                              "location) in the reference data: load an ONS postcode directory "
                              "with sicbl (s117 refdata load postcodes FILE)")


def _icb_of_address(address: Address, on: date, refdata: RefData) -> Body:
    if address.no_fixed_abode:
        return Body(None, problem="no fixed abode: no usual residence")
    sub_icb = refdata.sub_icb_for_postcode(address.postcode) if address.postcode else None
    if sub_icb:
        icb = refdata.icb_for_sub_icb(sub_icb, on)
        if icb:
            return Body(icb, f"usual residence (postcode {address.postcode}) lies in sub-ICB "
                             f"location {sub_icb} of ICB {icb}")
    la = la_of_address(address, refdata)
    if la:
        icbs = refdata.icbs_for_la(la)
        if len(icbs) == 1:
            return Body(icbs[0], f"usual residence lies in {la}, wholly within ICB {icbs[0]}")
        return Body(None, problem=f"usual residence lies in {la}, which spans ICBs "
                                  f"{', '.join(icbs) or 'unknown'}: a postcode-level sub-ICB "
                                  "location is needed")
    return Body(None, problem="the usual residence has no known area")


def ccg_by_gp(facts: PersonFacts, on: date, refdata: RefData) -> Body:
    """The CCG of the GP practice registered with on `on`; if unregistered, of residence."""
    registration = _registration(facts, on)
    if registration:
        practice, dated = registration
        found = sub_icb_of_practice(practice, on, refdata)
        return Body(found.code, f"registered with GP practice {practice} ({dated}), "
                                f"commissioned by CCG {found.code}", found.problem)
    residence = _residence(facts, on)
    if residence is None:
        return Body(None, problem=f"no GP registration or usual residence is known on {on}")
    found = _ccg_of_address(residence[0], refdata)
    return Body(found.code, f"not registered with a GP: {found.how} ({residence[1]})",
                found.problem)


def core_responsibility(facts: PersonFacts, on: date, refdata: RefData) -> Body:
    """The ICB with core responsibility on `on` (NHS Act 2006 s14Z31): through the GP
    practice's sub-ICB location, or if unregistered, the area of usual residence."""
    registration = _registration(facts, on)
    if registration:
        practice, dated = registration
        found = sub_icb_of_practice(practice, on, refdata)
        if found.problem:
            return found
        assert found.code
        icb = refdata.icb_for_sub_icb(found.code, on)
        if icb is None:
            return Body(None, problem=f"sub-ICB location {found.code} of GP practice "
                                      f"{practice} has no ICB on {on} in the reference data "
                                      "(s117 refdata load sub-icb-parents FILE)")
        return Body(icb, f"registered with GP practice {practice} ({dated}) in sub-ICB "
                         f"location {found.code} of ICB {icb}")
    residence = _residence(facts, on)
    if residence is None:
        return Body(None, problem=f"no GP registration or usual residence is known on {on}")
    found = _icb_of_address(residence[0], on, refdata)
    return Body(found.code, f"not registered with a GP: {found.how} ({residence[1]})",
                found.problem)


def _finding(rule: str, body: Body, what: str) -> NhsFinding:
    if body.problem:
        return NhsFinding(rule, None, None,
                          needs_review=(review("N8", f"{rule}, {what}: {body.problem}"),))
    return NhsFinding(rule, body.code, body.code, basis=(applied(rule, f"{what}: {body.how}"),))


def _residence_before(facts: PersonFacts, det: Detention) -> Address | None:
    if det.stay.residence_before is not None:
        return det.stay.residence_before
    found = _residence(facts, det.began)
    return found[0] if found else None


# --- the rules ---------------------------------------------------------------------------


def n1_pct_era(day: date) -> NhsFinding:
    """N1: before 2013-04-01 primary care trusts held NHS duties; not settled here."""
    del day  # the same answer on every date of the PCT era
    return NhsFinding("N1", None, None, needs_review=(review(
        "N1", "on dates before 2013-04-01 (PCT era) the responsible NHS body must be "
              "decided by hand"),))


def n2_current_gp(facts: PersonFacts, day: date, refdata: RefData) -> NhsFinding:
    """N2 (2013-04-01 to 2016-03-31): the CCG of the GP practice registered with on each
    date, following every change of registration."""
    return _finding("N2", ccg_by_gp(facts, day, refdata), "CCG of the current GP registration")


def n3_freeze(held: NhsFinding) -> NhsFinding:
    """N3 freeze: the CCG that held the duty under N2 on 2016-03-31 keeps it until aftercare
    ends or a further qualifying detention."""
    if held.body is None:
        return NhsFinding("N3", None, None, needs_review=(review(
            "N8", "N3 freeze: in aftercare on 2016-03-31, but the CCG holding the duty under "
                  "N2 that day cannot be named: " + "; ".join(held.needs_review)),))
    return NhsFinding("N3", held.body, held.body, basis=(applied(
        "N3", f"in aftercare on 2016-03-31 under CCG {held.body} (N2): the 2016 freeze keeps "
              "the duty there until aftercare ends or a further qualifying detention"),))


def n3_residence(facts: PersonFacts, det: Detention, refdata: RefData) -> NhsFinding:
    """N3 (from 2016-04-01, detention before 2020-09-01): CCG of ordinary residence
    immediately before the detention."""
    address = _residence_before(facts, det)
    body = _ccg_of_address(address, refdata) if address else Body(
        None, problem="no residence immediately before the detention is known")
    return _finding("N3", body, f"CCG of ordinary residence immediately before the "
                                f"detention of {det.began}")


def n4_commissioning_and_paying(facts: PersonFacts, det: Detention,
                                refdata: RefData) -> NhsFinding:
    """N4 (detention 2020-09-01 to 2022-06-30): commissioning CCG of ordinary residence and
    paying ("originating") CCG of GP registration, both immediately before detention."""
    address = _residence_before(facts, det)
    commissioning = _ccg_of_address(address, refdata) if address else Body(
        None, problem="no residence immediately before the detention is known")
    # The practice named on admission is the registration immediately before detention.
    paying = (ccg_by_gp(facts, det.began, refdata) if _registration(facts, det.began)
              else commissioning)
    problems = tuple(review("N8", f"N4, {what}: {b.problem}") for b, what in (
        (commissioning, "commissioning CCG"), (paying, "paying CCG")) if b.problem)
    basis = tuple(applied("N4", f"{what}: {b.how}") for b, what in (
        (commissioning, "commissioning CCG (ordinary residence before detention)"),
        (paying, "paying (originating) CCG (GP registration before detention)"))
        if not b.problem)
    paying_icb = refdata.icb_for_sub_icb(paying.code, ICB_START) if paying.code else None
    return NhsFinding("N4", commissioning.code, commissioning.code, basis, problems,
                      commissioning_body=commissioning.code, paying_body=paying.code,
                      paying_icb=paying_icb)


def _resident_in_england(rule: str, facts: PersonFacts, on: date, regulation: str,
                         refdata: RefData) -> tuple[str, ...]:
    residence = _residence(facts, on)
    elsewhere = outside_england(residence[0], refdata) if residence else None
    if elsewhere:
        return (review("N8", f"{rule}: usually resident outside England ({elsewhere}) on {on}: "
                             f"{regulation} does not apply; apply the cross-border protocol"),)
    return ()


def _icb_rule(rule: str, facts: PersonFacts, key_date: date, what: str, regulation: str,
              refdata: RefData) -> NhsFinding:
    found = _finding(rule, core_responsibility(facts, key_date, refdata),
                     f"{what} ({regulation})")
    outside = _resident_in_england(rule, facts, key_date, regulation, refdata)
    if outside:
        return NhsFinding(rule, None, None, needs_review=found.needs_review + outside)
    return found


def n5_application(facts: PersonFacts, det: Detention, refdata: RefData) -> NhsFinding:
    """N5: a Part 2 application made on or after 2022-07-01: the ICB with core
    responsibility when the application was made (reg 5), for the after-care too (reg 7(2))."""
    applied_on = det.stay.application_on
    if applied_on and _registration(facts, applied_on) is None \
            and _registration(facts, det.began) is not None \
            and det.began - applied_on <= APPLICATION_WINDOW:
        # Registration is known only from the admission (PD1-3 on the A01): an application
        # made at most 14 days before it was made while the person was registered there.
        return _icb_rule("N5", facts, det.began,
                          f"ICB with core responsibility when the application was made on "
                          f"{applied_on} (no registration recorded before the admission of "
                          f"{det.began}: the practice named then is taken)",
                          "SI 2022/635 regs 5 and 7(2)", refdata)
    if applied_on:
        return _icb_rule("N5", facts, applied_on,
                         f"ICB with core responsibility when the application was made on "
                         f"{applied_on}", "SI 2022/635 regs 5 and 7(2)", refdata)
    found = _icb_rule("N5", facts, det.began,
                      f"application date not recorded: ICB with core responsibility on the "
                      f"first day of detention, {det.began}", "SI 2022/635 regs 5 and 7(2)",
                      refdata)
    before = _registration(facts, det.began - APPLICATION_WINDOW)
    at_detention = _registration(facts, det.began)
    if found.body and before and at_detention and before[0] != at_detention[0]:
        return NhsFinding("N5", None, None, needs_review=(review(
            "N8", f"N5: the GP registration changed ({before[0]} to {at_detention[0]}) within "
                  f"14 days before the detention of {det.began} and the application date is "
                  "not recorded: send it (ZMH-7) or decide by hand"),))
    return found


def n5a_on_commencement(facts: PersonFacts, why: str, refdata: RefData) -> NhsFinding:
    """N5a: in detention on 2022-07-01, detained later on an earlier application, or in
    aftercare then and detained again: the ICB with core responsibility on 2022-07-01
    (reg 6(2)-(4), reg 7(2))."""
    return _icb_rule("N5a", facts, ICB_START,
                     f"{why}: ICB with core responsibility on 2022-07-01",
                     "SI 2022/635 reg 6 and reg 7(2)", refdata)


def n5b_discharged_before(facts: PersonFacts, refdata: RefData) -> NhsFinding:
    """N5b: aftercare for a detention discharged before 2022-07-01: from that date the ICB
    with core responsibility on 2022-07-01, not the successor of the CCG (reg 7(3))."""
    return _icb_rule("N5b", facts, ICB_START,
                     "discharged before 2022-07-01: ICB with core responsibility on "
                     "2022-07-01 (the CCG-era holder is history to 2022-06-30)",
                     "SI 2022/635 reg 7(3)", refdata)


def n5d_part3(facts: PersonFacts, det: Detention, refdata: RefData) -> NhsFinding:
    """N5d: a Part 3 detention from 2022-07-01 is not a reg 5 application: the ICB with core
    responsibility on the first day of detention, to be confirmed."""
    found = _icb_rule("N5d", facts, det.began,
                      f"Part 3 detention from {det.began}: ICB with core responsibility on "
                      "the first day of detention", "SI 2022/635 reg 5(2), by analogy",
                      refdata)
    return NhsFinding(found.rule, found.body, found.holder, found.basis, (
        *found.needs_review, review("N8", "N5d: Part 3 detention: reg 5 covers Part 2 "
                                          "applications only; confirm the ICB")))


def n5c_secure_services(det: Detention) -> tuple[str, ...]:
    """N5c/N8: a restricted patient's detention is usually arranged by NHS England (regs
    7(4), 7(5)) and its after-care may be NHS England's own (reg 8)."""
    if not det.restricted:
        return ()
    return (review("N8", "N5c: restricted patient: record whether NHS England arranged the "
                         "detention (reg 7(4)/(5)) or commissions the after-care (reg 8)"),)


def n7_kept(holder: str | None, det: Detention) -> RuleApplied:
    """N7: a further detention within the exclusion period does not move the NHS duty."""
    return applied("N7", f"detained again on {det.began}: the originating ICB"
                         f"{' ' + holder if holder else ''} keeps responsibility until both "
                         "bodies are discharged from the duty (reg 2(2), regs 5 and 7)")


# --- N6: organisations change -----------------------------------------------------------


def person_sub_icb(facts: PersonFacts, on: date, refdata: RefData) -> str | None:
    """The person's sub-ICB location on a date (for resolving a split ICB, N6)."""
    registration = _registration(facts, on)
    if registration:
        return refdata.commissioner_for_practice(registration[0], on)
    residence = _residence(facts, on)
    if residence and residence[0].postcode:
        return refdata.sub_icb_for_postcode(residence[0].postcode)
    return None


def succession_dates(body: str, refdata: RefData) -> set[date]:
    """Every legal date on the succession chains from `body` (where the holder may change)."""
    found: set[date] = set()
    pending, seen = [body], {body}
    while pending:
        for target, legal in refdata.successors(pending.pop()):
            found.add(legal)
            if target not in seen:
                seen.add(target)
                pending.append(target)
    return found


def n6_successor(found: NhsFinding, facts: PersonFacts, day: date,
                 refdata: RefData) -> NhsFinding:
    """N6: the body holding the named body's duty on `day`, following the dated succession
    chain; a split predecessor resolves through the person's sub-ICB location on the
    succession date, else needs review."""
    holder, steps, seen = found.body, [], set()
    while holder is not None and holder not in seen:
        seen.add(holder)
        due = [(t, d) for t, d in refdata.successors(holder) if d <= day]
        if not due:
            break
        legal = min(d for _, d in due)
        targets = sorted({t for t, d in due if d == legal})
        target = targets[0]
        if len(targets) > 1:
            sub_icb = person_sub_icb(facts, legal, refdata)
            parent = refdata.icb_for_sub_icb(sub_icb, legal) if sub_icb else None
            if parent not in targets:
                where = (f"sub-ICB location {sub_icb} (in {parent or 'no known ICB'})"
                         if sub_icb else "not known")
                return NhsFinding(found.rule, found.body, None, found.basis + tuple(steps), (
                    *found.needs_review, review(
                        "N8", f"N6: {holder} was split on {legal} between "
                              f"{', '.join(targets)} and the person's sub-ICB location on that "
                              f"date is {where}")))
            assert parent is not None
            target = parent
            how = f"split on {legal}: the person's sub-ICB location {sub_icb} went to {target}"
        else:
            how = f"succeeded by {target} on {legal}"
        steps.append(applied("N6", f"{holder} {how} (NHS ODS succession): {target} holds the "
                                   f"duty named {found.body}"))
        holder = target
    return NhsFinding(found.rule, found.body, holder, found.basis + tuple(steps),
                      found.needs_review, found.commissioning_body, found.paying_body,
                      found.paying_icb)
