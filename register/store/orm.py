"""Tables of the register (SQLAlchemy 2.0 typed declarative models).

A person's facts are one JSON document (the aggregate is always read and written whole);
entitlements are rows with the columns the caseload queries filter on; determinations and
status changes are append-only history; inbox, outbox and held are the messaging tables.
"""

from __future__ import annotations

import unicodedata
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from register.store.base import Base

Json = JSON().with_variant(JSONB(), "postgresql")


def name_key(family: str) -> str:
    """A family name as searched: case, accents, spaces, hyphens and apostrophes folded
    (O'Brien, OBRIEN and o brien are one name)."""
    plain = unicodedata.normalize("NFKD", family).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.upper() if ch.isalnum())[:100]


class PersonRow(Base):
    __tablename__ = "person"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    nhs_number: Mapped[str] = mapped_column(String(10), unique=True)
    facts: Mapped[dict[str, Any]] = mapped_column(Json)
    residence_la: Mapped[str | None] = mapped_column(String(9), index=True)
    merged_into: Mapped[str | None] = mapped_column(String(10))
    # The trusts that sent this person's stays, as ",R1A,RLQ,": what a trust may see
    # (register.access) is found with one LIKE, with no table of its own to keep in step.
    trusts: Mapped[str] = mapped_column(Text, default="")
    held: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    # The search by name and date of birth (staff pages): the current family name folded
    # (`name_key`), with the date of birth; the name itself stays in `facts`.
    name_key: Mapped[str | None] = mapped_column(String(100))
    birth_date: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (Index("ix_person_name_key_birth_date", "name_key", "birth_date"),)

    # The store sets the version itself (one command, at most one new version; a new row is
    # version 1); SQLAlchemy still refuses an UPDATE whose version moved underneath it.
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}


class EntitlementRow(Base):
    __tablename__ = "entitlement"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    planned_on: Mapped[date] = mapped_column(Date)
    started_on: Mapped[date | None] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)
    responsible_la: Mapped[str | None] = mapped_column(String(9))
    responsible_icb: Mapped[str | None] = mapped_column(String(5))
    commissioning_body: Mapped[str | None] = mapped_column(String(5))
    paying_body: Mapped[str | None] = mapped_column(String(5))
    paying_icb: Mapped[str | None] = mapped_column(String(5))
    residence_la: Mapped[str | None] = mapped_column(String(9))
    next_review_due: Mapped[date | None] = mapped_column(Date, index=True)
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    snapshot: Mapped[dict[str, Any]] = mapped_column(Json)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime)

    # The store sets the version itself (one command, at most one new version; a new row is
    # version 1); SQLAlchemy still refuses an UPDATE whose version moved underneath it.
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}
    __table_args__ = (
        Index("ix_entitlement_la_status", "responsible_la", "status"),
        Index("ix_entitlement_icb_status", "responsible_icb", "status"),
        Index("ix_entitlement_residence_status", "residence_la", "status"),
        # A caseload page (`responsible-la=X`, newest planned first or oldest, 50 at a time)
        # and its total: in index order and index-only, with the other column a council's
        # or ICB's visibility filter reads carried in the index (PostgreSQL INCLUDE).
        Index("ix_entitlement_la_caseload", "responsible_la", "planned_on", "id",
              postgresql_include=["residence_la", "status"]),
        Index("ix_entitlement_icb_caseload", "responsible_icb", "planned_on", "id",
              postgresql_include=["paying_icb", "status"]),
        Index("ix_entitlement_residence_caseload", "residence_la", "planned_on", "id",
              postgresql_include=["responsible_la", "status"]),
    )
    # Never loaded or set (person_id is): it tells a flush to insert a new person before the
    # entitlements that refer to it, since a batch gives new people their ids ahead and
    # inserts them at commit (register/store/uow.py, SqlPeople.add).
    person: Mapped[PersonRow] = relationship(lazy="raise")


