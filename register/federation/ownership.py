"""When the law moves the duty, the record's owning register moves with it (docs/federation.md,
"Ownership moves"; docs/decisions.md says why these two cases and no others).

- **L3, re-detention in another region**: a trust's message forwarded by another register
  (the person's record is a replica there) gives the live entitlement a new qualifying
  detention by that trust (a new entitlement, or the same one re-determined by L3). The
  duty now rests on that detention, and its trust sends to the register that forwarded the
  message, so that register owns the record from now on.
- **N6, succession into another region's ICB**: re-derived with the succession data in force,
  the live entitlement's ICB becomes a successor that another register serves.

Pure: the caller (RegisterService) applies the move in the transaction that made it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from register.events import EntitlementEvent, EventType
from register.federation.routing import RoutingTable
from register.model import Entitlement, EntitlementStatus, PersonFacts


@dataclass(frozen=True)
class Move:
    to: str  # the new owner's region
    rule: str  # L3 | N6
    detail: str  # identifier-free: it travels in the owner-changed event


@dataclass(frozen=True)
class Ownership:
    """This register's region and who serves whom: what the service needs to tell when a
    duty leaves for another register."""

    home: str
    routes: RoutingTable


def after_detention(trust: str | None, origin: str, before: set[str],
                    after: list[Entitlement], facts: PersonFacts) -> Move | None:
    """L3: `trust`'s message, forwarded by `origin`, gave the live entitlement a new
    qualifying detention by `trust` (a new entitlement, or the same one re-determined by
    L3). `before`: the qualifying stays of every entitlement before the message."""
    live = [e for e in after if e.status in (EntitlementStatus.PLANNED,
                                             EntitlementStatus.ACTIVE)]
    if trust is None or not live or not live[-1].qualifying_stays:
        return None
    key = live[-1].qualifying_stays[-1]
    stay = facts.stay(key)
    if key in before or stay is None or stay.trust_ods != trust:
        return None
    return Move(origin, "L3", f"re-detained by {trust}, a trust of register {origin}: the "
                "duty now rests on that detention (L3)")


def after_succession(ownership: Ownership, events: Iterable[EntitlementEvent],
                     entitlements: list[Entitlement]) -> Move | None:
    """N6: a responsibility change of the live entitlement whose new ICB is a successor
    (not the body the rules first chose) that another register serves."""
    by_id = {e.id: e for e in entitlements}
    live = [e for e in entitlements if e.status in (EntitlementStatus.PLANNED,
                                                    EntitlementStatus.ACTIVE)]
    for event in events:
        ent = by_id.get(event.entitlement_id)
        if event.event is not EventType.RESPONSIBILITY_CHANGED or ent is None \
                or not live or ent is not live[-1] or not event.icb \
                or event.icb == event.previous_icb:
            continue
        segment = ent.responsibility_on(event.effective)
        if segment is None or not segment.original_body or segment.icb == segment.original_body:
            continue  # not a succession: the rules chose this ICB themselves
        to = ownership.routes.region_of(event.icb)
        if to is not None and to != ownership.home:
            return Move(to, "N6", f"{event.previous_icb or 'the ICB'} was succeeded by "
                        f"{event.icb}, served by register {to} (N6)")
    return None
