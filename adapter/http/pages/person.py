"""What the person page shows: for each entitlement the caller may see, its timeline
(status changes with their rules), the detentions it rests on with their legal status
periods, who is responsible and why (each rule with its reason and citation), the aftercare
plan and its funding lines, reviews, flags and what needs review."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from adapter.bootstrap import Register
from register import access, legal_status, queries
from register.access import OrgType, Viewer
from register.casework import Alert, PlanState
from register.model import Entitlement, Review, RuleApplied, Stay
from register.ports import StoredEntitlement
from register.queries import ResponsibilityAnswer
from register.rules.citations import CITATIONS
from register.store.casework_views import PersonCasework


@dataclass(frozen=True)
class Detention:
    stay: Stay
    qualifying: bool
    periods: tuple[tuple[str, str, date, date | None], ...]  # code, meaning, start, end


@dataclass(frozen=True)
class EntitlementView:
    stored: StoredEntitlement
    timeline: tuple[tuple[date, str, str, str], ...]  # day, status, reason, rules
    detentions: tuple[Detention, ...]
    plans: tuple[PlanState, ...]
    reviews: tuple[Review, ...]
    flags: tuple[Alert, ...]

    @property
    def entitlement(self) -> Entitlement:
        return self.stored.entitlement


@dataclass(frozen=True)
class PersonView:
    person_id: int
    work: PersonCasework
    answer: ResponsibilityAnswer | None  # None: its entitlement is not one the caller sees
    entitlements: tuple[EntitlementView, ...]


def citation(rule: RuleApplied) -> str:
    return rule.citation or CITATIONS.get(rule.rule_id, "")


def _detentions(work: PersonCasework, ent: Entitlement, viewer: Viewer
                ) -> tuple[Detention, ...]:
    out = []
    for stay in work.person.facts.stays:
        if stay.cancelled or not access.sees_stay(viewer, stay.trust_ods):
            continue
        periods = tuple((p.code, legal_status.lookup(p.code).display, p.start.date(),
                         p.end.date() if p.end else None) for p in stay.legal_status)
        out.append(Detention(stay, stay.key in ent.qualifying_stays, periods))
    return tuple(out)


def _view(work: PersonCasework, stored: StoredEntitlement, on: date, viewer: Viewer
          ) -> EntitlementView:
    ent = stored.entitlement
    timeline = tuple((c.on, c.status.value, c.reason, ", ".join(c.rule_ids))
                     for c in ent.status_history)
    # A trust sees who is responsible, not the casework (register.access.sees_casework).
    casework = viewer.kind is not OrgType.TRUST
    return EntitlementView(
        stored, timeline, _detentions(work, ent, viewer),
        tuple(p for p in work.casework.plans if casework and p.plan.entitlement_id == ent.id),
        tuple(sorted((r for r in work.person.facts.reviews
                      if casework and r.entitlement_id == ent.id),
                     key=lambda r: r.on, reverse=True)),
        tuple(a for a in work.casework.alerts if casework and a.entitlement_id == ent.id
              and a.active_on(on)))


def person_view(register: Register, viewer: Viewer, person_id: int,
                on: date) -> PersonView | None:
    """None when there is no such person or the caller may not see them: the same answer,
    so the page does not reveal whether someone was detained."""
    work = register.casework().person_casework(person_id)
    if work is None or work.person.facts.merged_into:
        return None
    trusts = access.trusts_of(work.person.facts)
    seen = [e for e in work.entitlements if access.sees(viewer, access.bodies_of(e, trusts))]
    if not access.sees_person(viewer, [access.bodies_of(e) for e in work.entitlements],
                              trusts):
        return None
    answer = queries.responsibility(register.uow(), register.refdata,
                                    register.settings.policy, work.person.facts.nhs_number,
                                    on)
    visible_ids = {e.entitlement.id for e in seen}
    return PersonView(person_id, work,
                      answer if answer.entitlement_id in visible_ids else None,
                      tuple(_view(work, e, on, viewer) for e in reversed(seen)))
