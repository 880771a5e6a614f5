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
from decimal import Decimal
from enum import StrEnum


class AccommodationType(StrEnum):
    """What kind of place an address is, for the Mental Health Act 2025 deeming rule (L7):
    councils know (they arrange placements) and say so in their file's `address` rows."""

    ORDINARY = "ordinary"
    SPECIFIED = "specified"  # care home, supported living, shared lives (Care Act s39(1))
    S117 = "s117"  # accommodation provided as s117 aftercare (Care Act s39(4))
    NHS = "nhs"  # NHS accommodation (Care Act s39(5)-(6))


@dataclass
class Address:
    postcode: str | None = None
    lines: list[str] = field(default_factory=list)
    # A sender may state the local authority directly (ZMH-5, a council file).
    la_gss: str | None = None
    no_fixed_abode: bool = False
    accommodation: AccommodationType | None = None  # None: not stated (taken as ordinary)
    placed_by: str | None = None  # the council that arranged a placement here (GSS code)


@dataclass
class AddressPeriod:
    address: Address
    valid_from: date
    # How valid_from was known ("EVN-6 effective date", "message time MSH-7, no effective
    # date sent"): the NHS body on a date depends on it (RULES.md N2, N5), so the basis says.
    dated_by: str = ""


@dataclass
class PersonName:
    """A person's name as a trust or FHIR client sent it (PID-5, Patient.name)."""

    family: str
    given: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join([*self.given, self.family]).strip()


@dataclass
class NamePeriod:
    name: PersonName
    valid_from: date


@dataclass
class GpRegistration:
    practice_ods: str
    valid_from: date
    dated_by: str = ""  # as AddressPeriod.dated_by


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
    # Date the Part 2 application was made (ZMH-7), which fixes the ICB under SI 2022/635
    # reg 5 (RULES.md N5); None = not sent, the first day of detention is used instead.
    application_on: date | None = None
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
    decided_by: str  # who decided (officer, team)
    decided_on: date
    evidence: str = ""
    decided_by_org: str | None = None  # the council that recorded it (GSS code)


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
    """The joint decision to end s117 aftercare (D1-D5): each body's agreement with who gave
    it and when, the person's (and carer's or advocate's) involvement, the reasons, and the
    formal date aftercare ends."""

    entitlement_id: str
    decision_date: date
    la_agreed: bool
    icb_agreed: bool
    person_involved: bool
    reasons: list[EndReason]
    note: str = ""
    moved_to_suitable_accommodation: bool = False
    la_agreed_by: str = ""
    la_agreed_on: date | None = None
    icb_agreed_by: str = ""
    icb_agreed_on: date | None = None
    carer_involved: bool | None = None  # None: no carer or advocate is involved
    end_date: date | None = None  # D5: formal end of s117; None = the decision date
    notice: WrittenNotice | None = None  # D8, once MHA 2025 s46(2) is in force

    @property
    def ends_on(self) -> date:
        return self.end_date or self.decision_date


class ProposalStatus(StrEnum):
    PROPOSED = "proposed"
    AGREED = "agreed"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


@dataclass
class EndProposal:
    """One body's proposal to end s117 aftercare, made at a review (D1), waiting for the
    other responsible body to agree or decline with its reason. Only an agreement ends the
    entitlement (it becomes the EndDecision); a declined proposal stays in the history."""

    id: str
    entitlement_id: str
    proposed_by_org: str  # the proposing body (council GSS or ICB ODS)
    proposed_by_kind: str  # la | icb
    proposed_by: str  # who, within it
    proposed_on: date
    review_on: date  # the review the proposal was made at
    reasons: list[EndReason]
    person_involved: bool
    carer_involved: bool | None = None
    note: str = ""
    end_date: date | None = None
    moved_to_suitable_accommodation: bool = False
    responded_by_org: str | None = None
    responded_by: str = ""
    responded_on: date | None = None
    agreed: bool | None = None  # None: waiting for the other body
    response_reason: str = ""
    # The proposer took it back before the other body answered (its reason in
    # `response_reason`): it ends nothing, and a new proposal may be made.
    withdrawn_on: date | None = None

    @property
    def waiting(self) -> bool:
        """Still waiting for the other body's answer."""
        return self.agreed is None and self.withdrawn_on is None

    @property
    def status(self) -> ProposalStatus:
        if self.withdrawn_on is not None:
            return ProposalStatus.WITHDRAWN
        if self.agreed is None:
            return ProposalStatus.PROPOSED
        return ProposalStatus.AGREED if self.agreed else ProposalStatus.DECLINED


