"""Tables of the casework read model (register/casework.py), written with the person in the
same transaction: aftercare plans as shown with every version kept (FHIR CarePlan read,
vread, history), and indexes of tasks and alerts so searches across people (the panel
agenda, overdue reviews, open disputes, flags by council) need not read every person."""

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
    command_id: Mapped[str] = mapped_column(String(200))


class TaskRow(Base):
    """Index of a person's tasks (key unique within the person)."""

    __tablename__ = "task"

    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    entitlement_id: Mapped[str] = mapped_column(String(36))
    code: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str | None] = mapped_column(String(9))
    icb: Mapped[str | None] = mapped_column(String(5))
    authored_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date | None] = mapped_column(Date)
    plan_id: Mapped[str | None] = mapped_column(String(64))
    business_status: Mapped[str | None] = mapped_column(String(40))

    __table_args__ = (Index("ix_task_code_status_owner", "code", "status", "owner"),
                      Index("ix_task_code_status_icb", "code", "status", "icb"))


class AlertRow(Base):
    """Index of a person's alerts (FHIR Flag), each a dated period."""

    __tablename__ = "alert"

    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    entitlement_id: Mapped[str] = mapped_column(String(36))
    code: Mapped[str] = mapped_column(String(30))
    since: Mapped[date] = mapped_column(Date)
    until: Mapped[date | None] = mapped_column(Date)
    owner: Mapped[str | None] = mapped_column(String(9))
    icb: Mapped[str | None] = mapped_column(String(5))

    __table_args__ = (Index("ix_alert_code_owner", "code", "owner"),
                      Index("ix_alert_code_icb", "code", "icb"))


class CaseworkStateRow(Base):
    """A digest of the casework last written for a person, so a command that changes none
    of it costs one primary-key read."""

    __tablename__ = "casework_state"

    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
