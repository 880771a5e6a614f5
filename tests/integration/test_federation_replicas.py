"""Issue 23 parts 2 and 3 in the core, on SQLite and PostgreSQL: a replica is kept as its owner
sent it, once per event and never older over newer; an update for a record this register owns,
or from a register that does not own it, is refused; casework written on a replica is
forwarded to its owner instead of applied (one writer per entitlement)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, select

from register import commands as c
from register.errors import RuleViolation
from register.events import EntitlementEvent, EventType
from register.federation.ownership import Ownership
from register.federation.replica import ReplicaUpdate
from register.nhs_number import synthetic
from register.refdata.load import load_succession
from register.refdata.regions import routing_table
from register.refdata.sql import SqlRefData
from register.service import RegisterService
from register.store import codec, database
from register.store.federation_tables import FederationCommandRow, HandoverRow, ReplicaRow
from register.store.orm import OutboxRow
from register.store.refdata_tables import OrgSuccession
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


# --- ownership moves (issue 23, Build 4) -----------------------------------------------------

def _state(owner: RegisterService, event_number: int, origin: str,
           events: list[EntitlementEvent], rule: str | None = None) -> ReplicaUpdate:
    """What the link carries after one of the owner's events (a handover with `rule`)."""
    return replace(update_from(owner, event_number, origin), events=events,
                   handover_rule=rule)


def _owner_changed(uow_source: Engine) -> list[EntitlementEvent]:
    with uow_source.connect() as conn:
        payloads = conn.execute(select(OutboxRow.payload)
                                .where(OutboxRow.event == "owner-changed")).scalars().all()
    return [codec.load_event(p) for p in payloads]


def test_a_re_detention_in_another_region_moves_ownership_and_no_write_is_lost_or_doubled(
        service: RegisterService, engine: Engine, peer: Engine, tmp_path: Path) -> None:
    """L3: London (Y56) owns the record; the Midlands (Y60) holds a replica. A Midlands
    trust re-detains the person: its message is forwarded to London, which applies it and
    hands the record over in the same transaction. A review written on the Midlands replica
    before that reaches London after it, goes back, and is applied once, at the Midlands.
    A third register's replica follows the owner whichever notice it hears first."""
    london, midlands = service, service_on(peer)
    london.handle(admit(NHS, "QGH", "V1"))
    london.handle(discharge(NHS, "V1"))
    midlands.apply_replica(update_from(london, 5))
    trust = c.Agent("R1A", "trust")
    again = replace(admit(NHS, "QGH", "V2", day="2025-06-02"), agent=trust)
    review = c.RecordReview(command_id="review-1", nhs_number=NHS, entitlement_id=None,
                            on=date(2026, 11, 1), outcome="continues")
    assert midlands.handle(again).status == "forwarded"
    assert midlands.handle(review).status == "forwarded"

    moved = london.handle_forwarded(again, "Y60", "Y60")
    assert moved.status == "applied"
    [notice] = [e for e in moved.events if e.event is EventType.OWNER_CHANGED]
    assert notice.owner == "Y60" and "L3" in notice.detail
    with engine.connect() as conn:
        [(owner_region, owned_until)] = conn.execute(
            select(ReplicaRow.owner_region, ReplicaRow.owned_until)).all()
        [(direction, state)] = conn.execute(select(HandoverRow.direction,
                                                   HandoverRow.state)).all()
    assert (owner_region, owned_until, direction, state) == ("Y60", 0, "out", "offered")

    # The review reaches the old owner after the move: passed on to the new owner.
    passed = london.handle_forwarded(review, "Y60", "Y60")
    assert passed.status == "forwarded" and "Y60" in passed.reason
    with engine.connect() as conn:
        [row] = conn.execute(select(FederationCommandRow)).all()
    assert (row.owner_region, row.reply_to, row.state) == ("Y60", "Y60", "forwarded")

    taken = midlands.take_over(_state(london, 9, "Y56", [notice], "L3"))
    assert taken.status == "applied"
    assert [e.owner for e in taken.events] == ["Y60"], "the handover is an event here too"
    assert midlands.take_over(_state(london, 9, "Y56", [notice], "L3")).status == \
        "duplicate"
    with peer.connect() as conn:
        assert conn.execute(select(ReplicaRow)).all() == [], "the Midlands owns it now"
        [(direction, peer_region, rule)] = conn.execute(
            select(HandoverRow.direction, HandoverRow.peer, HandoverRow.rule)).all()
    assert (direction, peer_region, rule) == ("in", "Y56", "L3")

    applied = midlands.handle_forwarded(review, "Y56", "Y60")
    assert applied.status == "applied", applied.reason
    assert midlands.handle_forwarded(review, "Y56", "Y60").status == "duplicate"
    with SqlUnitOfWork(database.session_factory(peer)) as uow:
        record = uow.people.get(NHS)
    assert record is not None
    assert [r.outcome for r in record.facts.reviews] == ["continues"], "applied once"
    assert london.refresh(NHS) == [], "a replica is never re-derived by the old owner"

    # A third register (a council's, say) hears both sides' notices, in either order.
    third = prepared_engine(f"sqlite:///{tmp_path / 'third.db'}")
    empty_register(third)
    other = service_on(third)
    other.apply_replica(update_from(london, 5))
    [first_word] = _owner_changed(peer)
    assert other.apply_replica(_state(midlands, 3, "Y60", [first_word])).status == "applied"
    assert other.apply_replica(_state(london, 9, "Y56", [notice])).reason == "stale"
    with third.connect() as conn:
        assert conn.execute(select(ReplicaRow.owner_region)).scalars().all() == ["Y60"]
    assert len(_owner_changed(third)) == 1, "its subscribers hear of the move once"
    assert len(_owner_changed(engine)) == 1 and len(_owner_changed(peer)) == 1
    with pytest.raises(RuleViolation, match="owned by Y60, not Y56"):
        other.apply_replica(_state(london, 10, "Y56", []))