class NoticeMethod(StrEnum):
    POST = "post"
    EMAIL = "email"
    IN_PERSON = "in-person"
    PORTAL = "portal"


@dataclass
class WrittenNotice:
    """D8 (MHA 2025 s46(2)): the joint notice in writing to the person that aftercare is no
    longer needed: when, by which bodies, how it reached the person, and the document."""

    given_on: date
    given_by: list[str]  # the bodies giving it (LA GSS and ICB ODS codes)
    method: NoticeMethod
    document_title: str = ""
    document_url: str | None = None
    document_type: str | None = None  # MIME type of the document
    document_hash: str | None = None  # SHA-1 (base64) as FHIR Attachment.hash


@dataclass
class Charge:
    """O4: the person was charged for services that s117 makes free (a council's record):
    the period and amount charged and any refund (with interest, Manchester 23 019 512)."""

    id: str
    entitlement_id: str
    charged_from: date
    amount: Decimal
    charged_to: date | None = None  # None: still being charged
    charged_by: str | None = None  # GSS or ODS code
    line_id: str | None = None  # the service line charged for, if known
    refunded_amount: Decimal | None = None
    refunded_on: date | None = None
    note: str = ""
    recorded_on: date | None = None

    @property
    def refunded(self) -> bool:
        """In full: the refund covers the amount charged (interest comes on top)."""
        return (self.refunded_on is not None and self.refunded_amount is not None
                and self.refunded_amount >= self.amount)


@dataclass
class FundingMove:
    """O4: an s117 service moved to Care Act funding (or back) in the same placement, as the
    register saw a plan change: the line, the provider and the day."""

    entitlement_id: str
    plan_id: str
    line_id: str
    provider: str
    on: date
    to_s117: bool  # False: moved off s117 (to Care Act); True: moved back


@dataclass
class Reinstatement:
    entitlement_id: str
    on: date
    reason: str = ""


@dataclass
class Attendee:
    """Someone who took part in a review: name, role (e.g. care coordinator, advocate)
    and organisation (ODS or GSS code) where known."""

    name: str
    role: str = ""
    organisation: str | None = None


@dataclass
class Review:
    """An s117 review (R1-R3): who took part, what was decided, and whether the person's
    needs still arise from their mental disorder."""

    entitlement_id: str
    on: date
    outcome: str = ""
    person_involved: bool = True
    needs_arise_from_disorder: bool = True
    attendees: list[Attendee] = field(default_factory=list)
    carer_involved: bool | None = None  # None: no carer or advocate is involved
    reviewed_by: str | None = None  # organisation that held the review (GSS or ODS)


class DisputeStatus(StrEnum):
    OPEN = "open"
    REFERRED = "referred-to-secretary-of-state"
    RESOLVED = "resolved"


@dataclass
class Dispute:
    """An ordinary-residence dispute between councils (L5)."""

    entitlement_id: str
    parties: list[str]  # LA GSS codes
    interim_lead: str
    opened_on: date
    status: DisputeStatus = DisputeStatus.OPEN
    resolved_on: date | None = None
    resolved_la: str | None = None
    id: str = ""
    referred_on: date | None = None
    note: str = ""

    @property
    def is_open(self) -> bool:
        return self.status is not DisputeStatus.RESOLVED


# --- aftercare plans (F1-F5) -------------------------------------------------------------


class ServiceType(StrEnum):
    RESIDENTIAL_CARE = "residential-care"
    NURSING_CARE = "nursing-care"
    SUPPORTED_ACCOMMODATION = "supported-accommodation"
    DOMICILIARY = "domiciliary"
    DAY_SERVICES = "day-services"
    MEDICATION = "medication"
    PSYCHOLOGICAL_THERAPY = "psychological-therapy"
    EMPLOYMENT_SUPPORT = "employment-support"
    PERSONAL_HEALTH_BUDGET = "personal-health-budget"
    DIRECT_PAYMENT = "direct-payment"
    OTHER = "other"


# Specialist accommodation (F4, D4) and services that are health care (F3) by their type.
ACCOMMODATION = frozenset({ServiceType.RESIDENTIAL_CARE, ServiceType.NURSING_CARE,
                           ServiceType.SUPPORTED_ACCOMMODATION})
HEALTH_CARE = frozenset({ServiceType.NURSING_CARE, ServiceType.MEDICATION,
                         ServiceType.PSYCHOLOGICAL_THERAPY, ServiceType.PERSONAL_HEALTH_BUDGET})
# Funding methods whose request and decision dates must be recorded (F5).
PERSONAL_BUDGETS = frozenset({ServiceType.PERSONAL_HEALTH_BUDGET, ServiceType.DIRECT_PAYMENT})


