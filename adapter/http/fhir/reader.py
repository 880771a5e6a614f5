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

from adapter.http.fhir.errors import not_found
from mappings.fhir import care_plan, detention, entitlement, flag, funding, organisation, patient
from mappings.fhir import task as tasks
from mappings.fhir.common import LONDON, local_id
from register.ports import StoredPerson
from register.refdata.sql import SqlRefData
from register.store.casework_views import CaseworkViews, PersonCasework
from register.store.views import RegisterViews

Resource = dict[str, Any]
CLINICAL_TYPES = ("Patient", "Encounter", "EpisodeOfCare", "Coverage", "CarePlan", "Task",
                  "Flag")


def today() -> date:
    """Flags and due dates are judged by the day in England."""
    return datetime.now(LONDON).date()


class FhirReader:
    def __init__(self, views: RegisterViews, refdata: SqlRefData,
                 casework: CaseworkViews) -> None:
        self.views = views
        self.refdata = refdata
        self.casework = casework
        self.name_of: Callable[[str], str | None] = refdata.name

    # -- read ------------------------------------------------------------------------

    def read(self, resource_type: str, resource_id: str) -> Resource:
        handler = {"Patient": self._patient, "Encounter": self._encounter,
                   "EpisodeOfCare": self._episode, "Coverage": self._coverage,
                   "Organization": self._organisation, "CarePlan": self._care_plan,
                   "Task": self._task, "Flag": self._flag}.get(resource_type)
        found = handler(resource_id) if handler else None
        if found is None:
            raise not_found(f"{resource_type}/{resource_id}")
        return found

    def _person(self, person_id: str) -> StoredPerson | None:
        number = local_id(person_id)
        return self.views.person(number) if number is not None else None

    def _patient(self, resource_id: str) -> Resource | None:
        person = self._person(resource_id)
        return patient.to_json(person, self.name_of) if person else None

    def _encounter(self, resource_id: str) -> Resource | None:
        person_id = detention.person_of(resource_id)
        person = self.views.person(person_id) if person_id is not None else None
        stay = detention.find_stay(person, resource_id) if person else None
        if person is None or stay is None:
            return None
        return detention.to_json(person, stay, self.views.entitlements_of(person.id),
                                 self.name_of)

    def _episode(self, resource_id: str) -> Resource | None:
        stored = self.views.entitlement(resource_id)
        return entitlement.to_json(stored, self.name_of) if stored else None

    def _coverage(self, resource_id: str) -> Resource | None:
        parts = funding.split_id(resource_id)
        stored = self.views.entitlement(parts[0]) if parts else None
        return funding.to_json(stored, parts[1], self.name_of) if stored and parts else None

    def _organisation(self, resource_id: str) -> Resource | None:
        org = self.refdata.orgs.get(resource_id)
        return organisation.to_json(org) if org else None

    def _care_plan(self, resource_id: str) -> Resource | None:
        stored = self.casework.plan(resource_id)
        return care_plan.to_json(stored, self.name_of) if stored else None

    def person_casework(self, person_id: int) -> PersonCasework | None:
        return self.casework.person_casework(person_id)

    def task_json(self, work: PersonCasework, key: str) -> Resource | None:
        found = work.casework.task(key)
        return tasks.to_json(work.person.id, work.person.updated_at, found, self.name_of,
                             today()) if found else None

    def flag_json(self, work: PersonCasework, key: str) -> Resource | None:
        found = next((a for a in work.casework.alerts if a.key == key), None)
        # An alert that has not begun yet (a review not yet overdue) is not a flag.
        if found is None or found.since > today():
            return None
        return flag.to_json(work.person.id, work.person.updated_at, found, self.name_of,
                            today())

    def _derived(self, resource_id: str, render: Callable[[PersonCasework, str],
                                                           Resource | None]) -> Resource | None:
        parts = tasks.split_id(resource_id)
        work = self.person_casework(parts[0]) if parts else None
        return render(work, parts[1]) if work and parts else None

    def _task(self, resource_id: str) -> Resource | None:
        return self._derived(resource_id, self.task_json)

    def _flag(self, resource_id: str) -> Resource | None:
        return self._derived(resource_id, self.flag_json)

    # -- versions --------------------------------------------------------------------

    def vread(self, resource_type: str, resource_id: str, version: str) -> Resource:
        found = None
        if local_id(version) is not None:
            found = next((r for r in self.history(resource_type, resource_id)
                          if r["meta"]["versionId"] == version), None)
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
