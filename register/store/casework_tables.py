"""Tables of the casework read model (register/casework.py), written with the person in the
same transaction: aftercare plans as shown with every version kept (FHIR CarePlan read,
vread, history), and an index of tasks, alerts and plans so searches across people (the
panel agenda, overdue reviews, open disputes, flags by council) need not read every person."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from register.store.base import Base
from register.store.orm import Json


class CarePlanRow(Base):
    __tablename__ = "care_plan"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    entitlement_id: Mapped[str] = mapped_column(String(36), index=True)
    status: Mapped[str] = mapped_column(String(16))
    responsible_la: Mapped[str | None] = mapped_column(String(9), index=True)
    responsible_icb: Mapped[str | None] = mapped_column(String(5), index=True)
    snapshot: Mapped[dict[str, Any]] = mapped_column(Json)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class CarePlanVersionRow(Base):
    """Every stored version of a plan as shown; never updated."""

    __tablename__ = "care_plan_version"

    plan_id: Mapped[str] = mapped_column(ForeignKey("care_plan.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[dict[str, Any]] = mapped_column(Json)
    recorded_at: Mapped[datetime] = mapped_column(DateTime)
    command_id: Mapped[str] = mapped_column(String(200), index=True)


class CaseworkIndexRow(Base):
    """One row per task, alert and plan of a person (`kind`), with the columns searches
    across people filter on; `key` is unique within the person. A person's rows are compared
    with what their casework now is and only the rows that differ are rewritten, so a
    command costs one read here and at most one delete and one insert."""

    __tablename__ = "casework_index"

    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # task | alert | plan
    entitlement_id: Mapped[str] = mapped_column(String(36))
    code: Mapped[str] = mapped_column(String(30))  # task type, flag code, plan status
    status: Mapped[str | None] = mapped_column(String(16))  # a task's
    business_status: Mapped[str | None] = mapped_column(String(40))  # a task's
    owner: Mapped[str | None] = mapped_column(String(9))  # the council that acts
    icb: Mapped[str | None] = mapped_column(String(5))
    authored_on: Mapped[date | None] = mapped_column(Date)  # a task's request
    due_on: Mapped[date | None] = mapped_column(Date)  # a task's deadline
    since: Mapped[date | None] = mapped_column(Date)  # an alert's period
    until: Mapped[date | None] = mapped_column(Date)
    plan_id: Mapped[str | None] = mapped_column(String(64))
    digest: Mapped[str | None] = mapped_column(String(64))  # a plan's: of the plan as shown

    __table_args__ = (Index("ix_casework_index_kind_code_owner", "kind", "code", "owner"),
                      Index("ix_casework_index_kind_code_icb", "kind", "code", "icb"))
