"""HL7 v2 ADT -> register commands (issue 4, Build 1): the NHS ITK samples, the project's ZMH
segment, ZU5, per-trust profiles (OBX, own Z segment), and every refusal saying what and
where with the right ACK code."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import hl7
import pytest

from mappings.hl7v2 import adt, message, profiles
from mappings.hl7v2.ack import ack
from mappings.hl7v2.errors import Hl7Problem
from queues.inbound import trust_profiles
from register import commands as c
from register.errors import InvalidData
from register.nhs_number import synthetic
from tests.hl7v2_messages import admission, itk, pv1, seg, zmh
from tests.hl7v2_messages import adt as build

NHS = synthetic(4100)
PROFILES = trust_profiles.Profiles()


def decode(raw: bytes) -> adt.Decoded:
    parsed = message.read(raw)
    return adt.decode(parsed, PROFILES.for_sender(parsed.sender))


def problem(raw: bytes) -> Hl7Problem:
    with pytest.raises(Hl7Problem) as info:
        decode(raw)
    return info.value


# -- the NHS ITK samples -------------------------------------------------------------------

def test_itk_a01_is_an_admission_with_the_stay_address_and_gp() -> None:
    decoded = decode(itk("A01_example.hl7"))
    assert decoded.message_key == "hl7v2:RCB:1391320453338055"
    assert decoded.nhs_number == "9990047308"
    person, admit = decoded.commands
    assert isinstance(person, c.UpdatePerson) and person.date_of_birth == date(1965, 12, 13)
    assert isinstance(admit, c.Admit)
    assert (admit.trust_ods, admit.stay_ref) == ("RCB", "2139")
    assert admit.admitted_at == datetime(2010, 10, 20, 17, 16)
    assert admit.legal_status is None  # the ITK sample carries no ZU5/ZMH: informal
    assert admit.gp_practice == "Y06601"
    assert admit.residence_before is not None
    assert admit.residence_before.postcode == "YO32 5TT"
    assert admit.residence_before.lines[:2] == ["29 WEST AVENUE", "BURYTHORPE"]
    assert [x.command_id for x in decoded.commands] == [
        "hl7v2:RCB:1391320453338055:0", "hl7v2:RCB:1391320453338055:1"]


def test_itk_a03_a04_a08_a40() -> None:
    [discharge] = decode(itk("A03_example.hl7")).commands
    assert isinstance(discharge, c.Discharge)
    assert discharge.stay_ref == "YOR123456"
    assert discharge.discharged_at == datetime(2010, 10, 21, 17, 6)
    [register] = decode(itk("A04_example.hl7")).commands  # outpatient class: demographics
    assert isinstance(register, c.UpdatePerson) and register.gp_practice == "Y06601"
    [update] = decode(itk("A08_example.hl7")).commands
    assert isinstance(update, c.UpdatePerson) and update.effective == date(2010, 11, 8)
    # The ITK A40 merges two local identifiers (MRG-1 LOCALID): the NHS number, the
    # register's key, does not change, so there is nothing to apply.
    assert decode(itk("A40_Example.hl7")).commands == []


def test_itk_samples_with_an_impossible_birth_date_are_refused_naming_the_field() -> None:
    # The published A28 and A31 examples give PID-7 as 1965-13-12 (month 13).
    for name in ("A28_Example.hl7", "A31_example.hl7"):
        found = problem(itk(name))
        assert (found.ack, found.code, str(found.where)) == ("AE", 102, "PID-7")
        assert "196513121515" in found.reason


def test_itk_a05_pre_admission_is_not_taken() -> None:
    found = problem(itk("A05_Example.hl7"))
    assert (found.ack, found.code, found.kind) == ("AR", 201, "unsupported-event")
    assert "A05" in found.reason


def test_lf_or_crlf_segment_ends_read_like_cr() -> None:
    cr = itk("A01_example.hl7")
    assert decode(cr.replace(b"\r", b"\n")) == decode(cr) == decode(cr.replace(b"\r", b"\r\n"))


# -- ZMH, ZU5, and what each event becomes ------------------------------------------------

def test_a01_with_zmh_section_3_admits_with_the_normalised_code() -> None:
    [_, admit] = decode(admission(NHS, "M1", code="3")).commands
    assert isinstance(admit, c.Admit)
    assert (admit.legal_status, admit.legal_status_start) == ("03", datetime(2025, 1, 10, 10))


def test_zmh_7_carries_the_part_2_application_date_for_rule_n5() -> None:
    """SI 2022/635 reg 5: the ICB is fixed when the application was made (ZMH-7)."""
    raw = build("A01", "M7", NHS, pv1("V-7"), zmh("2", "20250110100000") + "|20250108",
                zmh("3", "20250117090000") + "|20250116")
    _, admit, change = decode(raw).commands
    assert isinstance(admit, c.Admit) and admit.application_on == date(2025, 1, 8)
    assert isinstance(change, c.ChangeLegalStatus) and change.application_on == date(2025, 1, 16)
    [_, plain] = decode(admission(NHS, "M8")).commands
    assert plain.application_on is None  # type: ignore[union-attr]


@pytest.mark.parametrize(("evn", "effective", "dated_by"), [
    ({2: "20250110100000", 6: "20240301000000"}, date(2024, 3, 1), "EVN-6"),
    ({2: "20250105100000"}, date(2025, 1, 5), "EVN-2"),
    ({1: "A31"}, date(2025, 1, 10), "MSH-7 message time")])
def test_a31_gp_change_is_dated_from_evn_6_else_evn_2_else_msh_7_and_says_so(
        evn: dict[int, str], effective: date, dated_by: str) -> None:
    """DESIGN.md HL7 v2 in: the effective date of a GP or address change (RULES.md N2, N5)."""
    text = build("A31", "M9", NHS).decode().split("\r")
    text[1] = seg("EVN", evn)
    [update] = decode("\r".join(text).encode()).commands
    assert isinstance(update, c.UpdatePerson) and update.gp_practice == "Z10001"
    assert update.effective == effective and update.dated_by.startswith(dated_by)


def test_zmh_sequence_events_or_la_and_restriction() -> None:
    raw = build("A01", "M2", NHS, pv1("V-2"), zmh("2", "20250110100000"),
                zmh("37", "20250117090000", or_la="E06000019", restricted="Y"),
                zmh("", "20250301120000", event="CTO-START"))
    _, admit, change, cto = decode(raw).commands
    assert isinstance(admit, c.Admit) and admit.legal_status == "02"
    assert isinstance(change, c.ChangeLegalStatus)
    assert (change.code, change.restricted, change.or_la) == ("37", True, "E06000019")
    assert isinstance(cto, c.StartCto) and cto.at == datetime(2025, 3, 1, 12)


def test_zu5_admission_and_census_status_with_legacy_code() -> None:
    raw = build("A01", "M3", NHS, pv1("V-3"), seg("ZU5", {2: "2", 3: "34", 5: "20250115"}))
    _, admit, change = decode(raw).commands
    assert isinstance(admit, c.Admit) and admit.legal_status == "02"
    assert isinstance(change, c.ChangeLegalStatus)
    assert (change.code, change.start) == ("37", datetime(2025, 1, 15))  # legacy 34 is s45A


@pytest.mark.parametrize(("event", "kind"), [
    ("A11", c.CancelAdmission), ("A13", c.CancelDischarge), ("A21", c.StartLeave),
    ("A22", c.EndLeave)])
def test_stay_events(event: str, kind: type) -> None:
    [cmd] = decode(build(event, "M4", NHS, pv1("V-4"))).commands
    assert isinstance(cmd, kind) and cmd.stay_ref == "V-4" and cmd.trust_ods == "RLQ"


def test_a08_with_zmh_changes_legal_status_and_a02_too() -> None:
    update = decode(build("A08", "M5", NHS, pv1("V-5"), zmh("3", "20250112000000"))).commands
    assert [type(x) for x in update] == [c.UpdatePerson, c.ChangeLegalStatus]
    transfer = decode(build("A02", "M6", NHS, pv1("V-5"), zmh("3", "20250112000000")))
    assert [type(x) for x in transfer.commands] == [c.ChangeLegalStatus]
    assert decode(build("A12", "M7", NHS, pv1("V-5"))).commands == []


def test_a40_retires_the_mrg_nhs_number_and_a_death_is_recorded() -> None:
    retired = synthetic(4101)
    [merge] = decode(build("A40", "M8", NHS, seg("MRG", {1: f"{retired}^^^NHS"}))).commands
    assert isinstance(merge, c.MergePatient) and merge.retired_nhs_number == retired
    died = build("A31", "M9", NHS, pid={1: "1", 3: f"{NHS}^^^NHS", 29: "20250401"})
    assert [type(x) for x in decode(died).commands] == [c.UpdatePerson, c.RecordDeath]


def test_nhs_number_with_or_without_type_among_other_identifiers() -> None:
    for pid3 in (f"123^^^RLQ^MR~{NHS}^^^NHS^NH", f"{NHS}^^^NHS", f"{NHS}^^^NHS^HN"):
        raw = build("A31", "M10", NHS, pid={1: "1", 3: pid3, 7: "19800501"})
        assert decode(raw).nhs_number == NHS
    local_only = build("A31", "M11", NHS, pid={1: "1", 3: "123^^^RLQ^MR", 7: "19800501"})
    assert problem(local_only).kind == "missing-nhs-number"


# -- per-trust profiles ----------------------------------------------------------------------

def test_obx_profile_maps_local_codes_and_another_visit_field() -> None:
    raw = build("A01", "P1", NHS, seg("PV1", {1: "1", 2: "I", 44: "20250110100000",
                                              50: "ALT-9"}),
                seg("OBX", {1: "1", 2: "CE", 3: "MHA-LS^Legal status", 5: "S3",
                            14: "20250111080000"}), sender="ZT001")
    _, admit = decode(raw).commands
    assert isinstance(admit, c.Admit)
    assert (admit.stay_ref, admit.legal_status) == ("ALT-9", "03")
    assert admit.legal_status_start == datetime(2025, 1, 11, 8)


def test_own_z_segment_profile_and_local_event_words() -> None:
    raw = build("A08", "P2", NHS, pv1("V-6"), "ZLS|1|10|20250110100000|||N",
                "ZLS|2||20250301120000||CTO|N", sender="ZT002",
                pid={1: "1", 3: f"{NHS}^^^NHSNBR"})
    _, change, cto = decode(raw).commands
    assert isinstance(change, c.ChangeLegalStatus) and change.code == "10"
    assert isinstance(cto, c.StartCto)


def test_shipped_profiles_are_valid_and_distinct() -> None:
    shipped = PROFILES.all()
    assert {"ZT001", "ZT002"} <= set(shipped)
    for path in trust_profiles.SHIPPED.glob("*.yaml"):
        assert trust_profiles.load_file(path).senders


def test_profile_schema_errors_name_the_key() -> None:
    with pytest.raises(InvalidData) as info:
        profiles.parse({"name": "x", "senders": ["rlq!"], "stay_id": "PV1.19",
                        "legal_status": {"codes": {"S3": "77"},
                                         "segments": [{"name": "ABC"}]}}, "bad.yaml")
    text = str(info.value)
    assert "senders.0" in text and "stay_id" in text
    assert "legal_status.codes.S3" in text and "'77' is not an England" in text
    assert "legal_status.segments.0.name" in text
    with pytest.raises(InvalidData, match="name: Missing data"):
        profiles.parse({"senders": ["RLQ"]})


def test_a_second_profile_for_the_same_sender_is_refused(tmp_path: Path) -> None:
    (tmp_path / "dup.yaml").write_text("name: again\nsenders: [ZT001]\n")
    with pytest.raises(InvalidData, match="ZT001 is already mapped"):
        trust_profiles.Profiles(tmp_path).for_sender("ZT001")


def test_a_broken_profile_edit_keeps_the_last_good_set(tmp_path: Path) -> None:
    site = trust_profiles.Profiles(tmp_path)
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nsenders: [RX9]\nlegal_status: {codes: {S3: '03'}}\n")
    assert site.for_sender("RX9").codes == {"S3": "03"}
    path.write_text("name: mine\nsenders: [RX9]\nlegal_status: {codes: {S3: '77'}}\n")
    import os
    os.utime(path, (1, 1))  # a different modification time, as an edit makes
    assert site.for_sender("RX9").codes == {"S3": "03"}


# -- refusals: AE for content, AR for what is not taken -------------------------------------

@pytest.mark.parametrize(("raw", "code", "number", "where"), [
    (build("A01", "E1", None, pv1("V")), "AE", 100, "PID"),
    (build("A01", "E2", "9990000019", pv1("V")), "AE", 102, "PID-3.1"),
    (build("A01", "E3", NHS, pv1("V"), zmh("77", "20250110100000")), "AE", 103, "ZMH-1"),
    (build("A01", "E4", NHS, pv1("")), "AE", 101, "PV1-19"),
    (build("A01", "E5", NHS, pv1("V"), zmh("3", "")), "AE", 101, "ZMH-2"),
    (build("A01", "E6", NHS, pv1("V"), zmh("", "20250110100000", event="HOLIDAY")), "AE",
     103, "ZMH-4"),
    (build("A99", "E7", NHS, pv1("V")), "AR", 201, "MSH-9.2"),
    (build("A01", "E8", NHS, pv1("V"), version="2.3"), "AR", 203, "MSH-12"),
    (build("A01", "E9", NHS, pv1("V"), sender="r&d trust"), "AE", 102, "MSH-4"),
    (build("A01", "", NHS, pv1("V")), "AE", 101, "MSH-10"),
    (b"MSH|^~&\\|PAS|RLQ|||2025||ADT^A01|E10|P|2.4\rPID|1", "AR", 102, "MSH-2"),
    (b"MSH|^^^^|PAS|RLQ|||2025||ADT^A01|E11|P|2.4\r", "AR", 102, "MSH-2"),
    (b"\x00\xff\xfegarbage\x01", "AR", 102, "MSH-18"),
    (b"hello, is this the register?", "AR", 100, "MSH"),
    (build("A01", "E12", NHS, pv1("V")).replace(b"ADT^A01", b"ORU^R01"), "AR", 200,
     "MSH-9.1"),
])
def test_refusals_say_what_and_where(raw: bytes, code: str, number: int, where: str) -> None:
    found = problem(raw)
    assert (found.ack, found.code, str(found.where)) == (code, number, where), found
    assert found.reason and found.kind
    assert "9990000019" not in found.reason  # reasons never quote an NHS number


def test_ack_is_an_hl7_message_with_msa_and_err() -> None:
    raw = build("A01", "CTRL-7", "9990000019", pv1("V"))
    found = problem(raw)
    reply = hl7.parse(ack(message.read(raw), found.ack, found).decode())
    assert str(reply.segment("MSH")[9]) == "ACK^A01^ACK"
    msa = reply.segment("MSA")
    assert (str(msa[1]), str(msa[2])) == ("AE", "CTRL-7")
    err = reply.segment("ERR")
    assert str(err[3][0][0]) == "102" and str(err[4]) == "E"
    assert "Modulus 11" in str(err[8])
    assert str(err[2]) == "PID^1^3^1"
    accepted = hl7.parse(ack(message.read(raw), "AA").decode())
    assert str(accepted.segment("MSA")[1]) == "AA" and len(accepted) == 2


def test_ack_for_bytes_that_are_not_hl7_still_parses() -> None:
    found = problem(b"\x00garbage|^~&")
    reply = hl7.parse(ack(None, found.ack, found, raw=b"\x00garbage").decode())
    assert str(reply.segment("MSA")[1]) == "AR"
    assert "not UTF-8" in str(reply.segment("ERR")[8]) or "HL7" in str(reply.segment("ERR")[8])


def test_ack_for_a_header_the_hl7_library_cannot_answer_still_names_the_message() -> None:
    """Found by the fuzzer: an MSH-9 without components ("ADT") made the library's
    create_ack raise, so the listener had no ACK to send."""
    raw = build("A01", "CTRL-8", "9990000019", pv1("V")).replace(b"|ADT^A01|", b"|ADT|", 1)
    found = problem(raw)
    reply = hl7.parse(ack(message.read(raw), found.ack, found).decode())
    msa = reply.segment("MSA")
    assert (str(msa[1]), str(msa[2])) == (found.ack, "CTRL-8")
    assert "Modulus 11" in str(reply.segment("ERR")[8]), "the reason is there"


def test_pid_5_gives_the_name_kept_with_the_date_of_birth_and_address() -> None:
    """Issue 21: staff tell people apart by name; the legal name (XPN-7 L) is preferred."""
    [person, _] = decode(admission(synthetic(77), "N1")).commands[:2]
    assert isinstance(person, c.UpdatePerson)
    assert person.name is not None and person.name.text == "JO SMITH"
    assert person.date_of_birth == date(1980, 5, 1)
    pid = {1: "1", 3: f"{synthetic(77)}^^^NHS^NH", 5: "JONES^AL^^^^^A~SMITH^ALEX^J^^^^L",
           7: "19800501"}
    [person] = decode(build("A31", "N2", synthetic(77), pid=pid)).commands
    assert (person.name.family, person.name.given) == ("SMITH", ["ALEX", "J"])
