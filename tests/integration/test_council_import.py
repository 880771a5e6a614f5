"""The council batch feed applied through the register service on a real store (SQLite and
PostgreSQL): good, bad and repeated files; all or nothing per person; nothing partial."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from mappings.council import decode, plan_id_for
from queues.inbound.council import apply
from register.commands import Agent
from register.nhs_number import synthetic
from register.store.casework_tables import CarePlanRow
from register.store.orm import PersonRow
from tests.builders import council_file, plan_rows
from tests.conftest import table_dump
from tests.integration.test_service_store import admit, ask, discharge

LA = "E06000019"
AGENT = Agent(LA, "la", "council file")


def entitled(service, nhs: str) -> None:  # type: ignore[no-untyped-def]
    ref = f"C{nhs[-5:]}"
    service.handle(admit(nhs, ref=ref))
    service.handle(discharge(nhs, ref=ref))


def statuses(reports) -> dict[int, str]:  # type: ignore[no-untyped-def]
    return {r.row: r.status for r in reports}


def test_a_good_file_is_applied_and_the_same_file_again_changes_nothing(engine, service, uow):
    anne, ben = synthetic(80), synthetic(81)
    entitled(service, anne)
    entitled(service, ben)
    body = council_file(
        *plan_rows(anne),
        {"record": "review", "nhs_number": anne, "review_on": "2024-06-20",
         "person_involved": "Y", "needs_still_arise": "Y", "attendees": "Dee Patel (care "
         "coordinator, R1A)"},
        {"record": "or-decision", "nhs_number": ben, "la": "E06000030",
         "decided_by": "OR team", "decided_on": "2024-04-02", "evidence": "tenancy"},
        {"record": "panel", "nhs_number": anne, "plan_id": "CP-1", "line_id": "L1",
         "panel_outcome": "approved", "panel_on": "2024-05-20", "panel_members": f"{LA};QGH"})
    reports = apply(service, decode(body, LA), AGENT)
    assert set(statuses(reports).values()) == {"accepted"} and len(reports) == 5
    with Session(engine) as session:
        plan = session.get(CarePlanRow, plan_id_for(LA, "CP-1"))
        assert plan is not None and plan.snapshot["lines"][0]["panel"] == "approved"
    assert ask(engine, uow, ben).local_authority == "E06000030"  # the OR decision (L1)
    assert ask(engine, uow, anne).next_review_due == date(2025, 6, 20)  # R2 after the review
    before = table_dump(engine)
    again = apply(service, decode(body, LA), AGENT)
    assert set(statuses(again).values()) == {"unchanged"}
    assert table_dump(engine) == before


def test_a_bad_row_refuses_that_person_whole_and_the_others_go_ahead(engine, service):
    anne, ben = synthetic(82), synthetic(83)
    entitled(service, anne)
    entitled(service, ben)
    with Session(engine) as session:
        facts_before = session.scalar(select(PersonRow.facts).where(
            PersonRow.nhs_number == anne))
    body = council_file(*plan_rows(anne, funders="E06000019=60;QGH=30"), *plan_rows(ben))
    reports = statuses(apply(service, decode(body, LA), AGENT))
    assert reports == {2: "not-applied", 3: "rejected", 4: "accepted", 5: "accepted"}
    with Session(engine) as session:
        assert session.scalar(select(PersonRow.facts).where(
            PersonRow.nhs_number == anne)) == facts_before
        assert session.get(CarePlanRow, plan_id_for(LA, "CP-1")) is not None  # ben's


def test_a_rule_broken_by_one_row_is_reported_on_that_row_with_the_rule(engine, service):
    nhs = synthetic(84)
    entitled(service, nhs)
    body = council_file(*plan_rows(nhs, service="medication", funders="E06000019=100"),
                        {"record": "review", "nhs_number": nhs, "review_on": "2024-06-20",
                         "person_involved": "Y", "needs_still_arise": "Y"})
    before = table_dump(engine)
    reports = apply(service, decode(body, LA), AGENT)
    refused = next(r for r in reports if r.status == "rejected")
    assert refused.row == 3 and "rule F3" in refused.reason  # the line's row, not the plan's
    assert statuses(reports) == {2: "not-applied", 3: "rejected", 4: "not-applied"}
    assert table_dump(engine) == before


def test_a_dispute_opened_in_one_file_and_resolved_in_a_later_one(engine, service, uow):
    nhs = synthetic(85)
    entitled(service, nhs)
    dispute = {"record": "dispute", "nhs_number": nhs, "dispute_id": "OR-17",
               "dispute_status": "open", "parties": f"{LA};E06000030",
               "opened_on": "2024-06-01"}
    assert statuses(apply(service, decode(council_file(dispute), LA), AGENT)) == \
        {2: "accepted"}
    assert any(r.startswith("L5") for r in ask(engine, uow, nhs).needs_review)
    resolved = {**dispute, "dispute_status": "resolved", "status_on": "2025-01-02",
                "resolved_la": "E06000030", "note": "Secretary of State determination"}
    assert statuses(apply(service, decode(council_file(resolved), LA), AGENT)) == \
        {2: "accepted"}
    answer = ask(engine, uow, nhs)
    assert answer.local_authority == "E06000030"
    assert not any(r.startswith("L5") for r in answer.needs_review)
    # Tomorrow's extract (another file: its columns in another order) sends the resolved
    # dispute again: only the inbox learns the new command ids, nothing else changes.
    before = table_dump(engine)
    nightly = council_file(resolved, columns=tuple(reversed(list(resolved))))
    assert set(statuses(apply(service, decode(nightly, LA), AGENT)).values()) == {"accepted"}
    after = table_dump(engine)
    assert {k: v for k, v in after.items() if k != "inbox"} == \
        {k: v for k, v in before.items() if k != "inbox"}
