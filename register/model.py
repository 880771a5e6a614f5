"""The Section 117 domain: plain dataclasses, no framework.

A person's record is an aggregate of *facts* (what trusts and councils told the register:
stays, legal status periods, CTO and leave events, addresses, GP registrations, decisions)
and *entitlements* derived from those facts by the rules engine. Facts are only ever added
or corrected by commands; entitlements and their responsibility determinations are
recomputed from facts, and every change to them is kept as history by the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


@dataclass
class Address:
    postcode: str | None = None
    lines: list[str] = field(default_factory=list)
    # A sender may state the local authority directly (ZMH-5, a council file).
    la_gss: str | None = None
    no_fixed_abode: bool = False


@dataclass
class AddressPeriod:
    address: Address
    valid_from: date


@dataclass
class GpRegistration:
    practice_ods: str
    valid_from: date


@dataclass
class LegalStatusPeriod:
    code: str  # normalised two-digit Data Dictionary code
    start: datetime
    end: datetime | None = None
    restricted: bool = False


class StayEventKind(StrEnum):
    CTO_START = "cto-start"
    CTO_END = "cto-end"
    CTO_RECALL = "cto-recall"
    CONDITIONAL_DISCHARGE = "conditional-discharge"
    LEAVE_START = "s17-leave-start"
    LEAVE_END = "s17-leave-end"


@dataclass
class StayEvent:
    kind: StayEventKind
    at: datetime
    with_aftercare_plan: bool = False  # s17 leave with an aftercare plan (E4)
    source: str = ""


@dataclass
class Stay:
    """One hospital stay (spell) at a trust, identified by the trust and its visit number."""

    trust_ods: str
    stay_ref: str
    admitted_at: datetime
    residence_before: Address | None = None  # usual address immediately before admission
    gp_practice_at_admission: str | None = None
    or_la_from_trust: str | None = None  # ZMH-5: trust's view of ordinary residence
    discharged_at: datetime | None = None
    discharge_address: Address | None = None
    cancelled: bool = False
    legal_status: list[LegalStatusPeriod] = field(default_factory=list)
    events: list[StayEvent] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.trust_ods}/{self.stay_ref}"


@dataclass
class OrdinaryResidenceDecision:
    """A council's recorded ordinary-residence decision; it overrides what messages implied."""

    stay_key: str
    la_gss: str
    decided_by: str
    decided_on: date
    evidence: str = ""


class EndReason(StrEnum):
    NO_LONGER_NEEDED = "no-longer-needed"
    DIED = "died"
    DISCHARGED_FROM_SPECIALIST_SERVICES = "discharged-from-specialist-services"
    TIME_ELAPSED = "time-elapsed"
    DEPRIVED_OF_LIBERTY_MCA = "deprived-of-liberty-mca"
    READMITTED_INFORMAL_OR_S2 = "readmitted-informal-or-s2"
    CTO_OR_LEAVE_ENDED = "cto-or-leave-ended"
    REFUSED_SERVICES = "refused-services"


@dataclass
class EndDecision:
    entitlement_id: str
    decision_date: date
    la_agreed: bool
    icb_agreed: bool
    person_involved: bool
    reasons: list[EndReason]
    note: str = ""
    moved_to_suitable_accommodation: bool = False


@dataclass
class Reinstatement:
    entitlement_id: str
    on: date
    reason: str = ""


@dataclass
class Review:
    entitlement_id: str
    on: date
    outcome: str = ""
    person_involved: bool = True
    needs_arise_from_disorder: bool = True


class DisputeStatus(StrEnum):
    OPEN = "open"
    REFERRED = "referred-to-secretary-of-state"
    RESOLVED = "resolved"


@dataclass
class Dispute:
    entitlement_id: str
    parties: list[str]  # LA GSS codes
    interim_lead: str
    opened_on: date
    status: DisputeStatus = DisputeStatus.OPEN
    resolved_on: date | None = None
    resolved_la: str | None = None


