"""The register service: one command in, one transaction out.

Each command is applied at most once (inbox of command ids), changes a person's facts,
re-derives their entitlements with the rules engine, and writes the change, its history
and its outbox events in the same transaction. A command that refers to something not yet
received is held and retried after every later command for the same person.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date

from register import authority, casework, handlers
from register import commands as c
from register.changes import diff, event
from register.errors import (
    CommandRefused,
    ConcurrencyConflict,
    InvalidData,
    NotFound,
    RegisterError,
    RuleViolation,
    StaleVersion,
)
from register.events import EntitlementEvent, EventType
from register.federation import ownership
from register.federation.replica import ReplicaUpdate, announced_owner, judge
from register.model import (
    DisputeStatus,
    EndDecision,
    EndProposal,
    Entitlement,
    EntitlementStatus,
    FlagPeriod,
    FundingBasis,
    PersonFacts,
    WrittenNotice,
)
from register.nhs_number import require_valid
from register.ports import HeldCommand, PersonRecord, UnitOfWork
from register.rules import (
    charging,
    eligibility,
    ending,
    funding,
    local_authority,
    reviews,
    ruleset,
)
from register.rules.entitlements import derive
from register.rules.local_authority import interim_lead, la_of_address
from register.rules.ports import LocalityPolicy, RefData


@dataclass(frozen=True)
class Outcome:
    command_id: str
    status: str  # applied | duplicate | held | forwarded (to the owner of a replica)
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


def _workflow_state(facts: PersonFacts) -> tuple[object, ...]:
    """What the joint workflows' events look at, to tell a new step from a resend."""
    return (tuple((p.id, p.agreed, p.withdrawn_on) for p in facts.end_proposals),
            tuple(d.id for d in facts.disputes))


def _workflow_events(facts: PersonFacts, cmd: c.Command, entitlements: list[Entitlement],
                     residence: str | None) -> list[EntitlementEvent]:
    """The other body must act: a proposed end (D1), a declined one, an opened dispute
    (L5). No free text from the sender: events carry no patient details."""
    by_id = {e.id: e for e in entitlements}
    if isinstance(cmd, c.ProposeEnd | c.RespondToEndProposal | c.WithdrawEndProposal):
        p = facts.end_proposal(cmd.proposal_id)
        ent = by_id.get(p.entitlement_id) if p else None
        if p is None or ent is None or p.agreed:
            return []  # an agreement ends the entitlement: diff announces `ended`
        if p.withdrawn_on is not None:
            return [event(EventType.END_WITHDRAWN, ent, residence, p.withdrawn_on,
                          f"{p.proposed_by_org} withdrew its proposal to end s117 aftercare: "
                          "nothing is left to answer (D1)", cmd.command_id)]
        if p.agreed is None:
            return [event(EventType.END_PROPOSED, ent, residence, p.proposed_on,
                          f"{p.proposed_by_org} proposes ending s117 aftercare (review of "
                          f"{p.review_on}); the other responsible body agrees or declines "
                          "(D1)", cmd.command_id)]
        return [event(EventType.END_DECLINED, ent, residence, p.responded_on or p.proposed_on,
                      f"{p.responded_by_org} declined the proposal of {p.proposed_by_org} to "
                      "end s117 aftercare: it goes on (D1)", cmd.command_id)]
    if isinstance(cmd, c.OpenDispute):
        d = facts.dispute(cmd.dispute_id)
        ent = by_id.get(d.entitlement_id) if d else None
        if d is None or ent is None:
            return []
        return [event(EventType.DISPUTE_OPENED, ent, residence, d.opened_on,
                      f"ordinary residence disputed between {', '.join(d.parties)}; interim "
                      f"lead {d.interim_lead} (L5)", cmd.command_id)]
    return []


