"""What the rules need from outside: reference data lookups and the locality policy.

The rules are pure functions; they receive these as arguments so that tests can pass an
in-memory implementation and the service a database-backed one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
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

    def icb_for_sub_icb(self, sub_icb_ods: str) -> str | None:
        """ICB ODS code holding a sub-ICB location (a CCG's successor since 2022-07-01)."""

    def icbs_for_la(self, la_gss: str) -> tuple[str, ...]:
        """ICBs covering a local authority, the largest share first (empty if unknown)."""

    def name(self, code: str) -> str | None:
        """Human name of an LA (GSS), ICB, sub-ICB or GP practice (ODS), if known."""


@dataclass(frozen=True)
class LocalityPolicy:
    """Local choices that are configuration, not law (RULES.md R, E4)."""

    first_review_days: int = 42  # R1: six weeks
    review_interval_months: int = 12  # R2: at most twelve months
    s17_leave_with_plan_starts_entitlement: bool = False  # E4, default off
    enabled_rule_sets: frozenset[str] = field(default_factory=frozenset)  # e.g. L6 when commenced
