"""Rule sets by effective date (RULES.md L6).

A new set (a new Who Pays?) is a new entry in `RULE_SETS`; older entries are never edited,
so past determinations stay reproducible. Law that is enacted but not commenced (the Mental
Health Act 2025 s46: L7 deeming, D8 written notice) is a `SwitchableSet`, shipped disabled:
the locality policy switches it on with its commencement date and the transitional choice
(`rule_sets:` in the file named by S117_LOCALITY_POLICY), because the commencement
regulations (MHA 2025 s56) have not been made and may bring transitional provision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from register.rules.ports import AppliesTo, Commencement, LocalityPolicy


@dataclass(frozen=True)
class RuleSet:
    id: str
    effective_from: date
    title: str


# The NHS body is not chosen per rule set: it is a timeline decided by the regime in force on
# each date (register.rules.timeline, RULES.md N). The sets name the regime a detention began
# under.
RULE_SETS: tuple[RuleSet, ...] = (
    RuleSet("pre-2013", date(1983, 9, 30), "PCT era"),
    RuleSet("who-pays-2013", date(2013, 4, 1), "CCG of GP registration"),
    RuleSet("who-pays-2016", date(2016, 4, 1), "CCG of ordinary residence"),
    RuleSet("who-pays-2020", date(2020, 9, 1), "commissioning and paying CCG"),
    RuleSet("icb-2022", date(2022, 7, 1), "ICB with core responsibility"),
)


def for_detention(on: date, policy: LocalityPolicy) -> RuleSet:
    """The latest rule set whose effective date is on or before the detention."""
    candidates = [rs for rs in RULE_SETS if rs.effective_from <= on]
    return max(candidates, key=lambda rs: rs.effective_from) if candidates else RULE_SETS[0]


# --- enacted, not commenced: switched on by the locality policy ---------------------------


@dataclass(frozen=True)
class SwitchableSet:
    id: str
    rule_id: str
    title: str
    enacted: date  # Royal Assent; commencement is the policy's


MHA_2025_DEEMING = SwitchableSet(
    "mha-2025-s46-deeming", "L7", "Mental Health Act 2025 s46(3): s117(3A) deeming of "
    "ordinary residence (Care Act 2014 s39, Children Act 1989 s105(6))", date(2025, 12, 18))
MHA_2025_NOTICE = SwitchableSet(
    "mha-2025-s46-notice", "D8", "Mental Health Act 2025 s46(2): s117 ends by joint notice "
    "in writing to the person", date(2025, 12, 18))
SWITCHABLE: tuple[SwitchableSet, ...] = (MHA_2025_DEEMING, MHA_2025_NOTICE)


def commencement(rule_set: SwitchableSet, policy: LocalityPolicy) -> Commencement | None:
    """The commencement the policy gives a switchable set; None while it is off (shipped)."""
    return policy.rule_sets.get(rule_set.id)


@dataclass(frozen=True)
class Regime:
    """Whether the new rules decide one determination, and whether it straddles the
    commencement (detained before it, leaving hospital on or after it, or not yet)."""

    commenced: Commencement
    applies: bool
    straddles: bool

    def describe(self) -> str:
        choice = ("detentions that begin" if self.commenced.applies_to
                  is AppliesTo.DETENTIONS_FROM else "determinations made")
        return (f"in force from {self.commenced.on} for {choice} on or after that date "
                "(locality policy)")


def deeming_regime(detained_on: date, left_on: date | None,
                   policy: LocalityPolicy) -> Regime | None:
    """L7 for the detention that began on `detained_on` (the person left hospital on
    `left_on`, None while still there); None while the set is off."""
    commenced = commencement(MHA_2025_DEEMING, policy)
    if commenced is None:
        return None
    if commenced.applies_to is AppliesTo.DETENTIONS_FROM:
        applies = detained_on >= commenced.on
    else:  # the determination is made when the duty arises: on leaving hospital
        applies = (left_on or detained_on) >= commenced.on
    straddles = detained_on < commenced.on and (left_on is None or left_on >= commenced.on)
    return Regime(commenced, applies, straddles)


def notice_required(decision_date: date, policy: LocalityPolicy) -> Commencement | None:
    """D8: an end decision dated on or after the commencement needs the written notice."""
    commenced = commencement(MHA_2025_NOTICE, policy)
    return commenced if commenced is not None and decision_date >= commenced.on else None
