"""The holder timeline on a real store, SQLite and PostgreSQL (RULES.md N2, N3, N5b, N6):
GP changes from person updates re-derive it, `responsibility-changed` goes out only when a
holder changes, the segments are stored in `holder_segment` as the rules give them, and a
succession file is refused whole when a row is bad."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from register import commands as c
from register.errors import InvalidData
from register.events import EventType
from register.nhs_number import synthetic
from register.refdata.load import load_sub_icb_parents, load_succession
from register.store.database import session_factory
from register.store.orm import HolderSegmentRow
from register.store.refdata_tables import OrgSuccession
from tests.conftest import empty_register, table_dump
from tests.integration.test_service_store import admit, ask, discharge, t


def gp(nhs: str, practice: str, day: str, cid: str, effective: bool = True) -> c.UpdatePerson:
    return c.UpdatePerson(command_id=cid, nhs_number=nhs, occurred_at=t(day),
                          gp_practice=practice,
                          effective=date.fromisoformat(day) if effective else None)


def changed(outcome) -> list:  # type: ignore[no-untyped-def]
    return [e for e in outcome.events if e.event is EventType.RESPONSIBILITY_CHANGED]


def test_person_updates_re_derive_the_timeline_and_announce_only_holder_changes(engine,
                                                                                 service, uow):
    nhs = synthetic(9100)
    service.handle(admit(nhs, "T1", day="2014-01-06"))
    service.handle(discharge(nhs, "T1", day="2014-03-03"))
    moved = service.handle(gp(nhs, "Z20001", "2015-01-05", "gp-1"))  # N2: 18C -> 92G
    assert [e.effective for e in changed(moved)] == [date(2015, 1, 5)]
    same_ccg = service.handle(gp(nhs, "Z10002", "2023-02-01", "gp-2"))  # after 2022: N5b fixed
    assert changed(same_ccg) == []
    no_date = service.handle(gp(nhs, "Z40001", "2016-06-01", "gp-3", effective=False))
    # Frozen at 92G to 2022-06-30 (N3), but the registration on 2022-07-01 is now 03L (N5b).
    assert [(e.effective, e.icb) for e in changed(no_date)] == [(date(2022, 7, 1), "QF7")]
    with Session(engine) as session:
        rows = session.scalars(select(HolderSegmentRow).order_by(HolderSegmentRow.seq)).all()
        segments = [(r.valid_from, r.valid_to, r.icb, r.nhs_rule) for r in rows]
    assert segments == [
        (date(2014, 1, 6), date(2015, 1, 4), "18C", "N2"),
        (date(2015, 1, 5), date(2016, 3, 31), "92G", "N2"),
        (date(2016, 4, 1), date(2022, 6, 30), "92G", "N3"),
        (date(2022, 7, 1), None, "QF7", "N5b")]  # GP Z40001 (03L) from 2016-06-01
    answer = ask(engine, uow, nhs)
    assert any("message time (no effective date was sent)" in b.reason for b in answer.basis)


def test_a_bad_succession_or_sub_icb_file_changes_nothing(engine, tmp_path: Path):
    sessions = session_factory(engine)
    before = table_dump(engine)
    def chains() -> list[tuple[str, str, date]]:
        with sessions() as session:
            return sorted(session.execute(select(
                OrgSuccession.org_code, OrgSuccession.target_code, OrgSuccession.legal_date)))

    loaded = chains()
    good_then_bad = tmp_path / "succession.csv"
    good_then_bad.write_text("org_code,target_code,type,legal_start_date,target_name\n"
                             "QGH,X27HW,Successor,2027-04-01,NHS test ICB\n"
                             "X27HW,QGH,Predecessor,2027-04-01,\n"
                             "QHL,QGH,Successor,2027-13-01,\n")
    with sessions() as session, pytest.raises(InvalidData) as refused:
        load_succession(session, good_then_bad)
    assert "row 4" in str(refused.value) and refused.value.field == "legal_start_date"
    parents = tmp_path / "parents.csv"
    parents.write_text("sub_icb_code,icb_code,valid_from\n18C,QOX,2027-04-01\n"
                       "ZZZ,QOX,2027-04-01\n")
    with sessions() as session, pytest.raises(InvalidData) as refused:
        load_sub_icb_parents(session, parents)
    assert "row 3" in str(refused.value) and refused.value.field == "sub_icb_code"
    assert table_dump(engine) == before and chains() == loaded


def test_caseload_as_of_a_date_reads_the_holder_timeline(engine, service):
    """The joint register as of D (`s117 export register --date`) finds who held the duty on
    D: the CCG in 2018 (N3 freeze), the ICB of 2022-07-01 today (N5b)."""
    from register.store.views import EntitlementFilter, RegisterViews

    nhs = synthetic(9110)
    service.handle(admit(nhs, "T2", day="2015-06-01", gp="Z20001", postcode="SN1 1AA"))
    service.handle(discharge(nhs, "T2", day="2015-09-01"))
    service.handle(gp(nhs, "Z40001", "2019-01-07", "gp-as-of"))
    views = RegisterViews(session_factory(engine))

    def held(icb: str, day: date) -> int:
        return views.search_entitlements(EntitlementFilter(icbs=(icb,), held_on=day))[0]

    assert held("92G", date(2018, 1, 1)) == 1 and held("QF7", date(2018, 1, 1)) == 0
    assert held("QF7", date(2026, 1, 1)) == 1 and held("92G", date(2026, 1, 1)) == 0
    assert held("92G", date(2015, 5, 31)) == 0  # not yet entitled


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(range(4)))
def test_person_updates_in_any_order_give_the_same_stored_timeline(engine, service, order):
    """Replaying a person's history in any order that keeps each stay's admission before its
    discharge gives the same holder timeline (N2, N3, N5b from dated GP changes)."""
    empty_register(engine)
    nhs = synthetic(9120)
    updates = [gp(nhs, practice, day, f"o-{i}") for i, (practice, day) in enumerate(
        [("Z20001", "2014-06-02"), ("Z30001", "2015-03-02"), ("Z40001", "2019-05-01"),
         ("Z10002", "2023-01-09")])]
    stay = [admit(nhs, "T3", day="2013-09-02"), discharge(nhs, "T3", day="2013-12-02")]
    for cmd in [updates[i] for i in order[:2]] + stay + [updates[i] for i in order[2:]]:
        service.handle(cmd)
    with Session(engine) as session:
        rows = session.scalars(select(HolderSegmentRow).order_by(HolderSegmentRow.seq)).all()
        segments = [(r.valid_from, r.icb, r.nhs_rule) for r in rows]
    assert segments == [(date(2013, 9, 2), "18C", "N2"), (date(2014, 6, 2), "92G", "N2"),
                        (date(2015, 3, 2), "11M", "N2"), (date(2016, 4, 1), "11M", "N3"),
                        (date(2022, 7, 1), "QF7", "N5b")]
