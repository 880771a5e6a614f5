"""The store side of access control and audit, on SQLite and PostgreSQL (issue 7):

- the SQL visibility filters (register/store/visibility.py) find exactly what
  register.access says each organisation sees, for random registers (hypothesis);
- Provenance names who asked for each applied command, including a held one applied later
  and a council file, and a command that changed nothing leaves none;
- the audit trail refuses UPDATE and DELETE whoever asks;
- migration 0007 makes the tables the code declares."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from register import access
from register import commands as c
from register.access import OrgType, Viewer
from register.nhs_number import synthetic
from register.rules.ports import LocalityPolicy
from register.service import RegisterService
from register.store import audit_tables, database, orm
from register.store.audit import AuditFilter, AuditLog, AuditRecord
from register.store.base import Base
from register.store.casework_views import AlertFilter, CaseworkViews, TaskFilter
from register.store.provenance import ProvenanceFilter, ProvenanceViews
from register.store.views import EntitlementFilter, RegisterViews
from tests.conftest import empty_register
from tests.integration.test_service_store import admit, discharge

# (postcode before admission, GP practice): Herefordshire/QGH, Swindon/QOX, Gloucestershire/QR1
AREAS = [("HR1 1AA", "Z10001"), ("SN1 1AA", "Z20001"), ("GL1 1AA", "Z30001")]
TRUSTS = ["R1A", "RLQ", "RTQ"]
VIEWERS = [Viewer(o, OrgType.LA) for o in ("E06000019", "E06000030", "E10000013")] + \
    [Viewer(o, OrgType.ICB) for o in ("QGH", "QOX", "QR1")] + \
    [Viewer(o, OrgType.TRUST) for o in TRUSTS] + [Viewer("ops", OrgType.ADMIN)]

person = st.tuples(st.sampled_from(range(3)), st.sampled_from(range(3)),
                   st.sampled_from(TRUSTS), st.booleans(), st.one_of(st.none(),
                                                                      st.sampled_from(range(3))))


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(people=st.lists(person, min_size=1, max_size=8))
def test_the_sql_filters_agree_with_register_access(engine: Engine, people) -> None:
    empty_register(engine)
    sessions = database.session_factory(engine)
    from register.refdata.sql import SqlRefData
    from register.store.uow import SqlUnitOfWork

    service = RegisterService(lambda: SqlUnitOfWork(sessions), SqlRefData(sessions))
    for i, (lives, gp, trust, discharged, moved_to) in enumerate(people):
        nhs = synthetic(700 + i)
        service.handle(admit(nhs, ref=f"S{i}", postcode=AREAS[lives][0], gp=AREAS[gp][1],
                             trust=trust))
        if discharged:
            to = AREAS[moved_to][0] if moved_to is not None else None
            service.handle(discharge(nhs, ref=f"S{i}", trust=trust, to=to))
    views, casework = RegisterViews(sessions), CaseworkViews(sessions, LocalityPolicy())
    _, every = views.search_entitlements(EntitlementFilter(), count=None)
    trusts = {e.person_id: access.trusts_of(views.person(e.person_id).facts)  # type: ignore[union-attr]
              for e in every}
    for who in VIEWERS:
        expected = {e.entitlement.id for e in every
                    if access.sees(who, access.bodies_of(e, trusts[e.person_id]))}
        total, found = views.search_entitlements(EntitlementFilter(visible_to=who),
                                                 count=None)
        assert {e.entitlement.id for e in found} == expected, who
        assert total == len(expected), "the total counts only what is visible"
        history = views.entitlement_history(visible_to=who, limit=10_000)
        assert {v.entitlement.id for v in history} == expected
        _, tasks = casework.search_tasks(TaskFilter(visible_to=who), count=None)
        _, alerts = casework.search_alerts(AlertFilter(visible_to=who), count=None)
        seen_people = {e.person_id for e in every if e.entitlement.id in expected}
        assert {p for p, _ in tasks + alerts} <= seen_people


def _service(engine: Engine) -> tuple[RegisterService, ProvenanceViews, RegisterViews]:
    from register.refdata.sql import SqlRefData
    from register.store.uow import SqlUnitOfWork

    sessions = database.session_factory(engine)
    return (RegisterService(lambda: SqlUnitOfWork(sessions), SqlRefData(sessions)),
            ProvenanceViews(sessions), RegisterViews(sessions))


def test_provenance_names_the_sender_of_each_write_even_when_it_was_held(engine: Engine):
    service, trail, views = _service(engine)
    nhs = synthetic(760)
    rlq = c.Agent("RLQ", "trust")
    # The discharge arrives first and is held; the admission releases it.
    assert service.handle(replace(discharge(nhs, trust="RLQ"), agent=rlq)).status == "held"
    service.handle(replace(admit(nhs, trust="RLQ"), agent=rlq))
    [person_id] = views.person_ids_by_nhs_number((nhs,))
    [ent] = views.entitlements_of(person_id)
    total, found = trail.search(ProvenanceFilter(target=f"EpisodeOfCare/{ent.entitlement.id}"))
    assert total == 2 and {p.kind for p in found} == {"Admit", "Discharge"}
    assert {(p.agent_org, p.agent_type) for p in found} == {("RLQ", "trust")}
    by_kind = {p.kind: p for p in found}
    assert f"EpisodeOfCare/{ent.entitlement.id}/_history/1" in by_kind["Admit"].targets
    assert any(t.startswith(f"Patient/{person_id}/_history/") for t in
               by_kind["Discharge"].targets)
    # A council's review, by a named officer; then the same decision again changes nothing.
    review = c.RecordReview(command_id="review-1", nhs_number=nhs, entitlement_id=None,
                            on=datetime(2024, 6, 1).date(), outcome="continue",
                            agent=c.Agent("E06000019", "la", "jo.bloggs"))
    service.handle(review)
    again = replace(review, command_id="review-1-resent")
    service.handle(again)
    total, found = trail.search(ProvenanceFilter(patient=person_id))
    assert total == 3, "the repeat wrote nothing, so it is no write"
    assert found[0].agent_who == "jo.bloggs" and found[0].kind == "RecordReview"
    # What an organisation that does not see the person finds: nothing.
    hidden, _ = trail.search(ProvenanceFilter(patient=person_id,
                                              visible_to=Viewer("QR1", OrgType.ICB)))
    assert hidden == 0
    # The trust sees its own two writes, not the council's casework (issue 20 finding 3).
    assert trail.search(ProvenanceFilter(patient=person_id, visible_to=Viewer(
        "RLQ", OrgType.TRUST)))[0] == 2


def _record(**changes: object) -> AuditRecord:
    base: dict[str, object] = dict(recorded_at=datetime(2026, 12, 1, 9), request_id="r1",
                                   channel="http", action="R", subtype="read", outcome="0",
                                   method="GET", path="/fhir/EpisodeOfCare/e1", status=200,
                                   agent_org="E06000019", agent_type="la",
                                   entities=(("EpisodeOfCare/e1", "domain"),
                                             ("Patient/5", "patient")))
    return AuditRecord(**{**base, **changes})  # type: ignore[arg-type]


def test_the_audit_trail_is_found_by_entity_patient_and_agent_and_cannot_be_changed(
        engine: Engine):
    log = AuditLog(database.session_factory(engine))
    marker = f"test-{datetime.now().timestamp()}"
    first = log.record(_record(request_id=marker))
    log.record(_record(request_id=marker, agent_org="QGH", agent_type="icb",
                       recorded_at=datetime(2026, 12, 2, 9),
                       entities=(("EpisodeOfCare/e1", "domain"),)))
    total, found = log.search(AuditFilter(entity="EpisodeOfCare/e1",
                                          since=datetime(2026, 12, 1)))
    assert total >= 2 and found[0].agent_org == "QGH", "newest first"
    assert log.search(AuditFilter(patient="Patient/5", agent_org="E06000019"))[0] >= 1
    assert log.get(first).entities == (("EpisodeOfCare/e1", "domain"),  # type: ignore[union-attr]
                                       ("Patient/5", "patient"))
    for statement in ("UPDATE audit_event SET agent_org = 'nobody'",
                      "DELETE FROM audit_event", "DELETE FROM audit_entity",
                      "UPDATE audit_entity SET role = 'x'"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    if engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text("TRUNCATE audit_entity, audit_event"))
    assert log.get(first) is not None


def test_migration_0007_makes_the_declared_tables(engine: Engine):
    mine = {audit_tables.AuditEventRow.__tablename__, audit_tables.AuditEntityRow.__tablename__,
            orm.ProvenanceRow.__tablename__, "person", "subscription", "person_version",
            "entitlement_version", "care_plan_version"}
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)

    def tables(diff) -> set[str]:  # type: ignore[no-untyped-def]
        found = set()
        for part in (diff if isinstance(diff, list) else [diff]):
            for item in part[1:]:
                table = getattr(item, "table", None)
                name = table.name if table is not None else getattr(item, "name", None)
                if isinstance(item, str):
                    name = item
                if name:
                    found.add(name)
        return found

    assert [d for d in differences if tables(d) & mine] == []
