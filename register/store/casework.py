"""Writing the casework read model (see casework_tables.py) in the unit of work."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from register.casework import Casework
from register.ports import PersonRecord
from register.store import codec
from register.store.casework_tables import (
    AlertRow,
    CarePlanRow,
    CarePlanVersionRow,
    CaseworkStateRow,
    TaskRow,
)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _rows(record: PersonRecord, casework: Casework) -> dict[str, Any]:
    """Everything written for the person, as plain values (also what the digest covers)."""
    owners = {e.id: (e.current.local_authority, e.current.icb) if e.current else (None, None)
              for e in record.entitlements}
    plans = [{"id": s.plan.id, "entitlement_id": s.plan.entitlement_id,
              "status": s.plan.status.value,
              "responsible_la": owners.get(s.plan.entitlement_id, (None, None))[0],
              "responsible_icb": owners.get(s.plan.entitlement_id, (None, None))[1],
              "snapshot": codec.dump(s)} for s in casework.plans]
    tasks = [{"key": t.key, "entitlement_id": t.entitlement_id, "code": t.kind.value,
              "status": t.status.value, "owner": t.owner, "icb": t.icb,
              "authored_on": t.authored_on, "due_on": t.due_on, "plan_id": t.plan_id,
              "business_status": t.business_status}
             for t in casework.tasks]
    alerts = [{"key": a.key, "entitlement_id": a.entitlement_id, "code": a.code.value,
               "since": a.since, "until": a.until, "owner": a.owner, "icb": a.icb}
              for a in casework.alerts]
    return {"plans": plans, "tasks": tasks, "alerts": alerts}


def _digest(rows: dict[str, Any]) -> str:
    text = json.dumps(rows, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


EMPTY_DIGEST = _digest({"plans": [], "tasks": [], "alerts": []})


class SqlCasework:
    """Keeps each person's casework as last saved in this unit of work and writes it at
    commit, once per person, with plain multi-row statements (most commands of a trust's
    feed change a person's casework, so this is on the hot path)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._pending: dict[int, tuple[dict[str, Any], str, bool]] = {}

    def plan_version(self, plan_id: str) -> int:
        return self.session.scalar(select(CarePlanRow.version)
                                   .where(CarePlanRow.id == plan_id)) or 0

    def save(self, record: PersonRecord, casework: Casework, command_id: str) -> None:
        assert record.id is not None  # the person row is written first
        known = self._pending.get(record.id, (None, None, record.version > 0))[2]
        self._pending[record.id] = (_rows(record, casework), command_id, known)

    def write(self) -> None:
        """At commit: for each person whose casework changed, the digest, the plans and a
        fresh index of tasks and alerts."""
        state = CaseworkStateRow.__table__
        # Core statements on the session's connection: no ORM bookkeeping for index rows.
        conn = self.session.connection()
        for person_id, (rows, command_id, known) in self._pending.items():
            digest = _digest(rows)
            # A person new in this transaction has nothing stored, and no stored digest means
            # no casework: most admissions (a planned entitlement) cost nothing here.
            stored = conn.execute(select(state.c.digest).where(
                state.c.person_id == person_id)).scalar() if known else None
            if stored == digest or (stored is None and digest == EMPTY_DIGEST):
                continue
            if stored is None:
                conn.execute(insert(state), {"person_id": person_id, "digest": digest})
            else:
                conn.execute(state.update().where(state.c.person_id == person_id)
                             .values(digest=digest))
            self._plans(person_id, rows["plans"], command_id)
            for table, items in ((TaskRow.__table__, rows["tasks"]),
                                 (AlertRow.__table__, rows["alerts"])):
                conn.execute(table.delete().where(table.c.person_id == person_id))
                if items:
                    conn.execute(insert(table), [{"person_id": person_id, **item}
                                                 for item in items])
        self._pending.clear()

    def _plans(self, person_id: int, plans: list[dict[str, Any]], command_id: str) -> None:
        """Upsert each plan; a changed plan is a new version, and every version is kept.
        Plans are never deleted (a merge moves them to the surviving person)."""
        now = _now()
        for values in plans:
            row = self.session.get(CarePlanRow, values["id"])
            if row is None:
                row = CarePlanRow(person_id=person_id, version=1, updated_at=now, **values)
                self.session.add(row)
            else:
                changed = {k: v for k, v in values.items() if getattr(row, k) != v}
                if person_id != row.person_id:
                    changed["person_id"] = person_id
                if not changed:
                    continue
                for key, value in changed.items():
                    setattr(row, key, value)
                row.version += 1
                row.updated_at = now
            self.session.flush()
            self.session.add(CarePlanVersionRow(
                plan_id=row.id, version=row.version, person_id=person_id,
                snapshot=row.snapshot, recorded_at=now, command_id=command_id))
