"""Apply one command to a person's facts. Pure: no I/O, no derivation.

Each handler is idempotent by content (the same admission or legal status sent twice under
different message ids records one fact) and raises `NotYet` when the command refers to
something the register has not been told yet (a discharge before its admission): the
service then holds it and retries it after the next command for that person.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import date

from register import commands as c
from register import legal_status
from register.errors import InvalidData, NotFound, RuleViolation
from register.model import (
    Address,
    AddressPeriod,
    AftercarePlan,
    Dispute,
    DisputeStatus,
    GpRegistration,
    LegalStatusPeriod,
    NamePeriod,
    OrdinaryResidenceDecision,
    PanelDecision,
    PersonFacts,
    PersonName,
    PlanStatus,
    Reinstatement,
    Review,
    Stay,
    StayEvent,
    StayEventKind,
)


class NotYet(Exception):
    """The command depends on a fact not yet received; hold it, do not lose it."""


_ODS = re.compile(r"^[A-Z0-9]{3,6}$")
_GSS_LA = re.compile(r"^[EW]0[6-9]\d{6}$|^E10\d{6}$")


def require_ods(value: str | None, field: str) -> None:
    if value is not None and not _ODS.match(value):
        raise InvalidData(f"{value!r} is not an ODS organisation code", field=field)


def require_la(value: str | None, field: str) -> None:
    if value is not None and not _GSS_LA.match(value):
        raise InvalidData(f"{value!r} is not a local authority GSS code (E06-E10, W06)",
                          field=field)


def require_org(value: str | None, field: str) -> None:
    """An organisation named by GSS code (a council) or ODS code (an NHS body, a trust)."""
    if value is not None and not (_GSS_LA.match(value) or _ODS.match(value)):
        raise InvalidData(f"{value!r} is neither a council GSS code nor an ODS code",
                          field=field)


def not_after(day: date, today: date, field: str) -> None:
    """What a command records as having happened cannot have happened after today."""
    if day > today:
        raise InvalidData(f"{day} is in the future: record it once it has happened",
                          field=field)


def stable_id(*parts: object) -> str:
    """A short id that is the same whenever the same parts are given."""
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:16]


def _stay(facts: PersonFacts, cmd: c.StayCommand) -> Stay:
    stay = facts.stay(cmd.stay_key)
    if stay is None:
        raise NotYet(f"stay {cmd.stay_key} has not been admitted yet")
    return stay


def _add_status(stay: Stay, period: LegalStatusPeriod) -> None:
    """Insert a period and re-close the sequence: each open period ends where the next begins."""
    stay.legal_status = [p for p in stay.legal_status
                         if not (p.start == period.start and p.code == period.code)]
    stay.legal_status.append(period)
    stay.legal_status.sort(key=lambda p: p.start)
    for before, after in zip(stay.legal_status, stay.legal_status[1:], strict=False):
        if before.end is None or before.end > after.start:
            before.end = after.start


def _add_event(stay: Stay, event: StayEvent) -> None:
    if not any(e.kind is event.kind and e.at == event.at for e in stay.events):
        stay.events.append(event)
        stay.events.sort(key=lambda e: e.at)


def _set_address(facts: PersonFacts, address: Address, since: date,
                 dated_by: str = "") -> None:
    facts.addresses = [a for a in facts.addresses if a.valid_from != since]
    facts.addresses.append(AddressPeriod(address, since, dated_by))
    facts.addresses.sort(key=lambda a: a.valid_from)


def _set_gp(facts: PersonFacts, practice: str, since: date, dated_by: str = "") -> None:
    current = facts.gp_on(since)
    if current == practice:
        return
    registrations = [g for g in facts.gp_registrations if g.valid_from != since]
    registrations.append(GpRegistration(practice, since, dated_by))
    registrations.sort(key=lambda g: g.valid_from)
    # The same practice twice in a row is one registration from the earlier date, whichever
    # message arrived first: facts must not depend on arrival order.
    facts.gp_registrations = [g for i, g in enumerate(registrations)
                              if i == 0 or registrations[i - 1].practice_ods != g.practice_ods]


def update_person(facts: PersonFacts, cmd: c.UpdatePerson) -> None:
    since = cmd.effective or (cmd.occurred_at.date() if cmd.occurred_at else None)
    if since is None and (cmd.address or cmd.gp_practice or cmd.name):
        raise InvalidData("a name, address or GP change needs the date it took effect",
                          field="effective")
    if cmd.name is not None and not cmd.name.family.strip():
        raise InvalidData("a name needs a family name", field="name.family")
    require_ods(cmd.gp_practice, "gp_practice")
    if cmd.address:
        require_la(cmd.address.la_gss, "address.la_gss")
    if cmd.date_of_birth:
        facts.date_of_birth = cmd.date_of_birth
    # No effective date: the message time stands in, and the basis says so (issue 19).
    dated_by = cmd.dated_by or ("" if cmd.effective else
                                "the message time (no effective date was sent)")
    if cmd.address and since:
        _set_address(facts, cmd.address, since, dated_by)
    if cmd.gp_practice and since:
        _set_gp(facts, cmd.gp_practice, since, dated_by)
    if cmd.name and since:
        _set_name(facts, cmd.name, since)


def _set_name(facts: PersonFacts, name: PersonName, since: date) -> None:
    """Dated history, like addresses: the same name again changes nothing, and a name
    that arrives late (an older message) takes its place in the history."""
    if any(n.valid_from == since and n.name == name for n in facts.names):
        return
    names = [n for n in facts.names if n.valid_from != since] + [NamePeriod(name, since)]
    names.sort(key=lambda n: n.valid_from)
    facts.names = [n for i, n in enumerate(names) if i == 0 or names[i - 1].name != n.name]


def admit(facts: PersonFacts, cmd: c.Admit) -> None:
    require_ods(cmd.trust_ods, "trust_ods")
    require_la(cmd.or_la, "or_la")
    require_ods(cmd.gp_practice, "gp_practice")
    if cmd.residence_before:
        require_la(cmd.residence_before.la_gss, "residence_before.la_gss")
    code = legal_status.normalise(cmd.legal_status) if cmd.legal_status else None
    stay = facts.stay(cmd.stay_key)
    if stay is None:
        stay = Stay(trust_ods=cmd.trust_ods, stay_ref=cmd.stay_ref, admitted_at=cmd.admitted_at)
        facts.stays.append(stay)
        facts.stays.sort(key=lambda s: s.admitted_at)
    stay.admitted_at = cmd.admitted_at
    stay.cancelled = False
    day = cmd.admitted_at.date()
    if cmd.residence_before:
        stay.residence_before = cmd.residence_before
        _set_address(facts, cmd.residence_before, day)
    if cmd.gp_practice:
        stay.gp_practice_at_admission = cmd.gp_practice
        _set_gp(facts, cmd.gp_practice, day)
    if cmd.or_la:
        stay.or_la_from_trust = cmd.or_la
    if cmd.application_on:
        stay.application_on = cmd.application_on
    if code:
        _add_status(stay, LegalStatusPeriod(code, cmd.legal_status_start or cmd.admitted_at,
                                            restricted=cmd.restricted))


def change_legal_status(facts: PersonFacts, cmd: c.ChangeLegalStatus) -> None:
    code = legal_status.normalise(cmd.code)
    require_la(cmd.or_la, "or_la")
    stay = _stay(facts, cmd)
    if cmd.start < stay.admitted_at:
        raise InvalidData(f"legal status start {cmd.start} is before the admission "
                          f"{stay.admitted_at}", field="legal_status_start")
    _add_status(stay, LegalStatusPeriod(code, cmd.start, cmd.end, cmd.restricted))
    if cmd.or_la:
        stay.or_la_from_trust = cmd.or_la
    if cmd.application_on:
        stay.application_on = cmd.application_on


def _event(kind: StayEventKind) -> Callable[[PersonFacts, c.StayCommand], None]:
    def handle(facts: PersonFacts, cmd: c.StayCommand) -> None:
        stay = _stay(facts, cmd)
        at = cmd.at  # type: ignore[attr-defined]
        if at < stay.admitted_at:
            raise InvalidData(f"{kind.value} at {at} is before the admission "
                              f"{stay.admitted_at}", field="at")
        plan = getattr(cmd, "with_aftercare_plan", False)
        _add_event(stay, StayEvent(kind, at, plan, cmd.command_id))
    return handle


def discharge(facts: PersonFacts, cmd: c.Discharge) -> None:
    if cmd.destination:
        require_la(cmd.destination.la_gss, "destination.la_gss")
    stay = _stay(facts, cmd)
    if cmd.discharged_at < stay.admitted_at:
        raise InvalidData(f"discharge {cmd.discharged_at} is before the admission "
                          f"{stay.admitted_at}", field="discharged_at")
    stay.discharged_at = cmd.discharged_at
    if cmd.destination:
        stay.discharge_address = cmd.destination
        _set_address(facts, cmd.destination, cmd.discharged_at.date())


def cancel_admission(facts: PersonFacts, cmd: c.CancelAdmission) -> None:
    _stay(facts, cmd).cancelled = True


def cancel_discharge(facts: PersonFacts, cmd: c.CancelDischarge) -> None:
    stay = _stay(facts, cmd)
    if stay.discharged_at is None:
        raise NotYet(f"stay {cmd.stay_key} has no discharge to cancel yet")
    if stay.discharge_address:
        facts.addresses = [a for a in facts.addresses
                           if not (a.address == stay.discharge_address
                                   and a.valid_from == stay.discharged_at.date())]
    stay.discharged_at = None
    stay.discharge_address = None


def record_death(facts: PersonFacts, cmd: c.RecordDeath) -> None:
    facts.died_on = cmd.died_on


def record_ordinary_residence(facts: PersonFacts, cmd: c.RecordOrdinaryResidence,
                              qualifying_stays: list[str]) -> None:
    require_la(cmd.la_gss, "la_gss")
    require_la(cmd.decided_by_org, "decided_by_org")
    if not cmd.decided_by.strip():
        raise InvalidData("an ordinary residence decision says who decided",
                          field="decided_by")
    key = cmd.stay_key or (qualifying_stays[-1] if qualifying_stays else None)
    if key is None or facts.stay(key) is None:
        raise InvalidData("no qualifying stay to attach the ordinary residence decision to",
                          field="stay_key")
    facts.or_decisions = [d for d in facts.or_decisions
                          if not (d.stay_key == key and d.decided_on == cmd.decided_on)]
    facts.or_decisions.append(OrdinaryResidenceDecision(key, cmd.la_gss, cmd.decided_by,
                                                        cmd.decided_on, cmd.evidence,
                                                        cmd.decided_by_org))


def reinstate(facts: PersonFacts, cmd: c.ReinstateEntitlement) -> None:
    facts.reinstatements.append(Reinstatement(cmd.entitlement_id, cmd.on, cmd.reason))


def record_review(facts: PersonFacts, cmd: c.RecordReview, entitlement_id: str) -> None:
    if not cmd.person_involved:
        raise RuleViolation("the person must be involved in an s117 review", rule="R3",
                            field="person_involved")
    require_org(cmd.reviewed_by, "reviewed_by")
    for i, attendee in enumerate(cmd.attendees):
        if not attendee.name.strip():
            raise InvalidData("each attendee has a name", field=f"attendees[{i}].name")
        require_org(attendee.organisation, f"attendees[{i}].organisation")
    facts.reviews = [r for r in facts.reviews
                     if not (r.entitlement_id == entitlement_id and r.on == cmd.on)]
    facts.reviews.append(Review(entitlement_id, cmd.on, cmd.outcome, cmd.person_involved,
                                cmd.needs_arise_from_disorder, list(cmd.attendees),
                                cmd.carer_involved, cmd.reviewed_by))
    facts.reviews.sort(key=lambda r: r.on)


def record_care_plan(facts: PersonFacts, cmd: c.RecordCarePlan, entitlement_id: str,
                     today: date) -> AftercarePlan:
    """The plan as given replaces the one recorded under its id (kept: when the register
    was first told of it). Checking F1-F5 is the caller's, with the reference data."""
    existing = facts.plan(cmd.plan_id)
    if existing and existing.entitlement_id != entitlement_id:
        raise InvalidData(f"plan {cmd.plan_id} belongs to another entitlement "
                          f"({existing.entitlement_id}); a plan does not move",
                          field="entitlement_id")
    require_org(cmd.author, "author")
    if cmd.care_coordinator:
        require_org(cmd.care_coordinator.organisation, "care_coordinator.organisation")
    if cmd.agreed_on:
        not_after(cmd.agreed_on, today, "agreed_on")
    if cmd.agreed_on and cmd.ends_on and cmd.ends_on < cmd.agreed_on:
        raise InvalidData(f"the plan ends ({cmd.ends_on}) before it was agreed "
                          f"({cmd.agreed_on})", field="ends_on")
    if cmd.status is PlanStatus.ACTIVE:
        other = facts.active_plan(entitlement_id)
        if other and other.id != cmd.plan_id:
            raise RuleViolation(f"plan {other.id} is already in force for this entitlement: "
                                "complete or revoke it, or update it, rather than start a "
                                "second one", field="status")
    plan = AftercarePlan(
        id=cmd.plan_id, entitlement_id=entitlement_id, status=cmd.status,
        lines=list(cmd.lines), needs=list(cmd.needs), care_coordinator=cmd.care_coordinator,
        agreed_on=cmd.agreed_on, ends_on=cmd.ends_on,
        recorded_on=existing.recorded_on if existing and existing.recorded_on else today,
        author=cmd.author, external_id=cmd.external_id, external_system=cmd.external_system)
    facts.plans = [p for p in facts.plans if p.id != cmd.plan_id] + [plan]
    return plan


