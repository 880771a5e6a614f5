"""Who may see and change what on the register (DESIGN.md "Security"), as pure rules over the
register's own facts. The HTTP edge (adapter/http/policy.py), the stores' search filters
(register/store/visibility.py) and the subscription fan-out all ask these functions, so one
organisation's view of the register is decided in one place.

- an LA sees the entitlements it is responsible for and those of people living in its area
  (out-of-area placements into it); it writes casework for those it is responsible for;
- an ICB sees, writes casework for and hears about the entitlements it is responsible for,
  including as the paying ICB under rule N4;
- a trust sees the people it has sent stays for, the stays it sent and who is responsible
  (their entitlements), never another trust's stays or the casework; it writes only
  detention data, and only as itself (what its messages may change: register.authority);
- an admin sees everything.

Responsibility is judged by the current determination: a council that was responsible
before a change of responsibility hears the change (the event names it) and then no longer
sees the record, as with a transfer of a paper file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from register.events import EntitlementEvent
from register.model import PersonFacts
from register.ports import StoredEntitlement
from register.subscriptions import (
    RESIDENCE_LA,
    RESPONSIBLE_ICB,
    RESPONSIBLE_LA,
    Criteria,
    event_values,
)


class OrgType(StrEnum):
    TRUST = "trust"
    LA = "la"
    ICB = "icb"
    ADMIN = "admin"


@dataclass(frozen=True)
class Viewer:
    """An organisation acting on the register: its ODS (trust, ICB) or GSS (LA) code."""

    org: str
    kind: OrgType

    @property
    def is_admin(self) -> bool:
        return self.kind is OrgType.ADMIN


# Processes that act for the register itself (the demo, migrations, a register without
# authentication) see everything.
EVERYONE = Viewer("s117-register", OrgType.ADMIN)


@dataclass(frozen=True)
class Bodies:
    """What visibility is judged on for one entitlement: its current responsible bodies,
    where the person lives now, and the trusts that sent the person's stays."""

    local_authority: str | None
    icb: str | None
    paying_icb: str | None
    residence_la: str | None
    trusts: frozenset[str] = frozenset()


def trusts_of(facts: PersonFacts) -> frozenset[str]:
    return frozenset(s.trust_ods for s in facts.stays)


def bodies_of(stored: StoredEntitlement, trusts: frozenset[str] = frozenset()) -> Bodies:
    current = stored.entitlement.current
    return Bodies(current.local_authority if current else None,
                  current.icb if current else None, current.paying_icb if current else None,
                  stored.residence_la, trusts)


def sees(viewer: Viewer, bodies: Bodies) -> bool:
    """May this organisation read this entitlement (and what hangs off it)?"""
    if viewer.kind is OrgType.ADMIN:
        return True
    if viewer.kind is OrgType.LA:
        return viewer.org in (bodies.local_authority, bodies.residence_la)
    if viewer.kind is OrgType.ICB:
        return viewer.org in (bodies.icb, bodies.paying_icb)
    return viewer.org in bodies.trusts


def sees_stay(viewer: Viewer, trust_ods: str) -> bool:
    """A trust sees the stays it sent, never another trust's (an admission, even a
    fabricated one, gives it sight of that stay only: issue 20); everyone else sees every
    stay of a person they see (what made them entitled)."""
    return viewer.kind is not OrgType.TRUST or viewer.org == trust_ods


def sees_casework(viewer: Viewer, bodies: Bodies) -> bool:
    """Plans, reviews, panel decisions, tasks and alerts are the responsible bodies'
    casework: a trust sees who is responsible (the entitlement), not the casework."""
    return viewer.kind is not OrgType.TRUST and sees(viewer, bodies)


def sees_person(viewer: Viewer, entitlements: Iterable[Bodies], trusts: Iterable[str]) -> bool:
    """A person is visible to an organisation that sees any of their entitlements, or (a
    trust) that sent any of their stays."""
    if viewer.kind is OrgType.ADMIN:
        return True
    if viewer.kind is OrgType.TRUST:
        return viewer.org in set(trusts)
    return any(sees(viewer, b) for b in entitlements)


def writes_casework(viewer: Viewer, bodies: Bodies, *, council_only: bool = False) -> bool:
    """Aftercare plans, reviews, panel decisions and the joint end decision: the duty is
    joint (s117(2)), so either responsible body records them. Ordinary-residence decisions
    (`council_only`) are the responsible council's. A council where the person only lives
    records none of them but a dispute (`writes_dispute`)."""
    if viewer.kind is OrgType.ADMIN:
        return True
    if viewer.kind is OrgType.LA:
        return viewer.org == bodies.local_authority
    if viewer.kind is OrgType.ICB and not council_only:
        return viewer.org in (bodies.icb, bodies.paying_icb)
    return False


def writes_dispute(viewer: Viewer, bodies: Bodies) -> bool:
    """L5: an ordinary-residence dispute is between councils. Besides the responsible council
    (which says another is responsible), the council where the person lives (which says it
    is not, or that it is) is a party and opens, refers or resolves it too. An ICB is no
    party; a council with neither connection does not see the person at all."""
    if writes_casework(viewer, bodies, council_only=True):
        return True
    return viewer.kind is OrgType.LA and viewer.org == bodies.residence_la


def sends_for(viewer: Viewer, sender: str) -> bool:
    """May this organisation send detention messages as `sender` (MSH-4, MessageHeader
    .sender)? A trust only as itself."""
    return viewer.kind is OrgType.ADMIN or (viewer.kind is OrgType.TRUST
                                            and viewer.org == sender)


# The subscription filters that describe what each kind of organisation sees.
_HEARS: dict[OrgType, tuple[str, ...]] = {
    OrgType.LA: (RESPONSIBLE_LA, RESIDENCE_LA), OrgType.ICB: (RESPONSIBLE_ICB,)}


def hears(viewer: Viewer, event: EntitlementEvent) -> bool:
    """May a subscription this organisation owns carry this event? The same bodies as
    `sees`, as the event names them, including the bodies responsibility moved away from
    (they hear that it is no longer theirs). A Subscription's own filters can only narrow
    this, never widen it."""
    if viewer.kind is OrgType.ADMIN:
        return True
    return any(viewer.org in event_values(name, event) for name in _HEARS.get(viewer.kind, ()))


def could_hear(viewer: Viewer, criteria: Criteria) -> bool:
    """Could a subscription with these filters, owned by this organisation, ever carry an
    event? One whose filters all name other bodies would hear nothing, ever: refuse it
    rather than accept a silent subscription."""
    if viewer.kind is OrgType.ADMIN:
        return True
    own = _HEARS.get(viewer.kind, ())
    filters = dict(criteria.filters)
    return bool(own) and not all(name in filters and viewer.org not in filters[name]
                                 for name in own)
