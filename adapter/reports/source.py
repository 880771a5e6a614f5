"""The people a reader may see, as reports read them: the entitlement search filtered by
register.access (register/store/visibility.py), as the FHIR API's searches are, and each
person's casework from the casework read model."""

from __future__ import annotations

from adapter.bootstrap import Register
from register.access import Viewer
from register.reports import Case
from register.store.replicas import replica_owners
from register.store.views import EntitlementFilter, RegisterViews


def visible_entitlements(register: Register, viewer: Viewer,
                         where: EntitlementFilter | None = None) -> dict[int, set[str]]:
    """Entitlement ids by person id, of those `viewer` sees (and `where` selects)."""
    where = where or EntitlementFilter()
    _, found = RegisterViews(register.sessions).search_entitlements(
        EntitlementFilter(**{**vars(where), "visible_to": viewer}), count=None)
    wanted: dict[int, set[str]] = {}
    for stored in found:
        wanted.setdefault(stored.person_id, set()).add(stored.entitlement.id)
    return wanted


def cases(register: Register, viewer: Viewer,
          where: EntitlementFilter | None = None) -> list[Case]:
    views = register.casework()
    visible = visible_entitlements(register, viewer, where)
    with register.sessions() as session:
        owners = replica_owners(session, list(visible))
    out = []
    for person_id, ids in visible.items():
        work = views.person_casework(person_id)
        if work is not None:
            out.append(Case(work.person.facts, tuple(e for e in work.entitlements
                                                     if e.entitlement.id in ids),
                            work.casework, owners.get(person_id)))
    return out
