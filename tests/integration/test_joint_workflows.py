"""Issue 21: the joint workflows between the two responsible bodies, through the register
service and its store (SQLite and PostgreSQL): ending aftercare as a proposal and an answer
(D1), the events and Tasks each step leaves, the council file's new rows, and people's names
kept as dated history and found by family name and date of birth."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from mappings.council.feed import decode
from queues.inbound.council import apply
from register import commands as c
from register.casework import TaskKind, TaskStatus
from register.commands import Agent
from register.errors import CommandRefused, InvalidData, RuleViolation
from register.model import EndReason, PanelOutcome, PersonName
from register.nhs_number import synthetic
from register.store import database
from register.store.casework_views import TaskFilter
from register.store.orm import OutboxRow
from register.store.views import RegisterViews
from tests.builders import line
from tests.integration.test_casework_store import HEREFORDSHIRE, care_plan, entitled, views
from tests.integration.test_service_store import t

QGH = "QGH"  # NHS Herefordshire and Worcestershire ICB
COUNCIL = Agent(HEREFORDSHIRE, "la", "council file")


def review(nhs: str, on: date = date(2026, 11, 2), arise: bool = False) -> c.RecordReview:
    return c.RecordReview(command_id=f"review-{nhs}-{on}", nhs_number=nhs, entitlement_id=None,
                          on=on, needs_arise_from_disorder=arise, reviewed_by=HEREFORDSHIRE)


def propose(nhs: str, **more: object) -> c.ProposeEnd:
    values: dict[str, object] = dict(
        command_id=f"propose-{nhs}", nhs_number=nhs, proposal_id=f"P-{nhs}",
        entitlement_id=None, by_org=HEREFORDSHIRE, by_kind="la", by_name="Ann Lead",
        on=date(2026, 11, 3), review_on=date(2026, 11, 2),
        reasons=(EndReason.NO_LONGER_NEEDED,), person_involved=True)
    return c.ProposeEnd(**{**values, **more})  # type: ignore[arg-type]


def answer(nhs: str, agree: bool, **more: object) -> c.RespondToEndProposal:
    values: dict[str, object] = dict(
        command_id=f"answer-{nhs}-{agree}", nhs_number=nhs, proposal_id=f"P-{nhs}",
        agree=agree, by_org=QGH, by_kind="icb", by_name="Cal Commissioner",
        on=date(2026, 11, 10), reason="" if agree else "needs remain: see the review")
    return c.RespondToEndProposal(**{**values, **more})  # type: ignore[arg-type]


def events(engine) -> list[str]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return [r.event for r in session.scalars(select(OutboxRow).order_by(OutboxRow.id))]


def test_d1_an_end_is_proposed_by_one_body_and_ends_only_when_the_other_agrees(engine,
                                                                               service):
    nhs = synthetic(2101)
    entitled(service, nhs)
    service.handle(review(nhs))
    proposed = service.handle(propose(nhs))
    assert [e.event.value for e in proposed.events] == ["end-proposed"]
    assert proposed.events[0].icb == QGH, "the ICB's subscriptions hear it"
    _, found = views(engine).search_tasks(TaskFilter(codes=(TaskKind.END_PROPOSAL.value,),
                                                     owners=(QGH,)))
    assert len(found) == 1, "a Task owned by the body that must answer"
    person_id, key = found[0]
    work = views(engine).person_casework(person_id)
    task = work.casework.task(key)
    assert task.status is TaskStatus.REQUESTED and task.authored_on == date(2026, 11, 3)
    assert work.entitlements[-1].entitlement.status.value == "active", "nothing ended yet"

    # The proposer cannot answer its own proposal (D1: the other body decides).
    with pytest.raises(RuleViolation) as own:
        service.handle(answer(nhs, True, by_org=HEREFORDSHIRE, by_kind="la"))
    assert own.value.rule == "D1" and own.value.field == "by_org"
    agreed = service.handle(answer(nhs, True))
    assert "ended" in [e.event.value for e in agreed.events]
    work = views(engine).person_casework(person_id)
    ent = work.entitlements[-1].entitlement
    assert ent.status.value == "ended" and ent.ended_on == date(2026, 11, 10)
    assert work.casework.task(key).status is TaskStatus.COMPLETED
    decision = work.person.facts.end_decisions[-1]
    assert (decision.la_agreed_by, decision.icb_agreed_by) == ("Ann Lead", "Cal Commissioner")


def test_d1_a_declined_proposal_keeps_aftercare_and_says_why(engine, service):
    nhs = synthetic(2102)
    entitled(service, nhs)
    service.handle(review(nhs))
    service.handle(propose(nhs))
    with pytest.raises(InvalidData) as bare:
        service.handle(answer(nhs, False, reason=""))
    assert bare.value.field == "reason", "a refusal gives its reason"
    declined = service.handle(answer(nhs, False))
    assert [e.event.value for e in declined.events] == ["end-declined"]
    _, found = views(engine).search_tasks(TaskFilter(codes=(TaskKind.END_PROPOSAL.value,),
                                                     statuses=(TaskStatus.REJECTED.value,)))
    person_id, key = found[0]
    work = views(engine).person_casework(person_id)
    assert work.entitlements[-1].entitlement.status.value == "active"
    proposal = work.person.facts.end_proposal(f"P-{nhs}")
    assert proposal.response_reason == "needs remain: see the review"
    # Once answered it stays answered; a new proposal may follow.
    with pytest.raises(RuleViolation):
        service.handle(answer(nhs, True))
    service.handle(propose(nhs, command_id="again", proposal_id="P-again",
                           on=date(2026, 11, 12)))


def test_d1_only_the_proposer_withdraws_a_waiting_proposal(engine, service):
    nhs = synthetic(2104)
    entitled(service, nhs)
    service.handle(review(nhs))
    service.handle(propose(nhs))

    def withdraw(by: str, **more: object) -> c.WithdrawEndProposal:
        return c.WithdrawEndProposal(**{**dict(  # type: ignore[arg-type]
            command_id=f"withdraw-{by}", nhs_number=nhs, proposal_id=f"P-{nhs}", by_org=by,
            on=date(2026, 11, 4), reason="raised in error"), **more})

    with pytest.raises(RuleViolation) as other:
        service.handle(withdraw(QGH))
    assert (other.value.rule, other.value.field) == ("D1", "by_org")
    done = service.handle(withdraw(HEREFORDSHIRE))
    assert [e.event.value for e in done.events] == ["end-withdrawn"]
    _, found = views(engine).search_tasks(TaskFilter(codes=(TaskKind.END_PROPOSAL.value,),
                                                     statuses=(TaskStatus.CANCELLED.value,)))
    assert len(found) == 1
    # Withdrawn: not answered, and a new proposal may follow at once.
    with pytest.raises(RuleViolation) as late:
        service.handle(answer(nhs, True))
    assert late.value.rule == "D1" and "withdrawn" in str(late.value)
    assert service.handle(withdraw(HEREFORDSHIRE, command_id="again")).events == []
    service.handle(propose(nhs, command_id="new", proposal_id="P-new", on=date(2026, 11, 5)))


@pytest.mark.parametrize("change, rule, field", [
    (dict(review_on=date(2026, 10, 1)), "D1", "review_on"),  # no review that day
    (dict(reasons=(EndReason.TIME_ELAPSED,)), "D3", "reason"),
    (dict(person_involved=False), "D1", "person-involved"),
    (dict(by_org="E06000030"), "D1", "by_org"),  # not a responsible body
])
def test_a_proposal_is_refused_by_every_rule_but_the_other_bodys_agreement(
        engine, service, change, rule, field):
    nhs = synthetic(2103)
    entitled(service, nhs)
    service.handle(review(nhs))
    with pytest.raises(RuleViolation) as refused:
        service.handle(propose(nhs, **change))
    assert (refused.value.rule, refused.value.field) == (rule, field)
    assert "end-proposed" not in events(engine)


def test_d1_the_latest_review_finding_needs_still_arise_refuses_no_longer_needed(engine,
                                                                               service):
    nhs = synthetic(2104)
    entitled(service, nhs)
    service.handle(review(nhs, arise=True))
    with pytest.raises(RuleViolation) as refused:
        service.handle(propose(nhs))
    assert refused.value.rule == "D1" and "needs" in refused.value.message


def test_the_council_file_carries_proposals_answers_and_reinstatement(engine, service):
    nhs = synthetic(2105)
    entitled(service, nhs)
    service.handle(review(nhs))
    # The ICB proposes (e.g. on the pages); the council answers in its nightly file.
    service.handle(propose(nhs, by_org=QGH, by_kind="icb", by_name="Cal Commissioner"))
    body = ("record,nhs_number,proposal_id,agreed,decided_by,decided_on,note\n"
            f"end-response,{nhs},P-{nhs},Y,Ann Lead,2026-11-10,\n").encode()
    batch = decode(body, HEREFORDSHIRE)
    assert not batch.rejected
    service.handle_all(batch.groups[0].commands)
    back = ("record,nhs_number,decided_on,note\n"
            f"reinstatement,{nhs},2026-11-20,relapsed soon after the end (D6)\n").encode()
    again = decode(back, HEREFORDSHIRE)
    outcomes = service.handle_all(again.groups[0].commands)
    assert "reinstated" in [e.event.value for o in outcomes for e in o.events]
    # A council's own proposal, refused in the file as in the API (D3, named by row).
    nhs2 = synthetic(2106)
    entitled(service, nhs2)
    service.handle(review(nhs2))
    row = ("record,nhs_number,proposal_id,review_on,end_reasons,person_involved,decided_by,"
           f"decided_on\nend-proposal,{nhs2},END-1,2026-11-02,time-elapsed,Y,Ann Lead,"
           "2026-11-03\n").encode()
    [group] = decode(row, HEREFORDSHIRE).groups
    with pytest.raises(CommandRefused) as refused:
        service.handle_all(group.commands)
    assert refused.value.rule == "D3"
    unknown = decode(row.replace(b"time-elapsed", b"bored"), HEREFORDSHIRE)
    assert unknown.rejected and "end_reasons" in unknown.rejected[0].reason


def test_the_council_file_withdraws_its_own_proposal_and_names_row_and_field_otherwise(
        engine, service):
    nhs = synthetic(2108)
    entitled(service, nhs)
    service.handle(review(nhs))
    service.handle(propose(nhs, command_id=f"own-{nhs}", proposal_id=f"{HEREFORDSHIRE}-END-2"))
    head = "record,nhs_number,proposal_id,decided_on,note\n"

    def send(row: str) -> list:  # type: ignore[type-arg]
        return apply(service, decode((head + row).encode(), HEREFORDSHIRE), COUNCIL)

    reports = send(f"end-withdrawal,{nhs},END-2,2026-11-05,the person's needs changed\n")
    assert [(r.status, r.row) for r in reports] == [("accepted", 2)]
    assert "end-withdrawn" in events(engine)
    before = events(engine)
    # Already withdrawn, then the ICB's own proposal (only the proposer withdraws): D1,
    # named by the file's row and column, and nothing recorded.
    [again] = send(f"end-withdrawal,{nhs},END-2,2026-11-06,\n")
    assert (again.status, again.row, again.field) == ("rejected", 2, "proposal_id")
    assert "only a proposal still waiting" in again.reason
    assert events(engine) == before
    service.handle(propose(nhs, by_org=QGH, by_kind="icb", by_name="Cal Commissioner"))
    before = events(engine)
    [theirs] = send(f"end-withdrawal,{nhs},P-{nhs},2026-11-05,\n")
    assert (theirs.status, theirs.row, theirs.field) == ("rejected", 2, "proposal_id")
    assert "only the body that proposed" in theirs.reason
    assert events(engine) == before


def test_names_are_kept_as_dated_history_and_found_with_the_date_of_birth(engine, service):
    nhs = synthetic(2107)
    entitled(service, nhs)
    for day, family in (("2024-01-01", "O'Brien"), ("2025-06-01", "Okafor-Smith")):
        service.handle(c.UpdatePerson(
            command_id=f"name-{family}", nhs_number=nhs, occurred_at=t(day),
            date_of_birth=date(1980, 3, 31), name=PersonName(family, ["Mary", "Jo"])))
    found = RegisterViews(database.session_factory(engine))
    [person_id] = found.person_ids_by_nhs_number((nhs,))
    assert found.person_ids_by_name("okafor smith", date(1980, 3, 31)) == [person_id]
    assert found.person_ids_by_name("O'Brien", date(1980, 3, 31)) == [], "current name only"
    assert found.person_ids_by_name("Okafor-Smith", date(1980, 3, 30)) == []
    facts = found.person(person_id).facts
    assert [n.name.family for n in facts.names] == ["O'Brien", "Okafor-Smith"]
    assert facts.current_name().text == "Mary Jo Okafor-Smith"


def test_a_panel_decision_without_a_request_date_has_no_negative_wait(engine, service):
    """The export showed days_to_decision = -3810 for a decision dated before the register
    was told of the plan: with no request date the wait is unknown (blank), never negative."""
    from register.joint_register import rows_for
    from register.refdata.sql import SqlRefData

    nhs = synthetic(2108)
    entitled(service, nhs)
    service.handle(care_plan(nhs, line("L1", "supported-accommodation", cost="900"),
                             cid="p-2108", plan_id="P-2108"))
    service.handle(c.RecordPanelDecision(
        command_id="panel-2108", nhs_number=nhs, plan_id="P-2108", line_id="L1",
        outcome=PanelOutcome.APPROVED, decided_on=date(2016, 5, 20), members=(HEREFORDSHIRE,)))
    [person_id] = RegisterViews(database.session_factory(engine)).person_ids_by_nhs_number(
        (nhs,))
    work = views(engine).person_casework(person_id)
    stored = work.entitlements[-1]
    _, services = rows_for(work.person.facts, stored.entitlement, stored.residence_la,
                           stored.next_review_due, work.casework, date(2026, 11, 22),
                           SqlRefData(database.session_factory(engine)))
    assert [s.days_to_decision for s in services] == [None]


def test_d8_with_the_notice_rule_in_force_the_agreement_carries_the_written_notice(engine):
    """Issue 19's D8 (MHA 2025 s46(2)), switched on from 2026-11-01: an agreement without
    the joint written notice is refused naming D8; with it, aftercare ends and the notice is
    kept with the decision."""
    from register.model import NoticeMethod, WrittenNotice
    from register.refdata.sql import SqlRefData
    from register.rules.ports import Commencement, LocalityPolicy
    from register.service import RegisterService
    from register.store.uow import SqlUnitOfWork
    from tests.conftest import TODAY

    sessions = database.session_factory(engine)
    policy = LocalityPolicy(rule_sets={"mha-2025-s46-notice": Commencement(
        date(2026, 11, 1))})
    service = RegisterService(lambda: SqlUnitOfWork(sessions), SqlRefData(sessions), policy,
                              today=lambda: TODAY)
    nhs = synthetic(2109)
    entitled(service, nhs)
    service.handle(review(nhs))
    service.handle(propose(nhs))
    with pytest.raises(RuleViolation) as refused:
        service.handle(answer(nhs, True))
    assert refused.value.rule == "D8"
    notice = WrittenNotice(date(2026, 11, 10), [HEREFORDSHIRE, QGH], NoticeMethod.POST,
                           "Letter: your s117 aftercare ends")
    service.handle(answer(nhs, True, command_id="answer-with-notice", notice=notice))
    [person_id] = RegisterViews(sessions).person_ids_by_nhs_number((nhs,))
    decision = views(engine).person_casework(person_id).person.facts.end_decisions[-1]
    assert decision.notice == notice