class DeterminationRow(Base):
    """Every responsibility determination ever made; never updated."""

    __tablename__ = "determination"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entitlement_id: Mapped[str] = mapped_column(ForeignKey("entitlement.id"), index=True)
    effective_from: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(DateTime)
    rule_set: Mapped[str] = mapped_column(String(40))
    local_authority: Mapped[str | None] = mapped_column(String(9))
    icb: Mapped[str | None] = mapped_column(String(5))
    original_body: Mapped[str | None] = mapped_column(String(5))
    commissioning_body: Mapped[str | None] = mapped_column(String(5))
    paying_body: Mapped[str | None] = mapped_column(String(5))
    paying_icb: Mapped[str | None] = mapped_column(String(5))
    basis: Mapped[list[Any]] = mapped_column(Json)
    needs_review: Mapped[list[Any]] = mapped_column(Json)
    command_id: Mapped[str] = mapped_column(String(200))


class HolderSegmentRow(Base):
    """The entitlement's holder timeline as now derived (RULES.md N): replaced whenever the
    entitlement is saved, so "who held it on D" is one indexed read."""

    __tablename__ = "holder_segment"

    entitlement_id: Mapped[str] = mapped_column(ForeignKey("entitlement.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    local_authority: Mapped[str | None] = mapped_column(String(9))
    icb: Mapped[str | None] = mapped_column(String(5))
    original_body: Mapped[str | None] = mapped_column(String(5))
    nhs_rule: Mapped[str | None] = mapped_column(String(4))
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    __table_args__ = (Index("ix_holder_segment_icb", "icb", "valid_from"),
                      Index("ix_holder_segment_la", "local_authority", "valid_from"))


class StatusHistoryRow(Base):
    """Every status change as it was recorded; never updated."""

    __tablename__ = "entitlement_status"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entitlement_id: Mapped[str] = mapped_column(ForeignKey("entitlement.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    effective: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(DateTime)
    command_id: Mapped[str] = mapped_column(String(200))


class InboxRow(Base):
    """Command/message ids already seen: each is applied once."""

    __tablename__ = "inbox"

    command_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(60))
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(DateTime)


class OutboxRow(Base):
    """Events to publish, in commit order (id); `published_at` is set by the relay."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event: Mapped[str] = mapped_column(String(40))
    entitlement_id: Mapped[str] = mapped_column(String(36), index=True)
    local_authority: Mapped[str | None] = mapped_column(String(9))
    icb: Mapped[str | None] = mapped_column(String(5))
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    published_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)


class HeldRow(Base):
    """Commands waiting for an earlier fact (a discharge before its admission)."""

    __tablename__ = "held_command"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    nhs_number: Mapped[str] = mapped_column(String(10), index=True)
    command_id: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    reason: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime)


class PersonVersionRow(Base):
    """Every stored version of a person's facts (FHIR vread and history); never updated."""

    __tablename__ = "person_version"

    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    facts: Mapped[dict[str, Any]] = mapped_column(Json)
    recorded_at: Mapped[datetime] = mapped_column(DateTime)
    command_id: Mapped[str] = mapped_column(String(200), index=True)


class EntitlementVersionRow(Base):
    """Every stored version of an entitlement with what was derived alongside it."""

    __tablename__ = "entitlement_version"

    entitlement_id: Mapped[str] = mapped_column(ForeignKey("entitlement.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    snapshot: Mapped[dict[str, Any]] = mapped_column(Json)
    residence_la: Mapped[str | None] = mapped_column(String(9))
    next_review_due: Mapped[date | None] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    command_id: Mapped[str] = mapped_column(String(200), index=True)


class ProvenanceRow(Base):
    """Who asked for each applied command (FHIR Provenance): the organisation, its kind and
    the person or system within it. What the command wrote is found by its id in the
    version tables (person, entitlement, aftercare plan); never updated."""

    __tablename__ = "provenance"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    command_id: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(60))
    agent_org: Mapped[str | None] = mapped_column(String(20))
    agent_type: Mapped[str | None] = mapped_column(String(8))
    agent_who: Mapped[str | None] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(DateTime)
