"""What waits for the signed-in body on its home page: the joint workflows between a
council and an ICB (a proposal to end aftercare the other body must answer, D1) and between
councils (open ordinary-residence disputes, L5), each with its age, from the casework index
(the same Tasks the FHIR API serves), narrowed to what the caller may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from adapter.bootstrap import Register
from register.access import OrgType, Viewer
from register.casework import CaseTask, TaskKind, TaskStatus
from register.model import PersonFacts
from register.store.casework_views import CaseworkViews, TaskFilter


@dataclass(frozen=True)
class Waiting:
    person_id: int
    facts: PersonFacts
    task: CaseTask
    age_days: int
    yours: bool  # the caller must act (it owns the task)


def waiting(register: Register, who: Viewer, on: date, limit: int = 50) -> list[Waiting]:
    if who.kind not in (OrgType.LA, OrgType.ICB):
        return []
    views = CaseworkViews(register.sessions, register.settings.policy)
    _, found = views.search_tasks(TaskFilter(
        codes=(TaskKind.END_PROPOSAL.value, TaskKind.OR_DISPUTE.value),
        statuses=(TaskStatus.REQUESTED.value, TaskStatus.IN_PROGRESS.value),
        visible_to=who), count=limit)
    out = []
    for person_id, key in found:
        work = views.person_casework(person_id)
        task = work.casework.task(key) if work else None
        if work is None or task is None:
            continue
        out.append(Waiting(person_id, work.person.facts, task, (on - task.authored_on).days,
                           task.owner == who.org))
    # Yours first, then the oldest.
    return sorted(out, key=lambda w: (not w.yours, -w.age_days))