@dataclass
class PersonFacts:
    """Everything the register was told about one person, as recorded."""

    nhs_number: str
    date_of_birth: date | None = None
    addresses: list[AddressPeriod] = field(default_factory=list)
    gp_registrations: list[GpRegistration] = field(default_factory=list)
    stays: list[Stay] = field(default_factory=list)
    or_decisions: list[OrdinaryResidenceDecision] = field(default_factory=list)
    end_decisions: list[EndDecision] = field(default_factory=list)
    reinstatements: list[Reinstatement] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)
    disputes: list[Dispute] = field(default_factory=list)
    # Entitlements whose care plan includes specialist accommodation (D4); set by care plans.
    specialist_accommodation: list[str] = field(default_factory=list)
    died_on: date | None = None
    merged_into: str | None = None

    def stay(self, key: str) -> Stay | None:
        return next((s for s in self.stays if s.key == key), None)

    def address_on(self, day: date) -> Address | None:
        current = [a for a in self.addresses if a.valid_from <= day]
        return max(current, key=lambda a: a.valid_from).address if current else None

    def current_address(self) -> Address | None:
        return max(self.addresses, key=lambda a: a.valid_from).address if self.addresses else None

    def gp_on(self, day: date) -> str | None:
        current = [g for g in self.gp_registrations if g.valid_from <= day]
        return max(current, key=lambda g: g.valid_from).practice_ods if current else None


# --- derived -------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleApplied:
    """One step of a determination: the rule id of RULES.md, why it applied, and the law."""

    rule_id: str
    reason: str
    citation: str


@dataclass(frozen=True)
class Responsibility:
    """Who is responsible for an entitlement from `effective_from`, and why."""

    effective_from: date
    rule_set: str
    local_authority: str | None
    icb: str | None  # the ICB that holds the duty today (successor of a CCG under N6)
    original_body: str | None = None  # CCG (N2-N4) or ICB (N5) the rule pointed at
    commissioning_body: str | None = None  # N4 only
    paying_body: str | None = None  # N4 only ("originating CCG")
    paying_icb: str | None = None  # N4 only: successor ICB of the paying CCG
    basis: tuple[RuleApplied, ...] = ()
    needs_review: tuple[str, ...] = ()


class EntitlementStatus(StrEnum):
    PLANNED = "planned"  # detained under a qualifying section: aftercare planning (E2)
    ACTIVE = "active"  # left hospital after a qualifying detention (E1, E3, E4)
    ENDED = "ended"  # joint end decision (D1) or death
    CANCELLED = "cancelled"  # the detention it rested on was cancelled (A11)


@dataclass(frozen=True)
class StatusChange:
    status: EntitlementStatus
    on: date
    reason: str
    rule_ids: tuple[str, ...] = ()


@dataclass
class Entitlement:
    """One continuous s117 aftercare duty for a person (FHIR EpisodeOfCare)."""

    id: str
    status: EntitlementStatus
    planned_on: date
    qualifying_stays: list[str] = field(default_factory=list)
    status_history: list[StatusChange] = field(default_factory=list)
    responsibilities: list[Responsibility] = field(default_factory=list)
    started_on: date | None = None
    ended_on: date | None = None
    end_reasons: list[str] = field(default_factory=list)
    needs_review: list[str] = field(default_factory=list)

    def responsibility_on(self, day: date) -> Responsibility | None:
        current = [r for r in self.responsibilities if r.effective_from <= day]
        if current:
            return max(current, key=lambda r: r.effective_from)
        return self.responsibilities[0] if self.responsibilities else None

    def status_on(self, day: date) -> EntitlementStatus | None:
        """Status on a day from the history; None before the entitlement existed."""
        current = [c for c in self.status_history if c.on <= day]
        return current[-1].status if current else None

    @property
    def current(self) -> Responsibility | None:
        return self.responsibilities[-1] if self.responsibilities else None