class RegisterService:
    def __init__(self, uow: Callable[[], UnitOfWork], refdata: RefData,
                 policy: LocalityPolicy | None = None,
                 today: Callable[[], date] = date.today,
                 owners: ownership.Ownership | None = None) -> None:
        self._uow = uow
        self.refdata = refdata
        self.policy = policy or LocalityPolicy()
        self._today = today
        self.owners = owners  # None: no federation, nothing ever moves to another register

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

    def handle_each(self, groups: list[list[c.Command]],
                    alongside: Callable[[UnitOfWork, int, list[Outcome]], None] | None = None,
                    *, judged: bool = False) -> list[list[Outcome] | CommandRefused]:
        """Apply several groups of commands (a worker's batch of inbound messages, a bulk
        load) in one transaction, each group as if it were its own: a refused group changes
        nothing and the others stay, in their order. Returns each group's outcomes or its
        refusal. `alongside(uow, group, outcomes)` writes the caller's bookkeeping with the
        group. Raises ConcurrencyConflict (nothing kept) if another process changed a person
        meanwhile: the caller retries.

        Refusals are rare, so the batch first runs without savepoints (each costs two round
        trips); if a group is refused, that attempt is rolled back and the batch runs again
        with a savepoint around each group, so the refused one is undone alone."""
        try:
            return self._handle_each(groups, alongside, savepoints=False, judged=judged)
        except CommandRefused:
            return self._handle_each(groups, alongside, savepoints=True, judged=judged)

    def _handle_each(self, groups: list[list[c.Command]],
                     alongside: Callable[[UnitOfWork, int, list[Outcome]], None] | None,
                     savepoints: bool, judged: bool = False
                     ) -> list[list[Outcome] | CommandRefused]:
        results: list[list[Outcome] | CommandRefused] = []
        with self._uow() as uow:
            uow.people.preload([cmd.nhs_number for cmds in groups for cmd in cmds])
            if not savepoints:  # all or nothing: the ids can be claimed together
                uow.inbox.preclaim([(cmd.command_id, type(cmd).__name__)
                                    for cmds in groups for cmd in cmds])
            for number, cmds in enumerate(groups):
                try:
                    with uow.savepoint() if savepoints else contextlib.nullcontext():
                        outcomes = []
                        for index, cmd in enumerate(cmds):
                            try:
                                outcomes.append(self._handle(uow, cmd, judged))
                            except StaleVersion as exc:
                                raise CommandRefused(index, exc) from exc
                            except ConcurrencyConflict:
                                raise
                            except RegisterError as exc:
                                raise CommandRefused(index, exc) from exc
                        if alongside is not None:
                            alongside(uow, number, outcomes)
                except CommandRefused as refused:
                    if not savepoints:
                        raise
                    results.append(refused)
                    continue
                results.append(outcomes)
            uow.commit()
        return results

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

    def _handle(self, uow: UnitOfWork, cmd: c.Command, judged: bool = False,
                reply_to: str | None = None) -> Outcome:
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
        owner = None if is_new else uow.replicas.owner_of(record.id)
        if owner is not None:
            # A replica is read-only: the owning register applies the change with its own
            # rules, in its order, and the change comes back as a replica update.
            uow.replicas.forward(owner[0], replace(cmd, if_version=None), reply_to)
            uow.inbox.record(cmd.command_id, type(cmd).__name__, "forwarded", owner[0])
            return Outcome(cmd.command_id, "forwarded",
                           reason=f"sent to the owning register {owner[0]}")
        if is_new:
            uow.people.add(record)
        before = _workflow_state(record.facts)
        try:
            self._apply(record.facts, cmd)
        except handlers.NotYet as wait:
            uow.held.add(record.facts.nhs_number, cmd, str(wait))
            record.held += 1
            uow.people.save(record, [], cmd.command_id)
            uow.inbox.record(cmd.command_id, type(cmd).__name__, "held", str(wait))
            return Outcome(cmd.command_id, "held", reason=str(wait))
        events = self._settle(uow, record, cmd.command_id,
                              cmd if _workflow_state(record.facts) != before else None)
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
                cmd = replace(cmd, entitlement_id=ent.id)
            simple(facts, cmd)
        elif isinstance(cmd, c.RecordOrdinaryResidence):
            if self.refdata.name(cmd.la_gss) is None:
                raise InvalidData(f"unknown local authority {cmd.la_gss}", field="la_gss")
            handlers.not_after(cmd.decided_on, today, "decided_on")
            derived = self._derive(facts)
            stays = derived[-1].qualifying_stays if derived else []
            self._not_a_move(facts, cmd, derived[-1] if derived else None)
            handlers.record_ordinary_residence(facts, cmd, stays)
        elif isinstance(cmd, c.EndEntitlement):
            self._end(facts, cmd, today)
        elif isinstance(cmd, c.ProposeEnd):
            self._propose_end(facts, cmd, today)
        elif isinstance(cmd, c.RespondToEndProposal):
            self._respond_to_end(facts, cmd, today)
        elif isinstance(cmd, c.WithdrawEndProposal):
            handlers.not_after(cmd.on, today, "on")
            handlers.withdraw_end_proposal(facts, cmd)
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
            previous = facts.plan(cmd.plan_id) or facts.active_plan(ent.id)
            before = list(previous.lines) if previous else []
            plan = handlers.record_care_plan(facts, cmd, ent.id, today)
            funding.check_plan(plan, self.refdata)
            facts.funding_moves += charging.funding_moves(before, plan, today)
        elif isinstance(cmd, c.RecordCharge):
            ent, _ = self._entitlement(facts, cmd.entitlement_id)
            handlers.require_org(cmd.charged_by, "charged_by")
            charge = charging.record_charge(cmd, ent.id, today)
            facts.charges = [ch for ch in facts.charges if ch.id != charge.id] + [charge]
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

    def _not_a_move(self, facts: PersonFacts, cmd: c.RecordOrdinaryResidence,
                    latest: Entitlement | None) -> None:
        """O5: a decision for the latest detention that names the council the person moved
        to is refused (L2); earlier stays keep their own history."""
        if latest is None or latest.status in (EntitlementStatus.ENDED,
                                               EntitlementStatus.CANCELLED):
            return
        key = cmd.stay_key or latest.qualifying_stays[-1]
        stay = facts.stay(key)
        detention = eligibility.qualifying_detention(stay) if stay else None
        if stay is None or detention is None or key != latest.qualifying_stays[-1]:
            return
        local_authority.refuse_transfer_on_move(
            facts, stay, detention.on, latest.current.local_authority if latest.current else None,
            self.refdata.social_services_authority(cmd.la_gss), self.refdata)

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
        # A council file names no entitlement (""): the person's latest.
        ent, _ = self._entitlement(facts, cmd.entitlement_id or None)
        handlers.not_after(cmd.decision_date, today, "decision-date")
        decision = EndDecision(
            ent.id, cmd.decision_date, cmd.la_agreed, cmd.icb_agreed,
            cmd.person_involved, list(cmd.reasons), cmd.note,
            cmd.moved_to_suitable_accommodation, cmd.la_agreed_by, cmd.la_agreed_on,
            cmd.icb_agreed_by, cmd.icb_agreed_on, cmd.carer_involved, cmd.end_date,
            cmd.notice)
        self._check_end(facts, decision)
        facts.end_decisions.append(decision)

    def _check_end(self, facts: PersonFacts, decision: EndDecision, *,
                   notice: bool = True) -> None:
        """D1-D5 (and D8 when in force) for an end decision, as the register's facts
        stand; `notice=False` for a proposal, whose written notice comes with the agreement."""
        ent, _ = self._entitlement(facts, decision.entitlement_id)
        stays = [s for s in (facts.stay(k) for k in ent.qualifying_stays) if s]
        restricted = [s for s in stays if (d := eligibility.qualifying_detention(s))
                      and d.restricted]
        plan = facts.active_plan(ent.id)
        accommodation = bool(plan) and any(
            ln.is_accommodation and ln.funding_basis is FundingBasis.S117
            and (ln.ends_on is None or ln.ends_on > decision.decision_date)
            for ln in plan.lines)  # type: ignore[union-attr]
        on = decision.decision_date
        ending.check_end(
            ent, decision,
            cto_in_force=any(eligibility.cto_in_force(s, on) for s in stays),
            conditionally_discharged_restricted=any(
                eligibility.conditionally_discharged(s, on) for s in restricted),
            specialist_accommodation=accommodation, reviews=facts.reviews,
            notice_from=ruleset.notice_required(on, self.policy) if notice else None)

    def _bodies(self, facts: PersonFacts, entitlement_id: str) -> tuple[Entitlement, str, str]:
        ent, _ = self._entitlement(facts, entitlement_id)
        cur = ent.current
        return ent, (cur.local_authority or "") if cur else "", (cur.icb or "") if cur else ""

    def _propose_end(self, facts: PersonFacts, cmd: c.ProposeEnd, today: date) -> None:
        """D1 as a two-step workflow: one responsible body proposes at a review; everything
        but the other body's agreement is checked now, so the proposer hears every refusal
        before the other body is asked."""
        handlers.not_after(cmd.on, today, "on")
        ent, la, icb = self._bodies(facts, cmd.entitlement_id or self._entitlement(
            facts, None)[0].id)
        if facts.end_proposal(cmd.proposal_id) is not None:
            existing = facts.end_proposal(cmd.proposal_id)
            if (existing.entitlement_id, existing.proposed_on) == (  # type: ignore[union-attr]
                    ent.id, cmd.on):
                return  # the same proposal sent again (a nightly council file)
            raise InvalidData(f"proposal {cmd.proposal_id} is already recorded",
                              field="proposal_id")
        mine = la if cmd.by_kind == "la" else icb if cmd.by_kind == "icb" else None
        if not cmd.by_org or cmd.by_org != mine:
            raise RuleViolation(f"{cmd.by_org} is not the responsible council or ICB of this "
                                "entitlement: only they decide jointly to end it", rule="D1",
                                field="by_org")
        if not cmd.by_name.strip():
            raise InvalidData("say who proposes the end", field="by_name")
        if any(p.entitlement_id == ent.id and p.waiting for p in facts.end_proposals):
            raise RuleViolation("an end of this entitlement is already proposed and waiting "
                                "for the other body", rule="D1", field="proposal_id")
        if not any(r.entitlement_id == ent.id and r.on == cmd.review_on
                   for r in facts.reviews):
            raise RuleViolation(f"no review of this entitlement is recorded on "
                                f"{cmd.review_on}: ending is decided at a review; record the "
                                "review first", rule="D1", field="review_on")
        if cmd.review_on > cmd.on:
            raise InvalidData("the review is after the proposal", field="review_on")
        proposal = EndProposal(
            cmd.proposal_id, ent.id, cmd.by_org, cmd.by_kind, cmd.by_name.strip(), cmd.on,
            cmd.review_on, list(cmd.reasons), cmd.person_involved, cmd.carer_involved,
            cmd.note, cmd.end_date, cmd.moved_to_suitable_accommodation)
        # As if the other body agreed the same day: D1 (reasons, the person), D2-D5.
        self._check_end(facts, self._decision(proposal, "(the other body)", cmd.on),
                        notice=False)
        facts.end_proposals.append(proposal)

    @staticmethod
    def _decision(p: EndProposal, other_by: str, other_on: date,
                  notice: WrittenNotice | None = None) -> EndDecision:
        la_by, la_on, icb_by, icb_on = (p.proposed_by, p.proposed_on, other_by, other_on) \
            if p.proposed_by_kind == "la" else (other_by, other_on, p.proposed_by, p.proposed_on)
        return EndDecision(p.entitlement_id, max(p.proposed_on, other_on), True, True,
                           p.person_involved, list(p.reasons), p.note,
                           p.moved_to_suitable_accommodation, la_by, la_on, icb_by, icb_on,
                           p.carer_involved, p.end_date, notice)

    def _respond_to_end(self, facts: PersonFacts, cmd: c.RespondToEndProposal,
                        today: date) -> None:
        handlers.not_after(cmd.on, today, "on")
        proposal = facts.end_proposal(cmd.proposal_id)
        if proposal is None:
            raise NotFound(f"no proposal {cmd.proposal_id} to end aftercare for this person",
                           field="proposal_id")
        if not proposal.waiting:
            if (proposal.agreed, proposal.responded_on) == (cmd.agree, cmd.on):
                return  # answered the same way before
            raise RuleViolation(f"this proposal was already {proposal.status.value} on "
                                f"{proposal.withdrawn_on or proposal.responded_on}",
                                rule="D1", field="proposal_id")
        _, la, icb = self._bodies(facts, proposal.entitlement_id)
        other_kind, other = ("icb", icb) if proposal.proposed_by_kind == "la" else ("la", la)
        if cmd.by_kind != other_kind or cmd.by_org != other:
            raise RuleViolation(f"the other responsible body ({other or 'not known'}) answers "
                                f"a proposal made by {proposal.proposed_by_org}", rule="D1",
                                field="by_org")
        if not cmd.by_name.strip():
            raise InvalidData("say who answers for your organisation", field="by_name")
        if cmd.on < proposal.proposed_on:
            raise InvalidData(f"the answer is dated before the proposal of "
                              f"{proposal.proposed_on}", field="on")
        if not cmd.agree and not cmd.reason.strip():
            raise InvalidData("give the reason for declining", field="reason")
        if cmd.agree:
            decision = self._decision(proposal, cmd.by_name.strip(), cmd.on, cmd.notice)
            self._check_end(facts, decision)
            facts.end_decisions.append(decision)
        proposal.agreed, proposal.responded_on = cmd.agree, cmd.on
        proposal.responded_by_org, proposal.responded_by = cmd.by_org, cmd.by_name.strip()
        proposal.response_reason = cmd.reason.strip()

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

    def _settle(self, uow: UnitOfWork, record: PersonRecord, command_id: str,
                workflow: c.Command | None = None) -> list[EntitlementEvent]:
        facts = record.facts
        residence = la_of_address(facts.current_address(), self.refdata)
        derived = self._derive(facts)
        work = casework.derive(facts, derived, self.policy)
        for ent in derived:  # the Ombudsman flags travel with the entitlement (O1-O4)
            ent.flags = [FlagPeriod(a.key, a.code.value, a.rule_id, a.since, a.until, a.reason)
                         for a in work.alerts
                         if a.entitlement_id == ent.id and a.code in casework.OMBUDSMAN]
        entitlements, events = diff(record.entitlements, derived,
                                    old_residence=record.residence_la, residence=residence,
                                    command_id=command_id, today=self._today())
        if workflow is not None:
            events += _workflow_events(facts, workflow, entitlements, residence)
        record.entitlements = entitlements
        record.residence_la = residence
        record.next_review_due = {
            e.id: reviews.next_review_due(e, facts.reviews, self.policy)[0]
            for e in entitlements}
        uow.people.save(record, events, command_id)
        uow.casework.save(record, work, command_id)
        uow.outbox.add(events)
        return events

    # -- federation: ownership moves (register.federation.ownership) -------------------

    def handle_forwarded(self, cmd: c.Command, origin: str, reply_to: str) -> Outcome:
        """A command another register sent here as the owner (`origin` sent it, `reply_to`
        is where it was written). Applied with this register's rules; if this register
        handed the record over meanwhile, it goes on to the new owner. One this register
        forwarded itself before it took the record over comes back here and is applied now
        (its inbox entry said only `forwarded`). If it is a trust's message that gives the
        live entitlement a new detention by that trust (L3), the record is handed to the
        register that forwarded it, the trust's own."""
        with self._uow() as uow:
            if uow.inbox.outcome_of(cmd.command_id) == "forwarded":
                uow.inbox.forget(cmd.command_id)
            nhs = require_valid(cmd.nhs_number)
            record, is_new = self._load(uow, nhs)
            before = {key for e in record.entitlements for key in e.qualifying_stays}
            outcome = self._handle(uow, cmd, reply_to=reply_to)
            if outcome.status == "applied" and not is_new:
                record, _ = self._load(uow, nhs)
                move = ownership.after_detention(authority.from_trust(cmd), origin, before,
                                                 record.entitlements, record.facts)
                if move is not None:
                    outcome = replace(outcome, events=outcome.events + self._hand_over(
                        uow, record, move, cmd.command_id))
            uow.commit()
        return outcome

    def _hand_over(self, uow: UnitOfWork, record: PersonRecord, move: ownership.Move,
                   command_id: str) -> list[EntitlementEvent]:
        """In the transaction of the change that moved the duty: this register holds a
        replica from now on (writes here go to the new owner), and the owner-changed event
        goes out after this register's earlier events (the publisher offers the record with
        it, in order)."""
        assert record.id is not None
        uow.replicas.hand_over(record.id, move.to, move.rule, move.detail)
        # The record itself is unchanged (already saved by the change that moved the duty):
        # only the event is added.
        events = self._owner_changed(record, move.to, f"owning register now {move.to}: "
                                     f"{move.detail}", command_id)
        uow.outbox.add(events)
        return events

    def _owner_changed(self, record: PersonRecord, to: str, detail: str,
                       command_id: str) -> list[EntitlementEvent]:
        if not record.entitlements:
            return []
        ent = record.entitlements[-1]
        return [replace(event(EventType.OWNER_CHANGED, ent, record.residence_la,
                              self._today(), detail, command_id), owner=to)]

    def take_over(self, update: ReplicaUpdate) -> Outcome:
        """The old owner (`update.origin`) hands this register the record, in its final
        state after its event `update.event_number`: kept as sent (with its history, which
        this register holds already as a replica), then owned here. Once per handover (the
        inbox); refused if another register owns the record here, or this one does."""
        with self._uow() as uow:
            previous = uow.inbox.claim(update.command_id, "Handover")
            if previous:
                return Outcome(update.command_id, "duplicate", reason=previous)
            record, is_new = self._load(uow, require_valid(update.facts.nhs_number))
            owner = None if is_new else uow.replicas.owner_of(record.id)
            if not is_new and owner is None:
                raise RuleViolation(f"this register owns this record already: the handover "
                                    f"from {update.origin} is refused", field="origin")
            if owner is not None and owner[0] != update.origin:
                raise RuleViolation(f"this record is owned by {owner[0]}, not "
                                    f"{update.origin}: its handover is refused",
                                    field="origin")
            moved = [e for e in update.events if e.event is EventType.OWNER_CHANGED]
            if not moved or not moved[-1].owner:
                raise InvalidData("a handover names the new owner in its owner-changed event",
                                  field="events")
            if is_new:
                uow.people.add(record)
            self._keep(record, update)
            command_id = f"handover:{update.origin}:{update.event_number}"
            detail = moved[-1].detail
            events = self._owner_changed(record, moved[-1].owner, detail, command_id)
            uow.people.save(record, events, command_id)
            uow.casework.save(record, casework.derive(record.facts, record.entitlements,
                                                      self.policy), command_id)
            uow.outbox.add(events)
            assert record.id is not None
            uow.replicas.take_over(record.id, update.origin, update.event_number,
                                   update.handover_rule or "-", detail)
            uow.commit()
        return Outcome(update.command_id, "applied", events)

    @staticmethod
    def _keep(record: PersonRecord, update: ReplicaUpdate) -> None:
        record.facts = update.facts
        record.entitlements = list(update.entitlements)
        record.residence_la = update.residence_la
        record.next_review_due = dict(update.next_review_due)

    def apply_replica(self, update: ReplicaUpdate) -> Outcome:
        """Keep the owning register's state of a person as it sent it (register.federation):
        once per event (the inbox), never older over newer, and never over a record this
        register owns. The events go to this register's outbox, so its subscribers hear
        them; its federation publisher does not send a replica's events on."""
        with self._uow() as uow:
            previous = uow.inbox.claim(update.command_id, "ReplicaUpdate")
            if previous:
                return Outcome(update.command_id, "duplicate", reason=previous)
            record, is_new = self._load(uow, require_valid(update.facts.nhs_number))
            owner = None if is_new else uow.replicas.owner_of(record.id)
            if judge(owner, is_new, update) == "stale":
                uow.inbox.record(update.command_id, "ReplicaUpdate", "stale")
                uow.commit()
                return Outcome(update.command_id, "duplicate", reason="stale")
            if is_new:
                uow.people.add(record)
            self._keep(record, update)
            # The new owner's own owner-changed event tells the old owner nothing new: its
            # subscribers heard the move from its own event already.
            events = [e for e in update.events if not (
                e.event is EventType.OWNER_CHANGED and owner is not None and e.owner == owner[0])]
            uow.people.save(record, events, update.command_id)
            uow.casework.save(record, casework.derive(record.facts, record.entitlements,
                                                      self.policy), update.command_id)
            uow.outbox.add(events)
            assert record.id is not None
            # The old owner's notice of a handover names the new owner, whose own numbering
            # starts afresh here.
            named = announced_owner(update)
            if named is not None and named != update.origin:
                uow.replicas.save(record.id, named, 0)
            else:
                uow.replicas.save(record.id, update.origin, update.event_number)
            uow.commit()
        return Outcome(update.command_id, "applied", events)

    def refresh(self, nhs_number: str) -> list[EntitlementEvent]:
        """Derive a person's entitlements and casework again from their facts with the
        rules and policy now in force (after an upgrade or a policy change), announcing
        whatever changed. Not a command from a sender: nothing enters the inbox."""
        with self._uow() as uow:
            record = uow.people.get(require_valid(nhs_number))
            if record is None:
                raise NotFound("no record for this NHS number", field="nhs_number")
            command_id = f"refresh:{self._today().isoformat()}"
            if record.id is not None and uow.replicas.owner_of(record.id) is not None:
                return []  # a replica: its owner's rules decide it, and send it here
            events = self._settle(uow, record, command_id)
            move = ownership.after_succession(self.owners, events, record.entitlements) \
                if self.owners is not None else None
            if move is not None:
                events += self._hand_over(uow, record, move, command_id)
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