class FundingBasis(StrEnum):
    S117 = "s117"
    CARE_ACT = "care-act"
    CHC = "chc"
    FNC = "fnc"
    S117A_TOP_UP = "s117a-top-up"  # the person's top-up for a preferred placement (F4)


# Payers that are not organisations (every other funder is an LA GSS or NHS ODS code).
PERSON = "person"
HOUSING_BENEFIT = "housing-benefit"


# The sixteen aspects of need of the MHA Code of Practice para 34.19 (seed 004 appendix A).
NEED_CATEGORIES: dict[str, str] = {
    "mental-healthcare": "Continuing mental healthcare, whether in the community or on an "
                         "out-patient basis.",
    "psychological": "The psychological needs of the patient and, where appropriate, of "
                     "their carers.",
    "physical-health": "Physical healthcare.",
    "daytime-activity": "Daytime activities or employment.",
    "accommodation": "Appropriate accommodation.",
    "risk-and-safety": "Identified risks and safety issues.",
    "disability": "Any specific needs arising from co-existing physical disability, sensory "
                  "impairment, learning disability or autistic spectrum disorder.",
    "substance-misuse": "Any specific needs arising from drug, alcohol or substance misuse.",
    "parenting-caring": "Any parenting or caring needs.",
    "social-cultural-spiritual": "Social, cultural or spiritual needs.",
    "counselling-support": "Counselling and personal support.",
    "welfare-finances": "Assistance in welfare rights and managing finances.",
    "other-area-agencies": "The involvement of authorities and agencies in a different area, "
                           "if the patient is not going to live locally.",
    "other-agencies": "The involvement of other agencies, for example the probation service "
                      "or voluntary organisations.",
    "restriction-conditions": "For a restricted patient, the conditions imposed or likely to "
                              "be imposed on their conditional discharge.",
    "contingency-crisis": "Contingency plans (should the patient's mental health deteriorate) "
                          "and crisis contact details.",
}


@dataclass
class AssessedNeed:
    category: str  # a NEED_CATEGORIES code
    arises_from_disorder: bool = True
    note: str = ""


@dataclass
class FundingShare:
    funder: str  # LA GSS code, NHS ODS code (ICB or sub-ICB), PERSON or HOUSING_BENEFIT
    percent: Decimal


@dataclass
class ServiceLine:
    """One service of an aftercare plan with its funding (F2)."""

    id: str
    service_type: ServiceType
    funding_basis: FundingBasis
    funders: list[FundingShare]
    weekly_cost: Decimal | None = None
    provider: str = ""
    description: str = ""
    starts_on: date | None = None
    ends_on: date | None = None
    meets_disorder_need: bool = True  # meets a need arising from the mental disorder
    health_care: bool | None = None  # None: classed by its service type (HEALTH_CARE)
    needs: list[str] = field(default_factory=list)  # NEED_CATEGORIES codes it meets
    requested_on: date | None = None  # funding (PHB, direct payment) requested (F5)

    @property
    def is_accommodation(self) -> bool:
        return self.service_type in ACCOMMODATION

    @property
    def is_health_care(self) -> bool:
        if self.health_care is not None:
            return self.health_care
        return self.service_type in HEALTH_CARE or self.funding_basis in (FundingBasis.CHC,
                                                                          FundingBasis.FNC)

    def share_of(self, funder: str) -> Decimal:
        return sum((s.percent for s in self.funders if s.funder == funder), Decimal(0))


@dataclass
class CareCoordinator:
    name: str
    organisation: str | None = None  # ODS or GSS code


class PlanStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    COMPLETED = "completed"
    REVOKED = "revoked"


@dataclass
class AftercarePlan:
    """The s117 aftercare plan of one entitlement (FHIR CarePlan S117AftercarePlan)."""

    id: str
    entitlement_id: str
    status: PlanStatus
    lines: list[ServiceLine] = field(default_factory=list)
    needs: list[AssessedNeed] = field(default_factory=list)
    care_coordinator: CareCoordinator | None = None
    agreed_on: date | None = None
    ends_on: date | None = None
    recorded_on: date | None = None  # when the register was first told of this plan
    author: str | None = None  # organisation that recorded it (GSS or ODS code)
    external_id: str | None = None  # the council system's own plan id
    external_system: str | None = None  # ... and whose (LA GSS code)

    def line(self, line_id: str) -> ServiceLine | None:
        return next((ln for ln in self.lines if ln.id == line_id), None)


class PanelOutcome(StrEnum):
    APPROVED = "approved"
    APPROVED_WITH_CHANGES = "approved-with-changes"
    DEFERRED = "deferred"
    DECLINED = "declined"


