"""The council batch file read into command groups (mappings.council): documented columns,
whole-file refusals (header, encoding), row refusals that take the whole person with them,
deterministic command ids (re-importing changes nothing)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mappings.council import FileRefused, decode, plan_id_for
from mappings.council.schema import COLUMNS, HEADER
from register import commands as c
from tests.builders import council_file, plan_rows

LA = "E06000019"
ANNE, BEN = "9990000018", "9990000026"
ROOT = Path(__file__).resolve().parents[2]


def review_row(nhs: str, **more: str) -> dict[str, str]:
    return {"record": "review", "nhs_number": nhs, "review_on": "2024-06-20",
            "attendees": "Dee Patel (care coordinator, R1A);Sam Okoro (advocate)",
            "person_involved": "Y", "carer_involved": "Y", "outcome": "plan continues",
            "needs_still_arise": "Y", **more}


def test_a_good_file_becomes_one_group_of_commands_per_person():
    body = council_file(*plan_rows(ANNE), review_row(ANNE),
                        {"record": "or-decision", "nhs_number": BEN, "la": LA,
                         "decided_by": "OR team", "decided_on": "2024-04-02",
                         "evidence": "tenancy 2019-2024"},
                        {"record": "panel", "nhs_number": ANNE, "plan_id": "CP-1",
                         "line_id": "L1", "panel_outcome": "approved",
                         "panel_on": "2024-05-20", "panel_members": f"{LA};QGH"})
    batch = decode(body, LA)
    assert batch.rejected == [] and batch.row_count == 5
    anne, ben = batch.groups
    assert [type(x).__name__ for x in anne.commands] == ["RecordCarePlan", "RecordReview",
                                                          "RecordPanelDecision"]
    plan = anne.commands[0]
    assert isinstance(plan, c.RecordCarePlan)
    assert plan.plan_id == plan_id_for(LA, "CP-1") and plan.external_id == "CP-1"
    assert [str(s.percent) for s in plan.lines[0].funders] == ["60", "40"]
    assert anne.rows[0] == [2, 3] and anne.row_of(0, "lines[0].funders") == 3
    review = anne.commands[1]
    assert isinstance(review, c.RecordReview)
    assert [(a.name, a.role, a.organisation) for a in review.attendees] == [
        ("Dee Patel", "care coordinator", "R1A"), ("Sam Okoro", "advocate", None)]
    assert isinstance(ben.commands[0], c.RecordOrdinaryResidence)
    assert ben.commands[0].decided_by_org == LA


def test_command_ids_are_the_same_for_the_same_file_and_carry_no_nhs_number():
    body = council_file(*plan_rows(ANNE))
    first, again = decode(body, LA), decode(body, LA)
    ids = [x.command_id for g in first.groups for x in g.commands]
    assert ids == [x.command_id for g in again.groups for x in g.commands]
    assert not any(ANNE in i for i in ids)
    other = decode(council_file(*plan_rows(ANNE, cost="1500.00")), LA)
    assert ids != [x.command_id for g in other.groups for x in g.commands]


@pytest.mark.parametrize(("body", "says"), [
    (b"", "empty"),
    (b"record,nhs_number\n", "no rows"),
    (council_file(*plan_rows(ANNE), columns=(*HEADER, "colour")), "unknown column(s) colour"),
    (b"record,nhs_number,record\nplan,9990000018,plan\n", "repeated column(s) record"),
    (b"record,plan_id\nplan,CP-1\n", "missing column(s) nhs_number"),
    ("record,nhs_number,provider\nline,9990000018,Caf\xe9 Club\n".encode("latin-1"),
     "not UTF-8: byte 46 (line 2)"),
])
def test_a_file_with_a_wrong_header_or_encoding_is_refused_whole(body: bytes, says: str):
    with pytest.raises(FileRefused) as refused:
        decode(body, LA)
    assert says in str(refused.value)


def test_a_utf8_file_with_a_byte_order_mark_and_only_some_columns_is_read():
    columns = ("record", "nhs_number", "review_on", "person_involved", "needs_still_arise")
    body = "\ufeff".encode() + council_file(
        {"record": "review", "nhs_number": ANNE, "review_on": "2024-06-20",
         "person_involved": "Y", "needs_still_arise": "N"}, columns=columns)
    [group] = decode(body, LA).groups
    assert group.commands[0].needs_arise_from_disorder is False  # type: ignore[attr-defined]


@pytest.mark.parametrize(("row", "field", "says"), [
    ({"review_on": "20/06/2024"}, "review_on", "Not a valid date"),
    ({"person_involved": "maybe"}, "person_involved", "Not a valid boolean"),
    ({"plan_status": "active"}, "plan_status", "does not apply to a review row"),
    ({"needs_still_arise": ""}, "needs_still_arise", "is required for a review row"),
])
def test_a_bad_row_refuses_its_person_whole_with_the_row_and_field(row, field, says):
    body = council_file(*plan_rows(ANNE), review_row(ANNE, **row), *plan_rows(BEN, "CP-9"))
    batch = decode(body, LA)
    assert [g.nhs_number for g in batch.groups] == [BEN]  # the other person goes ahead
    reports = {r.row: r for r in batch.rejected}
    assert (reports[4].status, reports[4].field) == ("rejected", field)
    assert says in reports[4].reason
    assert [reports[2].status, reports[3].status] == ["not-applied", "not-applied"]
    assert "row 4" in reports[2].reason


@pytest.mark.parametrize(("rows", "row", "says"), [
    ([plan_rows(ANNE)[1]], 2, "has no plan row in this file"),
    ([*plan_rows(ANNE), plan_rows(ANNE)[1]], 4, "line L1 appears twice"),
    ([{**plan_rows(ANNE)[1], "funders": "E06000019:60"}], 2, "write CODE=PERCENT"),
    ([{"record": "dispute", "nhs_number": ANNE, "dispute_id": "OR-1",
       "dispute_status": "resolved", "parties": f"{LA};E06000030",
       "opened_on": "2024-06-01", "status_on": "2025-01-02"}], 2, "resolved_la"),
    ([{**plan_rows(ANNE)[0], "needs": "accommodation"}], 2, "need-code:Y"),
])
def test_rows_that_do_not_fit_together_are_refused_with_their_row(rows, row, says):
    batch = decode(council_file(*rows), LA)
    assert not batch.groups
    assert any(r.row == row and r.status == "rejected" and says in r.reason
               for r in batch.rejected), batch.rejected


def test_a_row_with_an_invalid_nhs_number_is_refused():
    [report] = decode(council_file(review_row("9990000019")), LA).rejected
    assert (report.row, report.field) == (2, "nhs_number")
    assert "check digit" in report.reason


def test_a_row_with_more_values_than_columns_is_refused():
    body = b"record,nhs_number,review_on\nreview,9990000018,2024-06-20,extra\n"
    [report] = decode(body, LA).rejected
    assert report.row == 2 and "more values than the header" in report.reason


def test_the_la_must_be_a_council_gss_code():
    with pytest.raises(FileRefused):
        decode(council_file(*plan_rows(ANNE)), "QGH")


def test_the_documented_columns_are_the_schemas():
    """docs/council.md lists every column of COLUMNS, in order, with the records it
    applies to."""
    doc = (ROOT / "docs" / "council.md").read_text(encoding="utf-8")
    doc = doc[doc.index("### Columns"):doc.index("### By AMQP")]
    listed = re.findall(r"^\| `([a-z_]+)` \| ([a-z\- ,]+) \|", doc, flags=re.M)
    assert [name for name, _ in listed] == list(HEADER)
    for (name, records), column in zip(listed, COLUMNS, strict=True):
        assert [r.strip() for r in records.split(",")] == list(column.records), name