def record_panel_decision(facts: PersonFacts, cmd: c.RecordPanelDecision,
                          today: date) -> None:
    plan = facts.plan(cmd.plan_id)
    if plan is None:
        raise NotFound(f"plan {cmd.plan_id} is not recorded for this person", field="plan_id")
    line = plan.line(cmd.line_id)
    if line is None:
        raise NotFound(f"plan {cmd.plan_id} has no service line {cmd.line_id}",
                       field="line_id")
    not_after(cmd.decided_on, today, "decided_on")
    if line.requested_on and cmd.decided_on < line.requested_on:
        raise InvalidData(f"the decision of {cmd.decided_on} is before the request of "
                          f"{line.requested_on}", field="decided_on")
    if not cmd.members:
        raise InvalidData("a panel decision names the organisations that made it",
                          field="members")
    for i, member in enumerate(cmd.members):
        require_org(member, f"members[{i}]")
    decision = PanelDecision(stable_id(cmd.plan_id, cmd.line_id, cmd.decided_on),
                             cmd.plan_id, cmd.line_id, cmd.outcome, cmd.decided_on,
                             list(cmd.members), cmd.note, line.weekly_cost)
    # The same line decided again on the same day is a correction of that decision.
    facts.panel_decisions = [d for d in facts.panel_decisions if d.id != decision.id]
    facts.panel_decisions.append(decision)
    facts.panel_decisions.sort(key=lambda d: d.decided_on)