FINAL_OUTCOMES = frozenset({PanelOutcome.APPROVED, PanelOutcome.APPROVED_WITH_CHANGES,
                            PanelOutcome.DECLINED})


@dataclass
class PanelDecision:
    """A funding/quality panel's decision on one service line (seeds 001, 004)."""

    id: str
    plan_id: str
    line_id: str
    outcome: PanelOutcome
    decided_on: date
    members: list[str] = field(default_factory=list)  # organisations present (GSS/ODS)
    note: str = ""
    weekly_cost: Decimal | None = None  # the cost the panel considered


@dataclass
class PersonFacts:
    """Everything the register was told about one person, as recorded."""

    nhs_number: str
    date_of_birth: date | None = None
    addresses: list[AddressPeriod] = field(default_factory=list)
    names: list[NamePeriod] = field(default_factory=list)
    gp_registrations: list[GpRegistration] = field(default_factory=list)
    stays: list[Stay] = field(default_factory=list)
    or_decisions: list[OrdinaryResidenceDecision] = field(default_factory=list)
    end_decisions: list[EndDecision] = field(default_factory=list)
    end_proposals: list[EndProposal] = field(default_factory=list)
    reinstatements: list[Reinstatement] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)
    disputes: list[Dispute] = field(default_factory=list)
    plans: list[AftercarePlan] = field(default_factory=list)
    panel_decisions: list[PanelDecision] = field(default_factory=list)
    charges: list[Charge] = field(default_factory=list)  # O4
    funding_moves: list[FundingMove] = field(default_factory=list)  # O4
    died_on: date | None = None
    merged_into: str | None = None

    def stay(self, key: str) -> Stay | None:
        return next((s for s in self.stays if s.key == key), None)

    def plan(self, plan_id: str) -> AftercarePlan | None:
        return next((p for p in self.plans if p.id == plan_id), None)

    def active_plan(self, entitlement_id: str) -> AftercarePlan | None:
        """The plan in force for an entitlement (at most one is active at a time)."""
        return next((p for p in self.plans if p.entitlement_id == entitlement_id
                     and p.status is PlanStatus.ACTIVE), None)

    def end_proposal(self, proposal_id: str) -> EndProposal | None:
        return next((p for p in self.end_proposals if p.id == proposal_id), None)

    def dispute(self, dispute_id: str) -> Dispute | None:
        return next((d for d in self.disputes if d.id == dispute_id), None)

    def address_on(self, day: date) -> Address | None:
        current = [a for a in self.addresses if a.valid_from <= day]
        return max(current, key=lambda a: a.valid_from).address if current else None

    def current_address(self) -> Address | None:
        return max(self.addresses, key=lambda a: a.valid_from).address if self.addresses else None

    def current_name(self) -> PersonName | None:
        return max(self.names, key=lambda n: n.valid_from).name if self.names else None


    def age_on(self, day: date) -> int | None:
        """Age in whole years on `day` (E6; under 18 for L7), if the date of birth is known."""
        born = self.date_of_birth
        if born is None:
            return None
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))

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
    icb: str | None  # the NHS body holding the duty on these dates, after succession (N6)
    original_body: str | None = None  # CCG (N2-N4) or ICB (N5-N5d) the rule named
    commissioning_body: str | None = None  # N4 only
    paying_body: str | None = None  # N4 only ("originating CCG")
    paying_icb: str | None = None  # N4 only: successor ICB of the paying CCG
    basis: tuple[RuleApplied, ...] = ()
    needs_review: tuple[str, ...] = ()
    # One segment of the holder timeline (RULES.md N): the bodies above hold the duties from
    # effective_from to effective_to inclusive (None: still open); nhs_rule is the N rule id
    # that named the NHS body for these dates.
    effective_to: date | None = None
    nhs_rule: str | None = None


@dataclass(frozen=True)
class FlagPeriod:
    """An Ombudsman flag (RULES.md O1-O4) on an entitlement, raised from `since` and
    cleared on `until` (None: still raised); kept on the entitlement so a change of facts
    that raises or clears one is announced like any other change."""

    key: str
    code: str
    rule_id: str
    since: date
    until: date | None = None
    reason: str = ""

    def active_on(self, day: date) -> bool:
        return self.since <= day and (self.until is None or day < self.until)


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
    disputes: list[Dispute] = field(default_factory=list)  # L5, as recorded
    care_coordinator: str | None = None  # named in the active aftercare plan
    flags: list[FlagPeriod] = field(default_factory=list)  # O1-O4, set with the casework

    def responsibility_on(self, day: date) -> Responsibility | None:
        """The segment of the holder timeline covering `day` (the first one before it)."""
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
