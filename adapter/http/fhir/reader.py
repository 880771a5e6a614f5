"""FHIR resources from the register's read models: read, vread and history by type.

Patient = a person; Encounter = one of their stays; EpisodeOfCare = an entitlement;
Coverage = the council's or ICB's funding responsibility for an entitlement; Organization =
reference data. Ids are opaque: no NHS number or trust visit number ever appears in a URL.

Resources leave as the JSON the mappings build (`to_json`), not through the pydantic models:
serialising a model costs ten times the rest of a read. The property tests prove the JSON is
what the model would give (tests/unit/test_fhir_mappings.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from adapter.http import policy
from adapter.http.fhir.errors import not_found
from mappings.fhir import (
    audit_event,
    care_plan,
    detention,
    entitlement,
    flag,
    funding,
    organisation,
    patient,
    provenance,
)
from mappings.fhir import task as tasks
from mappings.fhir.common import LONDON, local_id
from register import access
from register.access import Bodies, OrgType
from register.model import Stay
from register.ports import StoredEntitlement, StoredPerson
from register.refdata.sql import SqlRefData
from register.store.audit import AuditLog
from register.store.casework_views import CaseworkViews, PersonCasework
from register.store.provenance import ProvenanceViews
from register.store.views import RegisterViews

Resource = dict[str, Any]


def today() -> date:
    """Flags and due dates are judged by the day in England."""
    return datetime.now(LONDON).date()


class FhirReader:
    def __init__(self, views: RegisterViews, refdata: SqlRefData,
                 casework: CaseworkViews, provenance: ProvenanceViews,
                 audit: AuditLog) -> None:
        self.views = views
        self.refdata = refdata
        self.casework = casework
        self.provenance = provenance
        self.audit = audit
        self.name_of: Callable[[str], str | None] = refdata.name

    # -- read ------------------------------------------------------------------------

    def read(self, resource_type: str, resource_id: str) -> Resource:
        handler = {"Patient": self._patient, "Encounter": self._encounter,
                   "EpisodeOfCare": self._episode, "Coverage": self._coverage,
                   "Organization": self._organisation, "CarePlan": self._care_plan,
                   "Task": self._task, "Flag": self._flag, "Provenance": self._provenance,
                   "AuditEvent": self._audit_event}.get(resource_type)
        found = handler(resource_id) if handler else None
        if found is None:
            raise not_found(f"{resource_type}/{resource_id}")
        return found

    def person_of(self, resource_type: str, resource_id: str) -> int | None:
        """The register's id of the person a resource belongs to (for the audit trail),
        whether or not the caller may see it; None if there is no such resource."""
        if resource_type == "Patient":
            return local_id(resource_id)
        if resource_type == "Encounter":
            return detention.person_of(resource_id)
        if resource_type in ("Task", "Flag"):
            parts = tasks.split_id(resource_id)
            return parts[0] if parts else None
        if resource_type == "Provenance":
            number = local_id(resource_id)
            found = self.provenance.get(number) if number is not None else None
            return found.person_id if found else None
        entitlement_id = None
        if resource_type == "EpisodeOfCare":
            entitlement_id = resource_id
        elif resource_type == "Coverage":
            parts = funding.split_id(resource_id)
            entitlement_id = parts[0] if parts else None
        elif resource_type == "CarePlan":
            plan = self.casework.plan(resource_id)
            entitlement_id = plan.state.plan.entitlement_id if plan else None
        stored = self.views.entitlement(entitlement_id) if entitlement_id else None
        return stored.person_id if stored else None

    # -- who may see it (register.access, for the organisation of the current request) --

    def bodies(self, stored: StoredEntitlement, person: StoredPerson | None = None) -> Bodies:
        """What `register.access` judges an entitlement by; the person's trusts are read
        only when a trust is asking."""
        trusts: frozenset[str] = frozenset()
        if policy.viewer().kind is OrgType.TRUST:
            person = person or self.views.person(stored.person_id)
            trusts = access.trusts_of(person.facts) if person else frozenset()
        return access.bodies_of(stored, trusts)

    def sees_entitlement(self, stored: StoredEntitlement) -> bool:
        return policy.may_see(self.bodies(stored))

    @staticmethod
    def sees_stay(stay: Stay) -> bool:
        return access.sees_stay(policy.viewer(), stay.trust_ods)

    def sees_casework(self, stored: StoredEntitlement, person: StoredPerson | None = None
                      ) -> bool:
        return access.sees_casework(policy.viewer(), self.bodies(stored, person))

    def sees_person(self, person: StoredPerson,
                    entitlements: list[StoredEntitlement] | None = None) -> bool:
        if policy.viewer().kind in (OrgType.ADMIN, OrgType.TRUST):
            return policy.may_see_person((), access.trusts_of(person.facts))
        ents = self.views.entitlements_of(person.id) if entitlements is None else entitlements
        return policy.may_see_person([access.bodies_of(e) for e in ents], ())

    @staticmethod
    def _visible(found: Resource | None, allowed: bool, what: str) -> Resource | None:
        if found is not None and not allowed:
            who = policy.viewer()
            raise policy.forbidden(f"{what} is not one {who.org} may see: a {who.kind.value} "
                                   "sees only the people and entitlements it is responsible "
                                   "for, lives in its area, or (a trust) has sent")
        return found

    # -- each resource type ------------------------------------------------------------------

    def _person(self, person_id: str) -> StoredPerson | None:
        number = local_id(person_id)
        return self.views.person(number) if number is not None else None

    def _patient(self, resource_id: str) -> Resource | None:
        person = self._person(resource_id)
        if person is None:
            return None
        return self._visible(patient.to_json(person, self.name_of), self.sees_person(person),
                             f"Patient/{resource_id}")

    def _encounter(self, resource_id: str) -> Resource | None:
        person_id = detention.person_of(resource_id)
        person = self.views.person(person_id) if person_id is not None else None
        stay = detention.find_stay(person, resource_id) if person else None
        if person is None or stay is None:
            return None
        ents = self.views.entitlements_of(person.id)
        return self._visible(detention.to_json(person, stay, ents, self.name_of),
                             self.sees_person(person, ents) and self.sees_stay(stay),
                             f"Encounter/{resource_id}")

    def _episode(self, resource_id: str) -> Resource | None:
        stored = self.views.entitlement(resource_id)
        if stored is None:
            return None
        return self._visible(entitlement.to_json(stored, self.name_of),
                             self.sees_entitlement(stored), f"EpisodeOfCare/{resource_id}")

    def _coverage(self, resource_id: str) -> Resource | None:
        parts = funding.split_id(resource_id)
        stored = self.views.entitlement(parts[0]) if parts else None
        if stored is None or parts is None:
            return None
        return self._visible(funding.to_json(stored, parts[1], self.name_of),
                             self.sees_entitlement(stored), f"Coverage/{resource_id}")

    def _organisation(self, resource_id: str) -> Resource | None:
        org = self.refdata.orgs.get(resource_id)
        return organisation.to_json(org) if org else None

    def _care_plan(self, resource_id: str) -> Resource | None:
        stored = self.casework.plan(resource_id)
        if stored is None:
            return None
        ent = self.views.entitlement(stored.state.plan.entitlement_id)
        return self._visible(care_plan.to_json(stored, self.name_of),
                             ent is not None and self.sees_casework(ent),
                             f"CarePlan/{resource_id}")

    def _provenance(self, resource_id: str) -> Resource | None:
        number = local_id(resource_id)
        found = self.provenance.get(number) if number is not None else None
        if found is None or not found.targets:  # a command that wrote nothing is no write
            return None
        person = self.views.person(found.person_id) if found.person_id else None
        return self._visible(provenance.to_json(found, self.name_of),
                             person is not None and self.sees_person(person) or
                             policy.viewer().is_admin, f"Provenance/{resource_id}")

    def _audit_event(self, resource_id: str) -> Resource | None:
        """Admins only (adapter.http.policy): the audit trail is about everyone."""
        number = local_id(resource_id)
        found = self.audit.get(number) if number is not None else None
        return audit_event.to_json(found, self.name_of) if found else None

    def person_casework(self, person_id: int) -> PersonCasework | None:
        return self.casework.person_casework(person_id)

    def task_json(self, work: PersonCasework, key: str) -> Resource | None:
        found = work.casework.task(key)
        return tasks.to_json(work.person.id, work.person.updated_at, found, self.name_of,
                             today(), work.person.version) if found else None

    def flag_json(self, work: PersonCasework, key: str) -> Resource | None:
        found = next((a for a in work.casework.alerts if a.key == key), None)
        # An alert that has not begun yet (a review not yet overdue) is not a flag.
        if found is None or found.since > today():
            return None
        return flag.to_json(work.person.id, work.person.updated_at, found, self.name_of,
                            today())

    def _derived(self, resource_id: str, render: Callable[[PersonCasework, str],
                                                           Resource | None]) -> Resource | None:
        """A Task or Flag by id: 403 if the caller does not see the entitlement it is
        about."""
        found, visible = self._find_derived(resource_id, render)
        return self._visible(found, visible, resource_id)

    def find_derived(self, resource_id: str, render: Callable[[PersonCasework, str],
                                                              Resource | None]
                     ) -> Resource | None:
        """The same for a search by `_id`: what the caller does not see is simply absent."""
        found, visible = self._find_derived(resource_id, render)
        return found if visible else None

    def _find_derived(self, resource_id: str, render: Callable[[PersonCasework, str],
                                                               Resource | None]
                      ) -> tuple[Resource | None, bool]:
        parts = tasks.split_id(resource_id)
        work = self.person_casework(parts[0]) if parts else None
        found = render(work, parts[1]) if work and parts else None
        if found is None or work is None or parts is None:
            return None, False
        task = work.casework.task(parts[1])
        alert = next((a for a in work.casework.alerts if a.key == parts[1]), None)
        about = task.entitlement_id if task else alert.entitlement_id if alert else None
        ent = next((e for e in work.entitlements if e.entitlement.id == about), None)
        return found, ent is not None and self.sees_casework(ent, work.person)

    def _task(self, resource_id: str) -> Resource | None:
        return self._derived(resource_id, self.task_json)

    def _flag(self, resource_id: str) -> Resource | None:
        return self._derived(resource_id, self.flag_json)

    # -- versions --------------------------------------------------------------------

    def vread(self, resource_type: str, resource_id: str, version: str) -> Resource:
        found = None
        if local_id(version) is not None:
            found = next((r for r in self.history(resource_type, resource_id)
                          if r.get("meta", {}).get("versionId") == version), None)
        if found is None:
            raise not_found(f"{resource_type}/{resource_id}/_history/{version}")
        return found

    def history(self, resource_type: str, resource_id: str) -> list[Resource]:
        """Every stored version, newest first."""
        self.read(resource_type, resource_id)  # 404 for an unknown resource
        if resource_type == "Patient":
            return [patient.to_json(p, self.name_of)
                    for p in self.views.person_history(int(resource_id))]
        if resource_type == "EpisodeOfCare":
            return [entitlement.to_json(e, self.name_of)
                    for e in self.views.entitlement_history(resource_id)]
        if resource_type == "CarePlan":
            return [care_plan.to_json(p, self.name_of)
                    for p in self.casework.plan_history(resource_id)]
        if resource_type == "Coverage":
            entitlement_id, role = funding.split_id(resource_id)  # type: ignore[misc]
            versions = [funding.to_json(e, role, self.name_of)
                        for e in self.views.entitlement_history(entitlement_id)]
            return [v for v in versions if v is not None]
        if resource_type == "Encounter":
            person_id = detention.person_of(resource_id)
            out: list[Resource] = []
            for person in self.views.person_history(person_id):  # type: ignore[arg-type]
                stay = detention.find_stay(person, resource_id)
                if stay is not None:
                    out.append(detention.to_json(person, stay, [], self.name_of))
            return out
        return [self.read(resource_type, resource_id)]
