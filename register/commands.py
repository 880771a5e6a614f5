"""Commands: what senders ask the register to do.

Every command carries a `command_id` (HL7 MSH-4 + MSH-10, a FHIR message id, a council file
row id): the register applies each id once. `occurred_at` is when the sender says it
happened (MSH-7), used to order one person's messages. Datetimes are naive UK local time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from register.model import (
    Address,
    AssessedNeed,
    Attendee,
    CareCoordinator,
    DisputeStatus,
    EndReason,
    PanelOutcome,
    PersonName,
    PlanStatus,
    ServiceLine,
    WrittenNotice,
)


@dataclass(frozen=True)
class Agent:
    """Who asked for a command, for its Provenance: an organisation (ODS or GSS code), its
    kind (trust, la, icb, admin) and, when known, the person or system within it (a bearer
    token's subject)."""

    org: str
    kind: str
    who: str | None = None


@dataclass(frozen=True, kw_only=True)
class Command:
    command_id: str
    nhs_number: str
    occurred_at: datetime | None = None
    # Apply only if the target (the person, or the entitlement an entitlement command names)
    # is still at this stored version: FHIR If-Match, so a stale writer cannot overwrite.
    if_version: int | None = None
    # Set by the edge that took the command (HTTP, the inbound worker, a council import);
    # kept with a held command, so its Provenance names the sender, not whoever released it.
    agent: Agent | None = None


@dataclass(frozen=True, kw_only=True)
class UpdatePerson(Command):
    """Register or update demographics (ADT A28, A31, A08): address and GP from a date."""

    date_of_birth: date | None = None
    address: Address | None = None
    gp_practice: str | None = None
    name: PersonName | None = None
    effective: date | None = None  # default: the day it occurred
    # Where the effective date came from (EVN-6, EVN-2, Address.period.start), shown in the
    # basis of the rules that read the GP or address on a date (RULES.md N2, N5).
    dated_by: str = ""


@dataclass(frozen=True, kw_only=True)
class StayCommand(Command):
    trust_ods: str
    stay_ref: str

    @property
    def stay_key(self) -> str:
        return f"{self.trust_ods}/{self.stay_ref}"


@dataclass(frozen=True, kw_only=True)
class Admit(StayCommand):
    """Admission (ADT A01), optionally with the legal status at admission."""

    admitted_at: datetime
    legal_status: str | None = None
    legal_status_start: datetime | None = None
    restricted: bool = False
    residence_before: Address | None = None
    gp_practice: str | None = None
    or_la: str | None = None  # ZMH-5
    application_on: date | None = None  # ZMH-7: Part 2 application date (RULES.md N5)


@dataclass(frozen=True, kw_only=True)
class ChangeLegalStatus(StayCommand):
    """A new legal status period (ZMH / ZU5, ADT A08): closes the open one."""

    code: str
    start: datetime
    end: datetime | None = None
    restricted: bool = False
    or_la: str | None = None
    application_on: date | None = None  # ZMH-7


@dataclass(frozen=True, kw_only=True)
class StartLeave(StayCommand):
    """s17 leave out (ADT A21)."""

    at: datetime
    with_aftercare_plan: bool = False


@dataclass(frozen=True, kw_only=True)
class EndLeave(StayCommand):
    """Return from s17 leave (ADT A22)."""

    at: datetime


@dataclass(frozen=True, kw_only=True)
class StartCto(StayCommand):
    at: datetime


@dataclass(frozen=True, kw_only=True)
class EndCto(StayCommand):
    at: datetime


@dataclass(frozen=True, kw_only=True)
class RecallCto(StayCommand):
    at: datetime


@dataclass(frozen=True, kw_only=True)
class ConditionalDischarge(StayCommand):
    at: datetime


@dataclass(frozen=True, kw_only=True)
class Discharge(StayCommand):
    """Discharge from hospital (ADT A03)."""

    discharged_at: datetime
    destination: Address | None = None


@dataclass(frozen=True, kw_only=True)
class CancelAdmission(StayCommand):
    """ADT A11."""


@dataclass(frozen=True, kw_only=True)
class CancelDischarge(StayCommand):
    """ADT A13."""


@dataclass(frozen=True, kw_only=True)
class RecordDeath(Command):
    died_on: date


@dataclass(frozen=True, kw_only=True)
class MergePatient(Command):
    """ADT A40: `retired_nhs_number`'s record is merged into `nhs_number`'s."""

    retired_nhs_number: str


@dataclass(frozen=True, kw_only=True)
class RecordOrdinaryResidence(Command):
    """A council's ordinary-residence decision; applies to the stay named, or the person's
    latest qualifying stay when none is named."""

    la_gss: str
    decided_by: str
    decided_on: date
    evidence: str = ""
    stay_key: str | None = None
    decided_by_org: str | None = None  # the council recording it (GSS code)


@dataclass(frozen=True, kw_only=True)
class EndEntitlement(Command):
    """The joint end decision (D1-D5): who agreed for each body and when."""

    entitlement_id: str
    decision_date: date
    la_agreed: bool
    icb_agreed: bool
    person_involved: bool
    reasons: tuple[EndReason, ...] = ()
    note: str = ""
    moved_to_suitable_accommodation: bool = False
    la_agreed_by: str = ""
    la_agreed_on: date | None = None
    icb_agreed_by: str = ""
    icb_agreed_on: date | None = None
    carer_involved: bool | None = None
    end_date: date | None = None
    notice: WrittenNotice | None = None  # D8, once MHA 2025 s46(2) is switched on


@dataclass(frozen=True, kw_only=True)
class ProposeEnd(Command):
    """One responsible body proposes ending aftercare at a review (D1); the other body
    agrees or declines (`RespondToEndProposal`), and only an agreement ends it."""

    proposal_id: str
    entitlement_id: str | None  # None: the person's latest
    by_org: str
    by_kind: str  # la | icb
    by_name: str
    on: date
    review_on: date
    reasons: tuple[EndReason, ...]
    person_involved: bool
    carer_involved: bool | None = None
    note: str = ""
    end_date: date | None = None
    moved_to_suitable_accommodation: bool = False


@dataclass(frozen=True, kw_only=True)
class RespondToEndProposal(Command):
    """The other responsible body agrees to a proposed end (the joint decision, D1) or
    declines it, with its reason."""

    proposal_id: str
    agree: bool
    by_org: str
    by_kind: str
    by_name: str
    on: date
    reason: str = ""
    notice: WrittenNotice | None = None  # D8, with an agreement once s46(2) is in force


@dataclass(frozen=True, kw_only=True)
class WithdrawEndProposal(Command):
    """The body that proposed ending aftercare takes the proposal back before the other
    body answers (D1): nothing ends, and the other body has nothing left to answer."""

    proposal_id: str
    by_org: str
    on: date
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class ReinstateEntitlement(Command):
    entitlement_id: str | None  # None: the person's latest (a council file)
    on: date
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class RecordReview(Command):
    """An s117 review that took place (R3); `entitlement_id` None: the person's latest."""

    entitlement_id: str | None
    on: date
    outcome: str = ""
    person_involved: bool = True
    needs_arise_from_disorder: bool = True
    attendees: tuple[Attendee, ...] = field(default=())
    carer_involved: bool | None = None
    reviewed_by: str | None = None


@dataclass(frozen=True, kw_only=True)
class RecordCarePlan(Command):
    """Create or replace an aftercare plan, whole (FHIR create/update, a council file's
    plan with its lines); `entitlement_id` None: the person's latest entitlement."""

    plan_id: str
    entitlement_id: str | None
    status: PlanStatus
    lines: tuple[ServiceLine, ...] = ()
    needs: tuple[AssessedNeed, ...] = ()
    care_coordinator: CareCoordinator | None = None
    agreed_on: date | None = None
    ends_on: date | None = None
    author: str | None = None
    external_id: str | None = None
    external_system: str | None = None


@dataclass(frozen=True, kw_only=True)
class RecordPanelDecision(Command):
    """A panel's decision on one service line of a plan."""

    plan_id: str
    line_id: str
    outcome: PanelOutcome
    decided_on: date
    members: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class OpenDispute(Command):
    """Councils dispute ordinary residence (L5); the interim lead defaults to the council
    where the person lives, if it is a party."""

    dispute_id: str
    entitlement_id: str | None
    parties: tuple[str, ...]
    opened_on: date
    interim_lead: str | None = None
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class UpdateDispute(Command):
    """Refer a dispute to the Secretary of State, or resolve it naming the council of
    ordinary residence (which re-determines responsibility, history kept)."""

    dispute_id: str
    status: DisputeStatus
    on: date
    resolved_la: str | None = None
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class RecordCharge(Command):
    """O4: the person was charged for s117 services: the period, the amount, who charged,
    and the refund (amount, with any interest, and date) once made. The same `charge_id`
    again replaces the record (a refund recorded later). `entitlement_id` None: the latest."""

    charge_id: str
    entitlement_id: str | None
    charged_from: date
    amount: Decimal
    charged_to: date | None = None
    charged_by: str | None = None
    line_id: str | None = None
    refunded_amount: Decimal | None = None
    refunded_on: date | None = None
    note: str = ""