def open_dispute(facts: PersonFacts, cmd: c.OpenDispute, entitlement_id: str,
                 interim_lead: str, today: date) -> None:
    not_after(cmd.opened_on, today, "opened_on")
    existing = facts.dispute(cmd.dispute_id)
    if existing is not None:
        # A feed that sends the dispute again as it stands changes nothing.
        if (existing.entitlement_id, existing.parties, existing.opened_on) == (
                entitlement_id, list(cmd.parties), cmd.opened_on):
            return
        raise InvalidData(f"dispute {cmd.dispute_id} is already recorded with other "
                          "parties or date", field="dispute_id")
    if any(d.entitlement_id == entitlement_id and d.is_open for d in facts.disputes):
        raise RuleViolation("a dispute about this entitlement is already open: refer or "
                            "resolve it", rule="L5", field="entitlement_id")
    facts.disputes.append(Dispute(entitlement_id, list(cmd.parties), interim_lead,
                                  cmd.opened_on, id=cmd.dispute_id, note=cmd.note))


def withdraw_end_proposal(facts: PersonFacts, cmd: c.WithdrawEndProposal) -> None:
    """D1: only the body that proposed takes its proposal back, and only while the other
    body has not answered; sent again as it stands, nothing changes."""
    proposal = facts.end_proposal(cmd.proposal_id)
    if proposal is None:
        raise NotFound(f"no proposal {cmd.proposal_id} to end aftercare for this person",
                       field="proposal_id")
    if proposal.withdrawn_on == cmd.on:
        return
    if cmd.by_org != proposal.proposed_by_org:
        raise RuleViolation(f"only the body that proposed the end ({proposal.proposed_by_org}) "
                            "withdraws it; the other body agrees or declines", rule="D1",
                            field="by_org")
    if not proposal.waiting:
        raise RuleViolation(f"this proposal was already {proposal.status.value}: only a "
                            "proposal still waiting for an answer is withdrawn", rule="D1",
                            field="proposal_id")
    if cmd.on < proposal.proposed_on:
        raise InvalidData(f"the withdrawal is dated before the proposal of "
                          f"{proposal.proposed_on}", field="on")
    proposal.withdrawn_on, proposal.response_reason = cmd.on, cmd.reason.strip()


