"""Read side: "who is responsible for this person on this date, and why", and caseload
lists by responsible LA, responsible ICB and LA of residence (out-of-area)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from register import casework, legal_status
from register.model import (
    Entitlement,
    EntitlementStatus,
    PersonFacts,
    Responsibility,
    RuleApplied,
)
from register.nhs_number import require_valid
from register.ports import EntitlementSummary, UnitOfWork
from register.rules import reviews
from register.rules.citations import applied
from register.rules.entitlements import derive
from register.rules.local_authority import la_of_address
from register.rules.ports import LocalityPolicy, RefData


@dataclass(frozen=True)
class ResponsibilityAnswer:
    nhs_number: str
    as_of: date
    known: bool  # the register holds a record for this NHS number
    entitled: bool  # an s117 aftercare duty is in force on `as_of`
    status: str  # planned | active | ended | cancelled | not-entitled | unknown
    entitlement_id: str | None = None
    local_authority: str | None = None
    icb: str | None = None
    original_body: str | None = None
    commissioning_body: str | None = None
    paying_body: str | None = None
    paying_icb: str | None = None
    residence_la: str | None = None
    out_of_area: bool = False
    next_review_due: date | None = None
    review_overdue: bool = False
    rule_set: str | None = None
    basis: tuple[RuleApplied, ...] = ()
    needs_review: tuple[str, ...] = ()
    names: tuple[tuple[str, str], ...] = ()  # (code, name) for every body named
    flags: tuple[str, ...] = ()  # s117-flag codes in force on `as_of` (O1-O4 and the rest)
    # The entitlement's holder timeline (RULES.md N): every segment, oldest first; the one
    # covering `as_of` gave the bodies above.
    timeline: tuple[Responsibility, ...] = ()

    def name(self, code: str | None) -> str | None:
        return dict(self.names).get(code) if code else None


def _entitlement_on(entitlements: list[Entitlement], day: date) -> Entitlement | None:
    began = [e for e in entitlements if e.planned_on <= day]
    return began[-1] if began else None


def _not_entitled_basis(facts: PersonFacts) -> tuple[RuleApplied, ...]:
    stays = [s for s in facts.stays if not s.cancelled]
    if not stays:
        return (applied("E1", "no hospital stay under the Mental Health Act is recorded"),)
    codes = sorted({p.code for s in stays for p in s.legal_status})
    described = ", ".join(f"{c} ({legal_status.lookup(c).display})" for c in codes) or "none"
    return (applied("E1", f"no detention under a qualifying section is recorded (legal status "
                          f"codes seen: {described})"),)


def responsibility(uow: UnitOfWork, refdata: RefData, policy: LocalityPolicy,
                   nhs_number: str, as_of: date) -> ResponsibilityAnswer:
    nhs = require_valid(nhs_number)
    with uow:
        record = uow.people.get(nhs)
        while record is not None and record.facts.merged_into:
            record = uow.people.get(record.facts.merged_into)
    if record is None:
        return ResponsibilityAnswer(nhs, as_of, known=False, entitled=False, status="unknown")
    facts = record.facts
    entitlements = derive(facts, refdata, policy)
    residence = la_of_address(facts.address_on(as_of), refdata)
    ent = _entitlement_on(entitlements, as_of)
    if ent is None:
        return ResponsibilityAnswer(facts.nhs_number, as_of, known=True, entitled=False,
                                    status="not-entitled", residence_la=residence,
                                    basis=_not_entitled_basis(facts))
    status = ent.status_on(as_of) or EntitlementStatus.PLANNED
    resp = ent.responsibility_on(as_of)
    basis: list[RuleApplied] = list(resp.basis) if resp else []
    basis += [applied(rule, change.reason) for change in ent.status_history
              if change.on <= as_of for rule in change.rule_ids[:1]]
    la = resp.local_authority if resp else None
    out_of_area = bool(status is EntitlementStatus.ACTIVE and residence and la
                       and residence != la)
    if out_of_area:
        basis.append(applied("L2", f"lives in {refdata.name(residence) or residence} "
                                   f"({residence}): an out-of-area placement does not move "
                                   f"responsibility from {refdata.name(la) or la}"))
    due, due_rule = (reviews.next_review_due(ent, facts.reviews, policy)
                     if status is EntitlementStatus.ACTIVE else (None, None))
    if due_rule:
        basis.append(due_rule)
    codes = {c for c in (la, residence, *(
        (resp.icb, resp.original_body, resp.commissioning_body, resp.paying_body,
         resp.paying_icb) if resp else ()),
        *(c for seg in ent.responsibilities
          for c in (seg.local_authority, seg.icb, seg.original_body))) if c}
    return ResponsibilityAnswer(
        nhs_number=facts.nhs_number, as_of=as_of, known=True,
        entitled=status is EntitlementStatus.ACTIVE, status=status.value,
        entitlement_id=ent.id, local_authority=la, icb=resp.icb if resp else None,
        original_body=resp.original_body if resp else None,
        commissioning_body=resp.commissioning_body if resp else None,
        paying_body=resp.paying_body if resp else None,
        paying_icb=resp.paying_icb if resp else None,
        residence_la=residence, out_of_area=out_of_area, next_review_due=due,
        review_overdue=reviews.overdue(due, as_of), rule_set=resp.rule_set if resp else None,
        basis=tuple(basis), needs_review=tuple(ent.needs_review),
        names=tuple(sorted((c, n) for c in codes if (n := refdata.name(c)))),
        flags=tuple(sorted({a.code.value for a in casework.derive(facts, entitlements,
                                                                   policy).alerts
                            if a.entitlement_id == ent.id and a.active_on(as_of)})),
        timeline=tuple(ent.responsibilities))


def caseload(uow: UnitOfWork, *, local_authority: str | None = None, icb: str | None = None,
             residence_la: str | None = None, out_of_area: bool = False,
             status: str | None = None, limit: int = 1000) -> list[EntitlementSummary]:
    """Entitlements by responsible LA, responsible ICB or LA of residence, as last stored."""
    with uow:
        return uow.people.search(local_authority=local_authority, icb=icb,
                                 residence_la=residence_la, out_of_area=out_of_area,
                                 status=status, limit=limit)


def overdue_reviews(uow: UnitOfWork, on: date, *, local_authority: str | None = None,
                    icb: str | None = None, limit: int = 100_000) -> list[EntitlementSummary]:
    """R3: active entitlements whose review was due before `on` and has not been held, as
    last stored; what a scheduler publishes as `review-overdue` events each day."""
    with uow:
        return uow.people.search(local_authority=local_authority, icb=icb, status="active",
                                 review_due_before=reviews.overdue_before(on), limit=limit)
