"""The council file's address (L7 accommodation type), end (D1-D5 with the D8 written
notice) and charge (O4) rows read into commands, and their refusals naming row and field."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from mappings.council import decode
from register import commands as c
from register.model import AccommodationType, EndReason, NoticeMethod
from tests.builders import council_file

LA = "E06000019"
ANNE = "9990000018"

END = {"record": "end", "nhs_number": ANNE, "decision_date": "2027-06-01",
       "end_reasons": "no-longer-needed", "la_agreed_by": "A. Khan", "la_agreed_on":
       "2027-05-28", "icb_agreed_by": "B. Cole", "icb_agreed_on": "2027-06-01",
       "person_involved": "Y"}
NOTICE = {"notice_date": "2027-06-01", "notice_given_by": f"{LA};QGH", "notice_method": "post",
          "notice_document": "https://docs.example.gov.uk/s117/notice-42.pdf"}


def test_l7_an_address_row_carries_its_accommodation_type_and_placing_council():
    batch = decode(council_file({"record": "address", "nhs_number": ANNE,
                                 "address_from": "2026-01-05", "postcode": "SN1 1AA",
                                 "accommodation": "specified", "placed_by": LA}), LA)
    [cmd] = batch.groups[0].commands
    assert isinstance(cmd, c.UpdatePerson) and cmd.effective == date(2026, 1, 5)
    assert cmd.address.accommodation is AccommodationType.SPECIFIED
    assert (cmd.address.postcode, cmd.address.placed_by) == ("SN1 1AA", LA)


def test_l7_an_address_row_without_a_place_or_with_an_unknown_type_is_refused():
    batch = decode(council_file({"record": "address", "nhs_number": ANNE,
                                 "address_from": "2026-01-05", "accommodation": "s117"},
                                {"record": "address", "nhs_number": "9990000026",
                                 "address_from": "2026-01-05", "postcode": "SN1 1AA",
                                 "accommodation": "hostel"}), LA)
    assert [(r.row, r.field) for r in batch.rejected] == [(2, "postcode"),
                                                          (3, "accommodation")]


def test_d8_an_end_row_with_the_written_notice():
    [cmd] = decode(council_file({**END, **NOTICE}), LA).groups[0].commands
    assert isinstance(cmd, c.EndEntitlement) and cmd.reasons == (EndReason.NO_LONGER_NEEDED,)
    assert cmd.notice is not None and cmd.notice.given_by == [LA, "QGH"]
    assert cmd.notice.method is NoticeMethod.POST and cmd.notice.document_url.endswith(".pdf")
    [cmd] = decode(council_file(END), LA).groups[0].commands
    assert cmd.notice is None  # the register decides whether D8 needs it


def test_d8_a_notice_missing_a_column_is_refused_naming_it():
    partial = {**END, **NOTICE, "notice_method": ""}
    batch = decode(council_file(partial), LA)
    [report] = batch.rejected
    assert (report.row, report.field) == (2, "notice_method") and "D8" in report.reason


def test_o4_a_charge_row_and_its_refund():
    batch = decode(council_file({"record": "charge", "nhs_number": ANNE, "charge_id": "CH-7",
                                 "charged_from": "2024-01-01", "charged_to": "2024-12-31",
                                 "amount": "5200.00", "refunded_amount": "5461.30",
                                 "refunded_on": "2025-03-01"}), LA)
    [cmd] = batch.groups[0].commands
    assert isinstance(cmd, c.RecordCharge) and cmd.charge_id == f"{LA}-CH-7"
    assert (cmd.amount, cmd.refunded_amount) == (Decimal("5200.00"), Decimal("5461.30"))
    assert cmd.charged_by == LA  # the council sending the file, unless it says otherwise


def test_o4_a_charge_of_nothing_is_refused():
    batch = decode(council_file({"record": "charge", "nhs_number": ANNE, "charge_id": "CH-8",
                                 "charged_from": "2024-01-01", "amount": "0"}), LA)
    assert [(r.row, r.field) for r in batch.rejected] == [(2, "amount")]