def update_dispute(facts: PersonFacts, cmd: c.UpdateDispute, stay_key: str,
                   today: date) -> None:
    """Refer or resolve; resolving records the council of ordinary residence as an OR
    decision on the entitlement's stay, so L1 re-determines with the history kept."""
    dispute = facts.dispute(cmd.dispute_id)
    if dispute is None:
        raise NotFound(f"dispute {cmd.dispute_id} is not recorded for this person",
                       field="dispute_id")
    not_after(cmd.on, today, "on")
    if cmd.on < dispute.opened_on:
        raise InvalidData(f"{cmd.on} is before the dispute was opened ({dispute.opened_on})",
                          field="on")
    if (cmd.status, cmd.on) in ((dispute.status, dispute.referred_on),
                                (dispute.status, dispute.resolved_on)) and \
            cmd.resolved_la == dispute.resolved_la:
        return  # sent again as it stands: nothing changes
    if not dispute.is_open:
        raise RuleViolation(f"dispute {dispute.id} was resolved on {dispute.resolved_on}: "
                            "open a new one if responsibility is disputed again", rule="L5",
                            field="status")
    if cmd.status is DisputeStatus.REFERRED:
        if dispute.status is DisputeStatus.REFERRED:
            raise RuleViolation(f"dispute {dispute.id} was referred on {dispute.referred_on}",
                                rule="L5", field="status")
        dispute.status, dispute.referred_on = DisputeStatus.REFERRED, cmd.on
    elif cmd.status is DisputeStatus.RESOLVED:
        require_la(cmd.resolved_la, "resolved_la")
        if cmd.resolved_la is None:
            raise InvalidData("resolving a dispute names the council of ordinary residence",
                              field="resolved_la")
        dispute.status, dispute.resolved_on = DisputeStatus.RESOLVED, cmd.on
        dispute.resolved_la = cmd.resolved_la
        facts.or_decisions.append(OrdinaryResidenceDecision(
            stay_key, cmd.resolved_la, f"resolution of dispute {dispute.id}", cmd.on,
            cmd.note or f"dispute between {', '.join(dispute.parties)} resolved"))
    else:
        raise InvalidData("a dispute is referred or resolved; it is opened by OpenDispute",
                          field="status")
    if cmd.note:
        dispute.note = cmd.note


