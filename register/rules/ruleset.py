"""Rule sets keyed by the date the qualifying detention began.

A new set (a new Who Pays?, the Mental Health Act 2025 deeming rule) is a new entry in
`RULE_SETS`; older entries are never edited, so past determinations stay reproducible.
A set may ship disabled: it is selected only once its id is listed in the locality policy
(`enabled_rule_sets` in the file named by S117_LOCALITY_POLICY), for detentions on or
after its effective date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from register.rules.ports import LocalityPolicy


@dataclass(frozen=True)
class RuleSet:
    id: str
    effective_from: date
    title: str
    deeming: bool = False  # L6: out-of-area placements deemed resident in the placing LA
    enabled_by_default: bool = True


# The NHS body is not chosen per rule set: it is a timeline decided by the regime in force on
# each date (register.rules.timeline, RULES.md N). The sets name the regime a detention began
# under and carry the local authority rules (L6).
RULE_SETS: tuple[RuleSet, ...] = (
    RuleSet("pre-2013", date(1983, 9, 30), "PCT era"),
    RuleSet("who-pays-2013", date(2013, 4, 1), "CCG of GP registration"),
    RuleSet("who-pays-2016", date(2016, 4, 1), "CCG of ordinary residence"),
    RuleSet("who-pays-2020", date(2020, 9, 1), "commissioning and paying CCG"),
    RuleSet("icb-2022", date(2022, 7, 1), "ICB with core responsibility"),
    # L6: commencement of the Mental Health Act 2025 s46 is not verified; the date is a
    # placeholder that the policy must confirm when it enables the set.
    RuleSet("mha-2025-deeming", date(2026, 4, 1), "ICB of GP registration; out-of-area "
            "placements deemed resident in the placing authority",
            deeming=True, enabled_by_default=False),
)


def enabled(rule_set: RuleSet, policy: LocalityPolicy) -> bool:
    return rule_set.enabled_by_default or rule_set.id in policy.enabled_rule_sets


def for_detention(on: date, policy: LocalityPolicy) -> RuleSet:
    """The latest enabled rule set whose effective date is on or before the detention."""
    candidates = [rs for rs in RULE_SETS if rs.effective_from <= on and enabled(rs, policy)]
    return max(candidates, key=lambda rs: rs.effective_from) if candidates else RULE_SETS[0]
