"""Issue 23 parts 2 and 3 in the core, on SQLite and PostgreSQL: a replica is kept as its owner
sent it, once per event and never older over newer; an update for a record this register owns,
or from a register that does not own it, is refused; casework written on a replica is
forwarded to its owner instead of applied (one writer per entitlement)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from register import commands as c
from register.errors import RuleViolation
from register.federation.replica import ReplicaUpdate
from register.nhs_number import synthetic
from register.refdata.sql import SqlRefData
from register.service import RegisterService
from register.store import codec, database
from register.store.federation_tables import FederationCommandRow, ReplicaRow
from register.store.orm import OutboxRow
from register.store.uow import SqlUnitOfWork
from tests.conftest import TODAY, empty_register, prepared_engine
from tests.outbound_support import admit, discharge

NHS = synthetic(23_900)


def service_on(engine: Engine) -> RegisterService:
    sessions = database.session_factory(engine)
    return RegisterService(lambda: SqlUnitOfWork(sessions), SqlRefData(sessions),
                           today=lambda: TODAY)


@pytest.fixture
def peer(tmp_path: Path) -> Engine:
    """A second register (the replica's), on its own SQLite file."""
    engine = prepared_engine(f"sqlite:///{tmp_path / 'peer.db'}")
    empty_register(engine)
    return engine


def update_from(owner: RegisterService, event_number: int, origin: str = "Y56"
                ) -> ReplicaUpdate:
    with owner._uow() as uow:  # noqa: SLF001 - reading the owner's record as the link does
        record = uow.people.get(NHS)
    assert record is not None
    return ReplicaUpdate(origin, event_number, record.facts, record.entitlements,
                         record.residence_la, record.next_review_due)


def test_a_replica_is_kept_once_per_event_and_never_older_over_newer(
        service: RegisterService, engine: Engine, peer: Engine) -> None:
    owner, replica = service, service_on(peer)
    owner.handle(admit(NHS, "QGH", "V1"))
    planned = update_from(owner, 10)
    owner.handle(discharge(NHS, "V1"))
    started = update_from(owner, 11)
    assert replica.apply_replica(planned).status == "applied"
    assert replica.apply_replica(planned).status == "duplicate", "once per event"
    assert replica.apply_replica(started).status == "applied"
    with peer.connect() as conn:
        [(owner_region, event)] = conn.execute(select(ReplicaRow.owner_region,
                                                      ReplicaRow.owner_event)).all()
    assert (owner_region, event) == ("Y56", 11)
    older = replace(planned, event_number=9)
    assert replica.apply_replica(older).reason == "stale"
    with SqlUnitOfWork(database.session_factory(peer)) as uow:
        record = uow.people.get(NHS)
    assert record is not None
    assert [e.status.value for e in record.entitlements] == ["active"], "newer state kept"


def test_an_update_for_a_record_this_register_owns_or_from_the_wrong_owner_is_refused(
        service: RegisterService, peer: Engine) -> None:
    owner, replica = service, service_on(peer)
    owner.handle(admit(NHS, "QGH", "V1"))
    with pytest.raises(RuleViolation, match="this register owns this record"):
        owner.apply_replica(update_from(owner, 1))
    replica.apply_replica(update_from(owner, 1))
    with pytest.raises(RuleViolation, match="owned by Y56, not Y59"):
        replica.apply_replica(update_from(owner, 2, origin="Y59"))


def test_casework_on_a_replica_is_forwarded_to_its_owner_not_applied(
        service: RegisterService, peer: Engine) -> None:
    owner, replica = service, service_on(peer)
    owner.handle(admit(NHS, "QGH", "V1"))
    owner.handle(discharge(NHS, "V1"))
    replica.apply_replica(update_from(owner, 5))
    review = c.RecordReview(command_id="review-1", nhs_number=NHS, entitlement_id=None,
                            on=date(2026, 11, 1), outcome="continues", if_version=1)
    outcome = replica.handle(review)
    assert outcome.status == "forwarded" and "Y56" in outcome.reason
    with peer.connect() as conn:
        [row] = conn.execute(select(FederationCommandRow)).all()
        events = conn.execute(select(OutboxRow.event)).scalars().all()
    assert (row.owner_region, row.kind, row.state) == ("Y56", "RecordReview", "forwarded")
    forwarded = codec.load_command(row.kind, row.payload)
    assert forwarded.if_version is None, "the replica's versions are not the owner's"
    assert replica.handle(review).status == "duplicate", "forwarded once"
    assert events == [], "nothing applied on the replica"
    assert owner.handle(forwarded).status == "applied"