def merge_into(survivor: PersonFacts, retired: PersonFacts) -> None:
    """A40: the retired record's facts join the survivor's; the retired record is kept,
    marked as merged, so later messages for its number are not mistaken for a new person."""
    survivor.stays += [s for s in retired.stays if survivor.stay(s.key) is None]
    survivor.stays.sort(key=lambda s: s.admitted_at)
    for period in retired.addresses:
        if not any(a.valid_from == period.valid_from for a in survivor.addresses):
            survivor.addresses.append(period)
    survivor.addresses.sort(key=lambda a: a.valid_from)
    for reg in retired.gp_registrations:
        if not any(g.valid_from == reg.valid_from for g in survivor.gp_registrations):
            survivor.gp_registrations.append(reg)
    survivor.gp_registrations.sort(key=lambda g: g.valid_from)
    for name in retired.names:
        if not any(n.valid_from == name.valid_from for n in survivor.names):
            survivor.names.append(name)
    survivor.names.sort(key=lambda n: n.valid_from)
    survivor.end_proposals += retired.end_proposals
    survivor.or_decisions += retired.or_decisions
    survivor.end_decisions += retired.end_decisions
    survivor.reinstatements += retired.reinstatements
    survivor.reviews += retired.reviews
    survivor.disputes += retired.disputes
    survivor.plans += [p for p in retired.plans if survivor.plan(p.id) is None]
    survivor.panel_decisions += retired.panel_decisions
    survivor.date_of_birth = survivor.date_of_birth or retired.date_of_birth
    survivor.died_on = survivor.died_on or retired.died_on
    retired.merged_into = survivor.nhs_number
    retired.stays, retired.or_decisions, retired.end_decisions = [], [], []
    retired.reinstatements, retired.reviews, retired.disputes = [], [], []
    retired.plans, retired.panel_decisions = [], []


STAY_EVENTS: dict[type[c.StayCommand], StayEventKind] = {
    c.StartLeave: StayEventKind.LEAVE_START,
    c.EndLeave: StayEventKind.LEAVE_END,
    c.StartCto: StayEventKind.CTO_START,
    c.EndCto: StayEventKind.CTO_END,
    c.RecallCto: StayEventKind.CTO_RECALL,
    c.ConditionalDischarge: StayEventKind.CONDITIONAL_DISCHARGE,
}

SIMPLE: dict[type[c.Command], Callable] = {
    c.UpdatePerson: update_person,
    c.Admit: admit,
    c.ChangeLegalStatus: change_legal_status,
    c.Discharge: discharge,
    c.CancelAdmission: cancel_admission,
    c.CancelDischarge: cancel_discharge,
    c.RecordDeath: record_death,
    c.ReinstateEntitlement: reinstate,
    **{cls: _event(kind) for cls, kind in STAY_EVENTS.items()},
}
