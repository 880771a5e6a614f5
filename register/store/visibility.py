"""`register.access` as SQL: the clauses that keep a search to what one organisation may see,
so that totals, pages and `_include`s are counted after the filter and never leak.

These must agree with `register.access.sees` and `sees_person`; a property test holds them to
it (tests/integration/test_visibility.py). They use only indexed columns for councils and
ICBs (responsible and resident LA, responsible and paying ICB)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, or_, select

from register.access import OrgType, Viewer
from register.store.orm import EntitlementRow, PersonRow


def _sent_by(org: str) -> ColumnElement[bool]:
    return PersonRow.trusts.contains(f",{org},", autoescape=True)


def entitlements(viewer: Viewer | None) -> ColumnElement[bool] | None:
    """A WHERE clause on `entitlement` rows; None when nothing is hidden."""
    if viewer is None or viewer.kind is OrgType.ADMIN:
        return None
    e = EntitlementRow
    if viewer.kind is OrgType.LA:
        return or_(e.responsible_la == viewer.org, e.residence_la == viewer.org)
    if viewer.kind is OrgType.ICB:
        return or_(e.responsible_icb == viewer.org, e.paying_icb == viewer.org)
    return e.person_id.in_(select(PersonRow.id).where(_sent_by(viewer.org)))


def entitlement_ids(viewer: Viewer | None) -> Select[tuple[str]] | None:
    """The ids of the entitlements this organisation sees, for tables keyed by entitlement
    (the casework index); None when nothing is hidden."""
    clause = entitlements(viewer)
    return None if clause is None else select(EntitlementRow.id).where(clause)


def casework_entitlement_ids(viewer: Viewer | None) -> Select[tuple[str]] | None:
    """The entitlements whose casework (plans, tasks, alerts) this organisation sees: a
    trust sees none (register.access.sees_casework)."""
    if viewer is not None and viewer.kind is OrgType.TRUST:
        return select(EntitlementRow.id).where(EntitlementRow.id.is_(None))
    return entitlement_ids(viewer)


def people(viewer: Viewer | None) -> ColumnElement[bool] | None:
    """A WHERE clause on `person` rows; None when nothing is hidden."""
    if viewer is None or viewer.kind is OrgType.ADMIN:
        return None
    if viewer.kind is OrgType.TRUST:
        return _sent_by(viewer.org)
    clause = entitlements(viewer)
    assert clause is not None
    return PersonRow.id.in_(select(EntitlementRow.person_id).where(clause))
