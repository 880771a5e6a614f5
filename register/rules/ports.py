"""What the rules need from outside: reference data lookups and the locality policy.

The rules are pure functions; they receive these as arguments so that tests can pass an
in-memory implementation and the service a database-backed one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Protocol


class RefData(Protocol):
    """Geography and NHS organisation lookups (England)."""

    def la_for_postcode(self, postcode: str) -> str | None:
        """GSS code of the local authority district/unitary for a postcode (ONSPD `laua`)."""

    def sub_icb_for_postcode(self, postcode: str) -> str | None:
        """ODS code of the sub-ICB location (former CCG) for a postcode, when the file has it."""

    def social_services_authority(self, la_gss: str) -> str:
        """The upper-tier authority with social services duties: a district maps to its county."""

    def commissioner_for_practice(self, practice_ods: str, on: date) -> str | None:
        """Sub-ICB location / CCG ODS code commissioning a GP practice (epraccur column 15)."""

    def icb_for_sub_icb(self, sub_icb_ods: str, on: date | None = None) -> str | None:
        """ICB ODS code holding a sub-ICB location on `on` (dated sub-ICB parents, RULES.md
        N6; None: as the shipped geography has it)."""

    def successors(self, code: str) -> tuple[tuple[str, date], ...]:
        """N6: the bodies that took over `code`'s functions, each with its legal date (NHS
        ODS succession); more than one on a date is a split."""

    def icbs_for_la(self, la_gss: str) -> tuple[str, ...]:
        """ICBs covering a local authority, the largest share first (empty if unknown)."""

    def name(self, code: str) -> str | None:
        """Human name of an LA (GSS), ICB, sub-ICB or GP practice (ODS), if known."""


# Service types a panel considers whatever their cost by default: specialist provision
# (seed 004 5.9.1). Personal budgets always need a recorded decision (F5).
DEFAULT_PANEL_SERVICE_TYPES = frozenset({"residential-care", "nursing-care",
                                         "supported-accommodation"})


class AppliesTo(StrEnum):
    """The transitional choice for a rule set switched on before its transitional rules are
    known (RULES.md L7): the new rules apply to detentions that begin on or after the
    commencement date, or to every determination made (every discharge) from it."""

    DETENTIONS_FROM = "detentions-from"
    DETERMINATIONS_FROM = "determinations-from"


@dataclass(frozen=True)
class Commencement:
    """A switchable rule set as the locality policy switches it on (L6)."""

    on: date
    applies_to: AppliesTo = AppliesTo.DETENTIONS_FROM


@dataclass(frozen=True)
class LocalityOverride:
    """What one local authority sets differently from the regional policy (None: inherit)."""

    first_review_days: int | None = None
    review_interval_months: int | None = None
    panel_weekly_cost: Decimal | None = None
    panel_service_types: frozenset[str] | None = None


@dataclass(frozen=True)
class LocalityPolicy:
    """Local choices that are configuration, not law (RULES.md R, E4; the panel of seeds
    001 and 004). `localities` overrides them for one responsible LA (by GSS code)."""

    first_review_days: int = 42  # R1: six weeks
    review_interval_months: int = 12  # R2: at most twelve months
    s17_leave_with_plan_starts_entitlement: bool = False  # E4, default off
    # L6: rule sets enacted but not commenced, switched on with their commencement date and
    # transitional choice, e.g. {"mha-2025-s46-deeming": Commencement(date(2027, 4, 1))}.
    rule_sets: Mapping[str, Commencement] = field(default_factory=dict)
    # A service line needs a panel decision at or above this weekly cost, or of these types.
    panel_weekly_cost: Decimal = Decimal(1000)
    panel_service_types: frozenset[str] = DEFAULT_PANEL_SERVICE_TYPES
    localities: Mapping[str, LocalityOverride] = field(default_factory=dict)

    def for_la(self, la_gss: str | None) -> LocalityPolicy:
        """The policy as it applies where `la_gss` is the responsible authority."""
        found = self.localities.get(la_gss) if la_gss else None
        if found is None:
            return self
        changed = {name: value for name, value in vars(found).items() if value is not None}
        return replace(self, **changed)