def test_a_succession_into_another_regions_icb_moves_ownership(
        engine: Engine, tmp_path: Path) -> None:
    """N6: the Midlands register owns a QGH entitlement; QGH is succeeded by QOX (South West,
    Y58) and re-derived (`s117 db reindex`): the record is handed to the South West."""
    sessions = database.session_factory(engine)
    midlands = RegisterService(lambda: SqlUnitOfWork(sessions), SqlRefData(sessions),
                               today=lambda: TODAY,
                               owners=Ownership("Y60", routing_table()))
    midlands.handle(admit(NHS, "QGH", "V1"))
    midlands.handle(discharge(NHS, "V1"))
    succession = tmp_path / "succession.csv"
    succession.write_text("org_code,target_code,type,legal_start_date,target_name\n"
                          "QGH,QOX,Successor,2025-04-01,NHS test ICB\n")
    with sessions() as session:
        load_succession(session, succession)
        session.commit()
    again = RegisterService(lambda: SqlUnitOfWork(sessions), SqlRefData(sessions),
                            today=lambda: TODAY, owners=Ownership("Y60", routing_table()))
    try:
        events = again.refresh(NHS)
    finally:
        # The database is the test session's: later tests must not find QGH succeeded.
        with sessions() as session:
            session.execute(delete(OrgSuccession).where(OrgSuccession.org_code == "QGH",
                                                        OrgSuccession.target_code == "QOX"))
            session.commit()
    [notice] = [e for e in events if e.event is EventType.OWNER_CHANGED]
    assert notice.owner == "Y58" and "N6" in notice.detail
    with engine.connect() as conn:
        assert conn.execute(select(ReplicaRow.owner_region)).scalars().all() == ["Y58"]
        assert conn.execute(select(HandoverRow.rule)).scalars().all() == ["N6"]
