"""Compare the entitlements as stored with the entitlements as now derived, and name
each change as an event (DESIGN.md event set). Pure."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from register.casework import TIME_DRIVEN
from register.events import EntitlementEvent, EventType
from register.model import (
    Entitlement,
    EntitlementStatus,
    FlagPeriod,
    Responsibility,
    StatusChange,
)

_TIME_DRIVEN = frozenset(code.value for code in TIME_DRIVEN)
_LIVE = (EntitlementStatus.PLANNED, EntitlementStatus.ACTIVE)


def _bodies(r: Responsibility | None) -> tuple[str | None, ...]:
    if r is None:
        return (None,) * 5
    return (r.local_authority, r.icb, r.commissioning_body, r.paying_body, r.paying_icb)


def _holders(ent: Entitlement) -> tuple[tuple[object, ...], ...]:
    """The holder timeline as who held what from when (the end of the last segment is the
    entitlement's end, announced by its own event)."""
    return tuple((r.effective_from, *_bodies(r)) for r in ent.responsibilities)


def _first_change(old: Entitlement, new: Entitlement) -> date | None:
    """The first date from which the holders differ, or None if they do not."""
    before, after = _holders(old), _holders(new)
    if before == after:
        return None
    for a, b in zip(before, after, strict=False):
        if a != b:
            return min(a[0], b[0])  # type: ignore[type-var,return-value]
    longer = before if len(before) > len(after) else after
    return longer[min(len(before), len(after))][0]  # type: ignore[return-value]


def _status_event(old: EntitlementStatus | None, new: EntitlementStatus) -> EventType | None:
    if old == new:
        return None
    if new is EntitlementStatus.ACTIVE:
        return EventType.REINSTATED if old is EntitlementStatus.ENDED else EventType.STARTED
    if new is EntitlementStatus.ENDED:
        return EventType.ENDED
    return EventType.UPDATED  # back to planned on re-detention, or cancelled


def event(kind: EventType, ent: Entitlement, residence: str | None, on: date, detail: str,
          command_id: str, previous: Responsibility | None = None,
          flag: str | None = None) -> EntitlementEvent:
    """An event about one entitlement, naming the bodies responsible for it now."""
    cur = ent.current
    return EntitlementEvent(kind, ent.id, ent.status.value,
                            cur.local_authority if cur else None, cur.icb if cur else None,
                            residence, on, detail, command_id,
                            paying_icb=cur.paying_icb if cur else None,
                            previous_local_authority=previous.local_authority
                            if previous else None,
                            previous_icb=previous.icb if previous else None,
                            flag=flag)


def _flag_changes(old: Entitlement | None, new: Entitlement,
                  today: date) -> list[tuple[EventType, FlagPeriod]]:
    """Ombudsman flags raised or cleared by this change of facts, as of today. O2 and O3
    are raised by a window closing, which the scheduler announces
    (queues/outbound/scheduler.py), so only their clearing is announced here."""
    was = {f.key: f for f in (old.flags if old else []) if f.active_on(today)}
    now = {f.key: f for f in new.flags if f.active_on(today)}
    gone = {f.key: f for f in new.flags if f.key in was and not f.active_on(today)}
    # The scheduler announces O2 and O3 (the first-review window closing), once each.
    return [*((EventType.FLAG_RAISED, f) for k, f in now.items()
              if k not in was and f.code not in _TIME_DRIVEN),
            *((EventType.FLAG_CLEARED, gone.get(k, f)) for k, f in was.items() if k not in now)]


def diff(stored: list[Entitlement], derived: list[Entitlement], *, old_residence: str | None,
         residence: str | None, command_id: str,
         today: date) -> tuple[list[Entitlement], list[EntitlementEvent]]:
    """The entitlements to store and the events announcing what changed."""
    events: list[EntitlementEvent] = []
    before = {e.id: e for e in stored}
    result = list(derived)

    def emit(kind: EventType, ent: Entitlement, on: date, detail: str,
             previous: Responsibility | None = None, flag: str | None = None) -> None:
        events.append(event(kind, ent, residence, on, detail, command_id, previous, flag))

    for ent in derived:
        old = before.get(ent.id)
        emitted = len(events)
        if old is None:
            emit(EventType.PLANNED, ent, ent.planned_on, "new s117 entitlement (planning)")
            if ent.status is not EntitlementStatus.PLANNED:
                kind = _status_event(EntitlementStatus.PLANNED, ent.status)
                assert kind
                emit(kind, ent, ent.status_history[-1].on, ent.status_history[-1].reason)
        else:
            kind = _status_event(old.status, ent.status)
            if kind:
                emit(kind, ent, ent.status_history[-1].on, ent.status_history[-1].reason)
            changed_from = _first_change(old, ent)
            if changed_from is not None:
                emit(EventType.RESPONSIBILITY_CHANGED, ent, changed_from,
                     f"holder timeline changed from {changed_from}", previous=old.current)
        new_reviews = set(ent.needs_review) - set(old.needs_review if old else ())
        if new_reviews:
            emit(EventType.NEEDS_REVIEW, ent, today, "; ".join(sorted(new_reviews)))
        cur = ent.current
        if (ent.status is EntitlementStatus.ACTIVE and cur and residence
                and residence != old_residence and residence != cur.local_authority):
            emit(EventType.PLACEMENT_OUT_OF_AREA, ent, today,
                 f"now lives in {residence}; responsibility stays with {cur.local_authority}")
        for kind, flag in _flag_changes(old, ent, today):
            emit(kind, ent, flag.until if kind is EventType.FLAG_CLEARED and flag.until
                 else flag.since, f"{flag.rule_id} {flag.code}: {flag.reason}", flag=flag.code)
        if len(events) == emitted and old is not None and old != ent:
            emit(EventType.UPDATED, ent, today, "entitlement details changed")
    for old in stored:
        if old.id in {e.id for e in derived} or old.status is EntitlementStatus.CANCELLED:
            continue
        # The detention it rested on was cancelled: keep the record, mark it cancelled.
        gone = replace(old, status=EntitlementStatus.CANCELLED, status_history=[
            *old.status_history,
            StatusChange(EntitlementStatus.CANCELLED, today,
                         "the admission or detention it rested on was cancelled")])
        result.append(gone)
        emit(EventType.UPDATED, gone, today, "cancelled: the qualifying admission was cancelled")
    return result, events
