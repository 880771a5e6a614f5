"""The register service: one command in, one transaction out.

Each command is applied at most once (inbox of command ids), changes a person's facts,
re-derives their entitlements with the rules engine, and writes the change, its history
and its outbox events in the same transaction. A command that refers to something not yet
received is held and retried after every later command for the same person.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date

from register import authority, casework, handlers
from register import commands as c
from register.changes import diff
from register.errors import (
    CommandRefused,
    InvalidData,
    NotFound,
    RegisterError,
    RuleViolation,
    StaleVersion,
)
from register.events import EntitlementEvent
from register.model import (
    DisputeStatus,
    EndDecision,
    Entitlement,
    EntitlementStatus,
    FundingBasis,
    PersonFacts,
)
from register.nhs_number import require_valid
from register.ports import HeldCommand, PersonRecord, UnitOfWork
from register.rules import eligibility, ending, funding, reviews
from register.rules.entitlements import derive
from register.rules.local_authority import interim_lead, la_of_address
from register.rules.ports import LocalityPolicy, RefData


@dataclass(frozen=True)
class Outcome:
    command_id: str
    status: str  # applied | duplicate | held
    events: list[EntitlementEvent] = field(default_factory=list)
    reason: str = ""


def _check_version(uow: UnitOfWork, record: PersonRecord, cmd: c.Command) -> None:
    if cmd.if_version is None:
        return
    if isinstance(cmd, c.RecordCarePlan):
        what, current = "the aftercare plan", uow.casework.plan_version(cmd.plan_id)
    elif target := getattr(cmd, "entitlement_id", None):
        what, current = "the entitlement", record.entitlement_versions.get(target, 0)
    else:
        what, current = "the person", record.version
    if current != cmd.if_version:
        raise StaleVersion(f"{what} is at version {current}, not {cmd.if_version}: read it "
                           "again and reapply the change", field="if_version")


class RegisterService:
    def __init__(self, uow: Callable[[], UnitOfWork], refdata: RefData,
                 policy: LocalityPolicy | None = None,
                 today: Callable[[], date] = date.today) -> None:
        self._uow = uow
        self.refdata = refdata
        self.policy = policy or LocalityPolicy()
        self._today = today

    # -- commands --------------------------------------------------------------------

    def handle(self, cmd: c.Command) -> Outcome:
        """Apply a command; raise a RegisterError (nothing changed) if it is refused."""
        with self._uow() as uow:
            outcome = self._handle(uow, cmd)
            uow.commit()
        return outcome

    def handle_all(self, cmds: list[c.Command],
                   alongside: Callable[[UnitOfWork, list[Outcome]], None] | None = None,
                   *, judged: bool = False) -> list[Outcome]:
        """Apply every command in one transaction or none of them (a FHIR transaction
        Bundle, one inbound message): a refusal raises CommandRefused naming which command,
        and nothing changes. `alongside` writes the caller's own bookkeeping (the inbound
        message store) in the same transaction, before it commits. `judged`: a trust's
        message, whose demographic updates and merges must be within its authority
        (register.authority; NeedsReview otherwise)."""
        with self._uow() as uow:
            outcomes = []
            for index, cmd in enumerate(cmds):
                try:
                    outcomes.append(self._handle(uow, cmd, judged))
                except RegisterError as exc:
                    raise CommandRefused(index, exc) from exc
            if alongside is not None:
                alongside(uow, outcomes)
            uow.commit()
        return outcomes

    def release_held(self, command_ids: list[str],
                     alongside: Callable[[UnitOfWork, list[HeldCommand]], None] | None = None
                     ) -> list[HeldCommand]:
        """Stop waiting for these held commands (their hold time is over): take them out of
        `held_command` and forget their ids, so the message that carried them can be kept
        elsewhere (quarantine) and applied when it is replayed. Returns the ones released
        (those applied or released meanwhile are skipped)."""
        with self._uow() as uow:
            released = []
            for command_id in command_ids:
                found = uow.held.find(command_id)
                if found is None:
                    continue  # applied meanwhile, or released by someone else
                nhs, held = found
                record = uow.people.get(nhs)
                if record is not None:
                    record.held = max(0, record.held - 1)
                    uow.people.save(record, [], command_id)
                uow.held.remove(command_id)
                uow.inbox.forget(command_id)
                released.append(held)
            if alongside is not None:
                alongside(uow, released)
            uow.commit()
        return released

    def _responsibility(self, facts: PersonFacts) -> authority.Responsibility:
        return authority.Responsibility(
            la_of_address(facts.current_address(), self.refdata),
            frozenset((e.current.local_authority, e.current.icb, e.current.paying_icb)
                      for e in self._derive(facts) if e.current))

    def _judge_update(self, facts: PersonFacts, cmd: c.UpdatePerson) -> None:
        """A trust's demographic update, tried on a copy first: would it move the person?"""
        if authority.from_trust(cmd) is None or not authority.known(facts):
            return
        after = copy.deepcopy(facts)
        self._apply(after, cmd)
        authority.judge_update(cmd, facts, after, self._responsibility(facts),
                               self._responsibility(after), self._today())

    def _handle(self, uow: UnitOfWork, cmd: c.Command, judged: bool = False) -> Outcome:
        if not cmd.command_id:
            raise InvalidData("every command needs an id", field="command_id")
        nhs = require_valid(cmd.nhs_number)
        # Claimed first, in the same transaction: a refusal rolls the claim back, and a
        # second process with the same id waits on the row and then sees a duplicate.
        previous = uow.inbox.claim(cmd.command_id, type(cmd).__name__)
        if previous:
            return Outcome(cmd.command_id, "duplicate", reason=previous)
        if isinstance(cmd, c.MergePatient):
            merged = self._merge(uow, cmd, nhs, judged)
            uow.provenance.add(cmd)
            return Outcome(cmd.command_id, "applied", merged)
        record, is_new = self._load(uow, nhs)
        _check_version(uow, record, cmd)
        if judged and isinstance(cmd, c.UpdatePerson):
            self._judge_update(record.facts, cmd)
        if is_new:
            uow.people.add(record)
        try:
            self._apply(record.facts, cmd)
        except handlers.NotYet as wait:
            uow.held.add(record.facts.nhs_number, cmd, str(wait))
            record.held += 1
            uow.people.save(record, [], cmd.command_id)
            uow.inbox.record(cmd.command_id, type(cmd).__name__, "held", str(wait))
            return Outcome(cmd.command_id, "held", reason=str(wait))
        events = self._settle(uow, record, cmd.command_id)
        uow.provenance.add(cmd)
        events += self._replay_held(uow, record)
        return Outcome(cmd.command_id, "applied", events)

    def _load(self, uow: UnitOfWork, nhs: str) -> tuple[PersonRecord, bool]:
        record = uow.people.get(nhs)
        seen = {nhs}
        # Messages for a merged-away number apply to the surviving record (A40).
        while record is not None and record.facts.merged_into:
            target = record.facts.merged_into
            if target in seen:
                raise InvalidData(f"merge loop through {target}", field="nhs_number")
            seen.add(target)
            record = uow.people.get(target)
            nhs = target
        if record is None:
            return PersonRecord(PersonFacts(nhs_number=nhs)), True
        return record, False

    def _derive(self, facts: PersonFacts) -> list[Entitlement]:
        return derive(facts, self.refdata, self.policy)

    def _entitlement(self, facts: PersonFacts,
                     entitlement_id: str | None) -> tuple[Entitlement, bool]:
        """The entitlement named, or the person's latest one (council systems do not know
        the register's entitlement ids); and whether it is the latest."""
        derived = self._derive(facts)
        if entitlement_id is None:
            live = [e for e in derived if e.status is not EntitlementStatus.CANCELLED]
            if not live:
                raise NotFound("this person has no s117 entitlement to attach this to",
                               field="entitlement_id")
            return live[-1], live[-1] is derived[-1]
        for i, ent in enumerate(derived):
            if ent.id == entitlement_id:
                return ent, i == len(derived) - 1
        raise NotFound(f"entitlement {entitlement_id} not found for this person",
                       field="entitlement_id")

    def _apply(self, facts: PersonFacts, cmd: c.Command) -> None:
        today = self._today()
        simple = handlers.SIMPLE.get(type(cmd))
        if simple is not None:
            if isinstance(cmd, c.ReinstateEntitlement):
                ent, latest = self._entitlement(facts, cmd.entitlement_id)
                ending.check_reinstate(ent, latest)
            simple(facts, cmd)
        elif isinstance(cmd, c.RecordOrdinaryResidence):
            if self.refdata.name(cmd.la_gss) is None:
                raise InvalidData(f"unknown local authority {cmd.la_gss}", field="la_gss")
            handlers.not_after(cmd.decided_on, today, "decided_on")
            derived = self._derive(facts)
            stays = derived[-1].qualifying_stays if derived else []
            handlers.record_ordinary_residence(facts, cmd, stays)
        elif isinstance(cmd, c.EndEntitlement):
            self._end(facts, cmd, today)
        elif isinstance(cmd, c.RecordReview):
            ent, _ = self._entitlement(facts, cmd.entitlement_id)
            handlers.not_after(cmd.on, today, "on")
            handlers.record_review(facts, cmd, ent.id)
        elif isinstance(cmd, c.RecordCarePlan):
            ent, _ = self._entitlement(facts, cmd.entitlement_id)
            if ent.status is EntitlementStatus.CANCELLED:
                raise RuleViolation("the entitlement was cancelled (its admission was "
                                    "cancelled): a plan cannot be attached to it",
                                    field="entitlement_id")
            plan = handlers.record_care_plan(facts, cmd, ent.id, today)
            funding.check_plan(plan, self.refdata)
        elif isinstance(cmd, c.RecordPanelDecision):
            handlers.record_panel_decision(facts, cmd, today)
        elif isinstance(cmd, c.OpenDispute):
            self._open_dispute(facts, cmd, today)
        elif isinstance(cmd, c.UpdateDispute):
            dispute = facts.dispute(cmd.dispute_id)
            if dispute is None:
                raise NotFound(f"dispute {cmd.dispute_id} is not recorded for this person",
                               field="dispute_id")
            if cmd.status is DisputeStatus.RESOLVED and cmd.resolved_la \
                    and self.refdata.name(cmd.resolved_la) is None:
                raise InvalidData(f"unknown local authority {cmd.resolved_la}",
                                  field="resolved_la")
            ent, _ = self._entitlement(facts, dispute.entitlement_id)
            handlers.update_dispute(facts, cmd, ent.qualifying_stays[-1], today)
        else:
            raise InvalidData(f"unsupported command {type(cmd).__name__}", field="command")

    def _open_dispute(self, facts: PersonFacts, cmd: c.OpenDispute, today: date) -> None:
        """L5: two or more councils, each known; the interim lead is one of them, by default
        the one where the person is."""
        ent, _ = self._entitlement(facts, cmd.entitlement_id)
        parties = list(dict.fromkeys(cmd.parties))
        if len(parties) < 2:
            raise InvalidData("a dispute is between at least two councils", field="parties")
        for i, party in enumerate(parties):
            handlers.require_la(party, f"parties[{i}]")
            if self.refdata.name(party) is None:
                raise InvalidData(f"unknown local authority {party}", field=f"parties[{i}]")
        if cmd.interim_lead is not None and cmd.interim_lead not in parties:
            raise RuleViolation(f"the interim lead {cmd.interim_lead} is not a party to the "
                                "dispute", rule="L5", field="interim_lead")
        residence = la_of_address(facts.address_on(cmd.opened_on), self.refdata)
        lead, _ = interim_lead(parties, residence, cmd.interim_lead)
        handlers.open_dispute(facts, replace(cmd, parties=tuple(parties)), ent.id, lead, today)

    def _end(self, facts: PersonFacts, cmd: c.EndEntitlement, today: date) -> None:
        ent, _ = self._entitlement(facts, cmd.entitlement_id)
        handlers.not_after(cmd.decision_date, today, "decision-date")
        decision = EndDecision(
            cmd.entitlement_id, cmd.decision_date, cmd.la_agreed, cmd.icb_agreed,
            cmd.person_involved, list(cmd.reasons), cmd.note,
            cmd.moved_to_suitable_accommodation, cmd.la_agreed_by, cmd.la_agreed_on,
            cmd.icb_agreed_by, cmd.icb_agreed_on, cmd.carer_involved, cmd.end_date)
        stays = [s for s in (facts.stay(k) for k in ent.qualifying_stays) if s]
        restricted = [s for s in stays if (d := eligibility.qualifying_detention(s))
                      and d.restricted]
        plan = facts.active_plan(ent.id)
        accommodation = bool(plan) and any(
            ln.is_accommodation and ln.funding_basis is FundingBasis.S117
            and (ln.ends_on is None or ln.ends_on > cmd.decision_date)
            for ln in plan.lines)  # type: ignore[union-attr]
        ending.check_end(
            ent, decision,
            cto_in_force=any(eligibility.cto_in_force(s, cmd.decision_date) for s in stays),
            conditionally_discharged_restricted=any(
                eligibility.conditionally_discharged(s, cmd.decision_date) for s in restricted),
            specialist_accommodation=accommodation, reviews=facts.reviews)
        facts.end_decisions.append(decision)

    def _merge(self, uow: UnitOfWork, cmd: c.MergePatient, nhs: str,
               judged: bool = False) -> list[EntitlementEvent]:
        retired_nhs = require_valid(cmd.retired_nhs_number, "retired_nhs_number")
        if retired_nhs == nhs:
            raise InvalidData("a record cannot be merged into itself",
                              field="retired_nhs_number")
        survivor, new_survivor = self._load(uow, nhs)
        retired = uow.people.get(retired_nhs)
        if judged:
            authority.judge_merge(cmd, survivor.facts,
                                  retired.facts if retired else PersonFacts(retired_nhs))
        if new_survivor:
            uow.people.add(survivor)
        if retired is None:
            retired = PersonRecord(PersonFacts(nhs_number=retired_nhs))
            uow.people.add(retired)
        handlers.merge_into(survivor.facts, retired.facts)
        survivor.entitlements += retired.entitlements
        retired.entitlements = []
        uow.held.rekey(retired_nhs, survivor.facts.nhs_number)
        survivor.held, retired.held = survivor.held + retired.held, 0
        uow.people.save(retired, [], cmd.command_id)
        uow.casework.save(retired, casework.EMPTY, cmd.command_id)
        events = self._settle(uow, survivor, cmd.command_id)
        return events + self._replay_held(uow, survivor)

    def _settle(self, uow: UnitOfWork, record: PersonRecord,
                command_id: str) -> list[EntitlementEvent]:
        facts = record.facts
        residence = la_of_address(facts.current_address(), self.refdata)
        entitlements, events = diff(record.entitlements, self._derive(facts),
                                    old_residence=record.residence_la, residence=residence,
                                    command_id=command_id, today=self._today())
        record.entitlements = entitlements
        record.residence_la = residence
        record.next_review_due = {
            e.id: reviews.next_review_due(e, facts.reviews, self.policy)[0]
            for e in entitlements}
        uow.people.save(record, events, command_id)
        uow.casework.save(record, casework.derive(facts, entitlements, self.policy),
                          command_id)
        uow.outbox.add(events)
        return events

    def refresh(self, nhs_number: str) -> list[EntitlementEvent]:
        """Derive a person's entitlements and casework again from their facts with the
        rules and policy now in force (after an upgrade or a policy change), announcing
        whatever changed. Not a command from a sender: nothing enters the inbox."""
        with self._uow() as uow:
            record = uow.people.get(require_valid(nhs_number))
            if record is None:
                raise NotFound("no record for this NHS number", field="nhs_number")
            events = self._settle(uow, record, f"refresh:{self._today().isoformat()}")
            uow.commit()
        return events

    def _replay_held(self, uow: UnitOfWork, record: PersonRecord) -> list[EntitlementEvent]:
        """Retry held commands in the sender's order until none makes progress."""
        events: list[EntitlementEvent] = []
        progress = record.held > 0
        while progress:
            progress = False
            waiting = uow.held.for_person(record.facts.nhs_number)
            waiting.sort(key=lambda h: (h.command.occurred_at is None,
                                        h.command.occurred_at or h.received_at, h.received_at))
            for held in waiting:
                # A refused command must leave no half-applied change behind.
                before = copy.deepcopy(record.facts)
                try:
                    self._apply(record.facts, held.command)
                except (handlers.NotYet, RegisterError):
                    record.facts = before  # still waiting, or refused: it stays held
                    continue
                uow.held.remove(held.command.command_id)
                record.held -= 1
                uow.inbox.record(held.command.command_id, type(held.command).__name__,
                                 "applied", "after being held")
                events += self._settle(uow, record, held.command.command_id)
                uow.provenance.add(held.command)
                progress = True
        return events
