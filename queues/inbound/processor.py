"""Apply one inbound message: decode it, apply its commands to the register in one
transaction (each command id once), or keep it in quarantine with the reason. The same code
runs in `s117 worker` (networked) and behind the in-process bus (embedded)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import cast

from sqlalchemy.orm import Session, sessionmaker

from queues.inbound import council, store
from queues.inbound.decoders import Decoded, DecodedFile, Decoders, Refused
from queues.inbound.envelope import Envelope, Result, summarise
from register.authority import NeedsReview
from register.commands import Agent
from register.errors import CommandRefused, ConcurrencyConflict
from register.ports import UnitOfWork
from register.service import Outcome, RegisterService
from register.store.inbound_tables import APPROVED, NEEDS_REVIEW
from register.store.uow import SqlUnitOfWork

log = logging.getLogger("s117.inbound")

DeadLetter = Callable[[Envelope, int, str], None]
"""Publishes a quarantined message to s117.dead (networked mode): envelope, row id, kind."""


class Processor:
    def __init__(self, service: RegisterService, sessions: sessionmaker[Session],
                 decoders: Decoders, dead_letter: DeadLetter | None = None,
                 conflict_retries: int = 8) -> None:
        self.service = service
        self.sessions = sessions
        self.decoders = decoders
        self.dead_letter = dead_letter
        self.conflict_retries = conflict_retries

    def process(self, envelope: Envelope) -> Result:
        if envelope.rejected:
            # Refused by the transport (its sender was told so): never applied here, even if
            # a mapping fixed since would now take it; a replay applies it.
            return self._quarantine(envelope, envelope.message_id, envelope.sender,
                                    envelope.rejected_kind or "rejected",
                                    self._explain(envelope))
        try:
            decoded = envelope.decoded or self.decoders.decode(envelope.routing_key,
                                                               envelope.body)
        except Refused as refused:
            return self._quarantine(envelope, refused.message_key or envelope.message_id,
                                    refused.sender or envelope.sender, refused.kind,
                                    refused.reason, refused.problem)
        if isinstance(decoded, DecodedFile):
            return self._apply_file(envelope, decoded)
        return self._apply(envelope, decoded)

    def process_all(self, envelopes: list[Envelope]) -> list[Result]:
        """Several messages (a worker's prefetched deliveries, in order) in one transaction,
        each in its own savepoint: a message the register refuses is rolled back to its
        savepoint and quarantined, and the others are applied in their order, so the results
        are those of processing them one by one at a fraction of the cost (one commit, one
        WAL flush). If another process changed the same person meanwhile, nothing of the
        batch is kept and each message is processed on its own. Messages that do not decode
        are quarantined one by one (that touches no register state, so order does not
        matter)."""
        decoded: list[tuple[int, Decoded]] = []
        for i, envelope in enumerate(envelopes):
            if envelope.rejected:
                continue
            try:
                found = self.decoders.decode(envelope.routing_key, envelope.body)
            except Refused:
                continue
            if isinstance(found, Decoded) and envelope.replay_of is None:
                # A council file, or a replay (perhaps one an administrator approved), is
                # applied on its own, below.
                decoded.append((i, found))
        results: dict[int, Result] = {}
        if len(decoded) > 1:
            stored: set[str] | None = None  # the batch's messages the store holds

            def bookkeeping(uow: UnitOfWork, number: int, outcomes: list[Outcome]) -> None:
                nonlocal stored
                session = cast(SqlUnitOfWork, uow).session
                if stored is None:
                    stored = store.stored_keys(session, [d.message_key for _, d in decoded])
                i, d = decoded[number]
                held = [o for o in outcomes if o.status == "held"]
                store.record_outcome(session, envelopes[i], d.message_key, d.sender,
                                     [o.command_id for o in held],
                                     "; ".join(dict.fromkeys(o.reason for o in held)),
                                     stored=d.message_key in stored)
                stored.add(d.message_key)  # held now: a later message with its key updates
            try:
                applied = self.service.handle_each([d.commands for _, d in decoded],
                                                   alongside=bookkeeping,
                                                   judged=True)
            except ConcurrencyConflict:
                pass  # one by one below
            else:
                for (i, d), mine in zip(decoded, applied, strict=True):
                    results[i] = self._refused(envelopes[i], d, mine) \
                        if isinstance(mine, CommandRefused) else Result(summarise(mine), mine)
        return [results[i] if i in results else self.process(envelope)
                for i, envelope in enumerate(envelopes)]

    def _approved(self, envelope: Envelope) -> bool:
        if envelope.replay_of is None:
            return False
        row = store.find(self.sessions, envelope.replay_of)
        return row is not None and row.state == APPROVED

    def _explain(self, envelope: Envelope) -> str:
        """The reason in full words: headers carry only an identifier-free summary, so ask
        the decoder again (pure) for the words the sender was given."""
        assert envelope.rejected is not None
        if envelope.rejected_kind in store.TRANSPORT_KINDS:
            return envelope.rejected
        try:
            self.decoders.decode(envelope.routing_key, envelope.body)
        except Refused as refused:
            return refused.reason
        return envelope.rejected

    def _apply(self, envelope: Envelope, decoded: Decoded) -> Result:
        def bookkeeping(uow: UnitOfWork, outcomes: list[Outcome]) -> None:
            held = [o for o in outcomes if o.status == "held"]
            store.record_outcome(cast(SqlUnitOfWork, uow).session, envelope,
                                 decoded.message_key, decoded.sender,
                                 [o.command_id for o in held],
                                 "; ".join(dict.fromkeys(o.reason for o in held)))

        # A message an administrator approved from the quarantine is applied as it is; any
        # other is judged against its sender's authority (register.authority).
        judged = not self._approved(envelope)
        for attempt in range(self.conflict_retries):
            try:
                outcomes = self.service.handle_all(decoded.commands, alongside=bookkeeping,
                                                   judged=judged)
            except ConcurrencyConflict:
                # Someone changed the same person meanwhile (a hold sweep, another process
                # in embedded mode): read again and reapply.
                time.sleep(0.01 * (attempt + 1))
                continue
            except CommandRefused as refused:
                return self._refused(envelope, decoded, refused)
            return Result(summarise(outcomes), outcomes)
        raise ConcurrencyConflict(f"gave up after {self.conflict_retries} concurrent changes")

    def _refused(self, envelope: Envelope, decoded: Decoded, refused: CommandRefused) -> Result:
        cmd = decoded.commands[refused.index]
        cause = refused.cause
        label = cause.rule or cause.field or "data"
        kind = NEEDS_REVIEW if isinstance(cause, NeedsReview) else f"refused:{label}"
        return self._quarantine(
            envelope, decoded.message_key, decoded.sender, kind,
            f"the register refused {type(cmd).__name__} (command {refused.index + 1} "
            f"of {len(decoded.commands)}): {cause}", cause)

    def _apply_file(self, envelope: Envelope, decoded: DecodedFile) -> Result:
        """A council file: each person's rows in one transaction (council.apply, as
        `s117 import council` does). If any row is refused, the whole file is kept in
        quarantine with every refused row's reason; replaying it after a fix applies the
        rest, and the people already applied are duplicates."""
        reports = council.apply(self.service, decoded.batch, Agent(decoded.sender, "la"))
        refused = [r for r in reports if r.status in ("rejected", "not-applied")]
        if refused:
            reasons = "; ".join(f"row {r.row}: {r.reason}" for r in refused[:50])
            more = f" (and {len(refused) - 50} more rows)" if len(refused) > 50 else ""
            return self._quarantine(envelope, decoded.message_key, decoded.sender,
                                    "council-rows", f"{len(refused)} of {len(reports)} rows "
                                    f"not applied: {reasons}{more}", reports)
        # Each person was its own transaction, so the file is marked resolved after them
        # (a crash in between replays it: everyone is then a duplicate).
        with self.sessions() as session:
            store.record_outcome(session, envelope, decoded.message_key, decoded.sender, [],
                                 "")
            session.commit()
        accepted = sum(r.status == "accepted" for r in reports)
        return Result("applied" if accepted else "duplicate")

    def _quarantine(self, envelope: Envelope, key: str, sender: str, kind: str, reason: str,
                    problem: object | None = None) -> Result:
        row_id = store.quarantine(self.sessions, envelope, key, sender, kind, reason)
        # The reason may quote the message (an NHS number): only the label is logged.
        log.warning("quarantined inbound message %s from %s: %s", row_id, sender, kind)
        if self.dead_letter is not None:
            self.dead_letter(envelope, row_id, kind)
        return Result("quarantined", kind=kind, reason=reason, problem=problem,
                      quarantine_id=row_id)
