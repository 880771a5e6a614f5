"""Outbound tables: FHIR topic-based subscriptions, the events recorded for each (numbered
per subscription, kept so a subscriber can recover any gap with `$events`), every delivery
attempt, the review notices the scheduler has raised, and the relay's lock row.

Only the outbound side (`queues/outbound`, the Subscription API) writes these; the register
core writes the `outbox` they are fed from.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from register.store.base import Base
from register.store.orm import Json


class SubscriptionRow(Base):
    """One Subscription: what the client asked for, and where delivery to it stands.

    Definition columns are written by the API (with `version` for If-Match); the delivery
    columns by whichever delivery worker holds the lease, always as targeted UPDATEs, so the
    two never overwrite each other's columns."""

    __tablename__ = "subscription"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(12), index=True)  # requested|active|error|off
    topic: Mapped[str] = mapped_column(String(200))
    filters: Mapped[list[Any]] = mapped_column(Json)  # [[name, [value, ...]], ...]: AND of ORs
    channel: Mapped[str] = mapped_column(String(12))  # rest-hook | amqp
    endpoint: Mapped[str | None] = mapped_column(Text)
    headers: Mapped[list[Any]] = mapped_column(Json)  # "Name: value" strings
    content: Mapped[str] = mapped_column(String(16))  # empty | id-only | full-resource
    heartbeat_seconds: Mapped[int | None] = mapped_column(Integer)
    timeout_seconds: Mapped[int | None] = mapped_column(Integer)
    max_count: Mapped[int | None] = mapped_column(Integer)
    end_at: Mapped[datetime | None] = mapped_column(DateTime)
    resource: Mapped[dict[str, Any]] = mapped_column(Json)  # as the client sent it
    amqp_queue: Mapped[str | None] = mapped_column(String(120))
    amqp_user: Mapped[str | None] = mapped_column(String(120))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    # The organisation that made it (register.access.hears decides what it may carry);
    # none for a Subscription made before access control, which is treated as an admin's.
    owner_org: Mapped[str | None] = mapped_column(String(20))
    owner_type: Mapped[str | None] = mapped_column(String(8))
    # Delivery state
    delivered_through: Mapped[int] = mapped_column(BigInteger, default=0)
    handshake_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    heartbeat_due_at: Mapped[datetime | None] = mapped_column(DateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime)
    failing_since: Mapped[datetime | None] = mapped_column(DateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)


class SubscriptionEventRow(Base):
    """An event recorded for a subscription, numbered 1, 2, 3 ... per subscription in the
    order the relay fanned it out. Kept after delivery: `$events` reads it."""

    __tablename__ = "subscription_event"

    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("subscription.id", ondelete="CASCADE"), primary_key=True)
    event_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    outbox_id: Mapped[int] = mapped_column(BigInteger)
    recorded_at: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (UniqueConstraint("subscription_id", "outbox_id",
                                       name="uq_subscription_event_outbox"),)


class DeliveryAttemptRow(Base):
    """Every attempt to deliver to a subscriber, successful or not; never updated."""

    __tablename__ = "delivery_attempt"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("subscription.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # handshake|heartbeat|event-notification
    first_event: Mapped[int | None] = mapped_column(BigInteger)
    last_event: Mapped[int | None] = mapped_column(BigInteger)
    attempted_at: Mapped[datetime] = mapped_column(DateTime)
    duration_ms: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(10))  # delivered | failed
    http_status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_delivery_attempt_subscription", "subscription_id", "id"),)


class ReviewNoticeRow(Base):
    """A review-due or review-overdue event already raised for one entitlement and due date:
    the primary key is what stops two schedulers raising it twice."""

    __tablename__ = "review_notice"

    entitlement_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    due: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    outbox_id: Mapped[int | None] = mapped_column(BigInteger)
    raised_at: Mapped[datetime] = mapped_column(DateTime)


class RelayLockRow(Base):
    """One row per relay stream. Every relay batch starts by updating it, so batches run one
    after another across processes (PostgreSQL row lock, SQLite write lock)."""

    __tablename__ = "relay_lock"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(80))
    locked_at: Mapped[datetime | None] = mapped_column(DateTime)
