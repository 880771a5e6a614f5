"""What a trust's message may change, and for whom (issue 20; docs/security.md "Authority of a
trust's message"), the way an integration engine's routing rules would decide it. Pure: the
service asks it with the person's facts before and after the command, and the responsible
bodies each implies.

- A trust may admit anyone, and record the legal status, leave, CTO and discharge of its
  own stays (a stay is keyed by the trust, so it cannot touch another trust's).
- A demographic update (A08/A28/A31, a FHIR message's Patient) is the sending trust's dated
  assertion, with its Provenance. From a trust with no open or recent stay for the person,
  one that would change their date of birth, the council they live in, or who is
  responsible for them is not applied: it is held for an administrator's review.
- A merge (A40, a FHIR `merge`) applies only when the sending trust has sent both
  identities (a stay on each record, or a record the register has never heard of);
  otherwise it is held for review.

A message that is held goes to the quarantine as `needs-review` with the reason; an
administrator applies it (`s117 quarantine apply`, the quarantine page) or rejects it.
Commands from councils, ICBs and administrators, and a message an administrator approved,
are not judged here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from register import commands as c
from register.errors import RegisterError
from register.model import PersonFacts

# How long after a discharge the trust still speaks for the person's demographics: the
# weeks in which its discharge summary, s117 meeting and corrections follow.
RECENT = timedelta(days=90)


class NeedsReview(RegisterError):
    """The message is not the sender's to apply on its own: held for an administrator."""


@dataclass(frozen=True)
class Responsibility:
    """What a demographic change could move: where the person lives (which council sees
    them) and the responsible bodies of each of their entitlements."""

    residence_la: str | None
    bodies: frozenset[tuple[str | None, str | None, str | None]]


def from_trust(cmd: c.Command) -> str | None:
    """The sending trust of a message's command, or None for anyone else."""
    return cmd.agent.org if cmd.agent is not None and cmd.agent.kind == "trust" else None


def has_standing(facts: PersonFacts, trust: str, on: date) -> bool:
    """A stay at this trust open on `on` (the update's own date, so a trust's history sent
    late or out of order is judged as of when it happened), or one that ended within
    RECENT before it."""
    return any(s.trust_ods == trust and not s.cancelled and (
        s.discharged_at is None or s.discharged_at.date() >= on - RECENT)
        for s in facts.stays)


def sent_by(facts: PersonFacts, trust: str) -> bool:
    return any(s.trust_ods == trust for s in facts.stays)


def known(facts: PersonFacts) -> bool:
    """Whether the register holds a detention for this person (without one, nobody is
    responsible for them and nobody sees them: there is nothing to move)."""
    return bool(facts.stays)


def judge_update(cmd: c.UpdatePerson, before: PersonFacts, after: PersonFacts,
                 was: Responsibility, now: Responsibility, today: date) -> None:
    """Raise NeedsReview if a trust without standing would move this person."""
    trust = from_trust(cmd)
    on = cmd.occurred_at.date() if cmd.occurred_at else today
    if trust is None or not known(before) or has_standing(before, trust, on):
        return
    changes = []
    if before.date_of_birth and after.date_of_birth != before.date_of_birth:
        changes.append("their date of birth")
    if now.residence_la != was.residence_la:
        changes.append(f"the council they live in ({was.residence_la or 'none'} to "
                       f"{now.residence_la or 'none'})")
    if now.bodies != was.bodies:
        changes.append("who is responsible for their aftercare")
    if changes:
        raise NeedsReview(
            f"{trust} has no open or recent stay for this person, and this update would "
            f"change {' and '.join(changes)}: held for an administrator to apply or reject",
            field="PID", rule="authority")


def judge_merge(cmd: c.MergePatient, survivor: PersonFacts, retired: PersonFacts) -> None:
    """Raise NeedsReview unless the sending trust has sent both identities."""
    trust = from_trust(cmd)
    if trust is None:
        return
    strangers = [which for which, facts in (("surviving", survivor), ("retired", retired))
                 if known(facts) and not sent_by(facts, trust)]
    if strangers:
        raise NeedsReview(
            f"{trust} has sent no stay for the {' or the '.join(strangers)} record, so it "
            "may not merge them on its own: held for an administrator to apply or reject",
            field="MRG-1", rule="authority")
