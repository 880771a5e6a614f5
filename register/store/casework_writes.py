"""Writing the casework read model (see casework_tables.py) in the unit of work."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from register.casework import Casework
from register.ports import PersonRecord
from register.store import codec
from register.store.casework_tables import CarePlanRow, CarePlanVersionRow, CaseworkIndexRow
from register.store.dialect import utcnow

INDEX = CaseworkIndexRow.__table__
COLUMNS = [c.name for c in INDEX.columns if c.name != "person_id"]


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _row(**values: Any) -> dict[str, Any]:
    return {name: values.get(name) for name in COLUMNS}


def index_rows(record: PersonRecord, casework: Casework
               ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The person's index rows by key, and each plan's stored values by plan id."""
    owners = {e.id: (e.current.local_authority, e.current.icb) if e.current else (None, None)
              for e in record.entitlements}
    rows: dict[str, dict[str, Any]] = {}
    plans: dict[str, dict[str, Any]] = {}
    for state in casework.plans:
        plan = state.plan
        la, icb = owners.get(plan.entitlement_id, (None, None))
        snapshot = codec.dump(state)
        plans[plan.id] = {"id": plan.id, "entitlement_id": plan.entitlement_id,
                          "status": plan.status.value, "responsible_la": la,
                          "responsible_icb": icb, "snapshot": snapshot}
        rows[f"plan:{plan.id}"] = _row(
            key=f"plan:{plan.id}", kind="plan", entitlement_id=plan.entitlement_id,
            code=plan.status.value, owner=la, icb=icb, plan_id=plan.id,
            digest=_digest(snapshot))
    for t in casework.tasks:
        rows[t.key] = _row(key=t.key, kind="task", entitlement_id=t.entitlement_id,
                           code=t.kind.value, status=t.status.value,
                           business_status=t.business_status, owner=t.owner, icb=t.icb,
                           authored_on=t.authored_on, due_on=t.due_on, plan_id=t.plan_id)
    for a in casework.alerts:
        rows[a.key] = _row(key=a.key, kind="alert", entitlement_id=a.entitlement_id,
                           code=a.code.value, owner=a.owner, icb=a.icb, since=a.since,
                           until=a.until)
    return rows, plans


class SqlCasework:
    """Keeps each person's casework as last saved in this unit of work and writes what
    changed at commit, once per person, with plain statements (most commands of a trust's
    feed touch a person's casework, so this is on the hot path)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.pending: dict[int, tuple[PersonRecord, Casework, str, bool]] = {}

    def plan_version(self, plan_id: str) -> int:
        return self.session.scalar(select(CarePlanRow.version)
                                   .where(CarePlanRow.id == plan_id)) or 0

    def save(self, record: PersonRecord, casework: Casework, command_id: str) -> None:
        assert record.id is not None  # the person row is written first
        # A person new in this transaction has nothing stored yet: no need to read.
        stored = self.pending[record.id][3] if record.id in self.pending \
            else record.version > 0
        self.pending[record.id] = (record, casework, command_id, stored)

    def write(self) -> None:
        """A batch's people at once: their stored rows read in one query and the new rows
        written in one statement (a query and an insert per person were a large share of
        a batch's round trips, issue 22)."""
        conn = self.session.connection()  # core statements: no ORM bookkeeping for an index
        stored_ids = [person_id for person_id, due in self.pending.items() if due[3]]
        old_of: dict[int, dict[str, dict[str, Any]]] = {}
        for start in range(0, len(stored_ids), 1000):
            for r in conn.execute(select(INDEX).where(
                    INDEX.c.person_id.in_(stored_ids[start:start + 1000]))).mappings():
                old_of.setdefault(r["person_id"], {})[r["key"]] = {c: r[c] for c in COLUMNS}
        inserts: list[dict[str, Any]] = []
        for person_id, (record, casework, command_id, _) in self.pending.items():
            rows, plans = index_rows(record, casework)
            old = old_of.get(person_id, {})
            gone = [k for k, v in old.items() if rows.get(k) != v]
            new = [v for k, v in rows.items() if old.get(k) != v]
            if gone:
                conn.execute(INDEX.delete().where(INDEX.c.person_id == person_id,
                                                  INDEX.c.key.in_(gone)))
            inserts += [{"person_id": person_id, **v} for v in new]
            for values in new:
                if values["kind"] == "plan":
                    self._plan(person_id, plans[values["plan_id"]], command_id)
        if inserts:
            conn.execute(insert(INDEX), inserts)
        self.pending.clear()

    def _plan(self, person_id: int, values: dict[str, Any], command_id: str) -> None:
        """Upsert a changed plan as a new version; every version is kept. Plans are never
        deleted (a merge moves them to the surviving person)."""
        now = utcnow()
        row = self.session.get(CarePlanRow, values["id"])
        if row is None:
            row = CarePlanRow(person_id=person_id, version=1, updated_at=now, **values)
            self.session.add(row)
        else:
            for key, value in values.items():
                setattr(row, key, value)
            row.person_id = person_id
            row.version += 1
            row.updated_at = now
        self.session.flush()
        self.session.add(CarePlanVersionRow(
            plan_id=row.id, version=row.version, person_id=person_id,
            snapshot=row.snapshot, recorded_at=now, command_id=command_id))
