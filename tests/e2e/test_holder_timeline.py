"""The holder timeline as a trust, a council and an operator meet it (issue 19): HL7 v2 in
over `POST /hl7v2` of `s117 serve` (A01/A03 of a 2018 detention, A31 GP changes with and
without an effective date), `$s117-responsibility` out with one history part per segment
(RULES.md N3, N5b reg 7(3), N6), `s117 refdata load succession` refusing bad files, and
`s117 db reindex` reporting what a 2026 merger changed."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from register.nhs_number import synthetic
from tests.e2e.test_cli import run
from tests.hl7v2_messages import adt, pv1, seg, zmh
from tests.processes import ack_code
from tests.servers import demo_server

NHS = "https://fhir.nhs.uk/Id/nhs-number"
PERSON = synthetic(8400)
HL7 = {"Content-Type": "x-application/hl7-v2+er7"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    path = tmp_path_factory.mktemp("timeline")
    with demo_server(path, people=10) as url:
        yield url, path


def post(base: str, message: bytes) -> str:
    reply = requests.post(f"{base}/hl7v2", data=message, headers=HL7, timeout=30)
    assert reply.status_code == 200
    return ack_code(reply.content)


def approved(path: Path) -> None:
    """An administrator applies the A31s held for review (issue 20: a trust with no recent
    stay may not move a person's responsibility on its own word)."""
    listed = run("quarantine", "list", cwd=path, env={"COLUMNS": "250"}).stdout
    ids = re.findall(r"^\W*(\d+)\W+quarantined.*needs-review", listed, re.M)
    assert ids, listed
    assert run("quarantine", "apply", *ids, cwd=path).returncode == 0


def a31(control: str, practice: str, msh7: str, evn6: str | None) -> bytes:
    """An A31 (update person) moving the GP practice; EVN-6 is the effective date."""
    text = adt("A31", control, PERSON, at=msh7).decode().split("\r")
    text[1] = seg("EVN", {2: msh7, **({6: evn6} if evn6 else {})}) if evn6 else "EVN|"
    text[3] = seg("PD1", {3: f"PRACTICE^^{practice}"})
    return "\r".join(text).encode()


def history(base: str, date: str | None = None) -> tuple[dict, list[dict]]:
    query = {"identifier": f"{NHS}|{PERSON}", **({"date": date} if date else {})}
    body = requests.get(f"{base}/fhir/Patient/$s117-responsibility", params=query,
                        timeout=10).json()
    named: dict[str, list[dict]] = {}
    for p in body["parameter"]:
        named.setdefault(p["name"], []).append(p)
    segments = [{q["name"]: q for q in h["part"]} for h in named.get("history", [])]
    return named, segments


def code(part: dict) -> str:
    return part["valueIdentifier"]["value"] if "valueIdentifier" in part \
        else part["valueCoding"]["code"]


def test_a_2018_detention_over_hl7v2_gets_the_reg_7_3_icb_and_a_gp_change_moves_it(served):
    """N3 to 2022-06-30 (CCG of residence, Herefordshire 18C); from 2022-07-01 N5b: the ICB
    by the GP registration on that date (Birmingham QHL), then a GP move effective before
    2022-07-01 (EVN-6) re-decides it, and one after it (no EVN-6: message time) does not."""
    base, path = served
    admit = adt("A01", "TL-1", PERSON, pv1("TL-V1", "20180305100000"),
                zmh("3", "20180305100000"), at="20180305100000")
    admit = admit.replace(b"PRACTICE^^Z10001", b"PRACTICE^^Z60001")
    assert post(base, admit) == "AA"
    assert post(base, adt("A03", "TL-2", PERSON, pv1("TL-V1", "20180305100000",
                                                     "20180601120000"),
                          at="20180601120000")) == "AA"
    named, segments = history(base)
    assert code(named["icb"][0]) == "QHL" and code(named["original-body"][0]) == "QHL"
    assert [(s["from"]["valueDate"], code(s["icb"]), code(s["rule"])) for s in segments] == [
        ("2018-03-05", "18C", "N3"), ("2022-07-01", "QHL", "N5b")]
    assert segments[0]["to"]["valueDate"] == "2022-06-30" and "to" not in segments[1]
    as_of_2019, _ = history(base, "2019-01-01")
    assert code(as_of_2019["icb"][0]) == "18C"  # the CCG held it then

    assert post(base, a31("TL-3", "Z20001", "20250110100000", "20210501000000")) == "AE"
    approved(path)
    named, segments = history(base)
    assert code(named["icb"][0]) == "QOX"
    assert any("EVN-6" in b["part"][1]["valueString"] for b in named["basis"])

    # Accepted at once: a registration from 2025 moves no holder (N5b reads 2022-07-01).
    assert post(base, a31("TL-4", "Z30001", "20250210100000", None)) == "AA"
    again, _ = history(base)
    assert code(again["icb"][0]) == "QOX"  # registration after 2022-07-01: no change


def test_a_succession_file_with_a_cycle_an_unknown_code_or_a_bad_date_is_refused(served):
    _, path = served
    cases = {
        "cycle": ("org_code,target_code,type,legal_start_date,target_name\n"
                  "QHL,X27AA,Successor,2027-04-01,NHS test ICB\n"
                  "X27AA,QHL,Successor,2028-04-01,\n", "row 3", "target_code"),
        "unknown": ("org_code,target_code,type,legal_start_date\n"
                    "QHL,X27ZZ,Successor,2027-04-01\n", "row 2", "target_code"),
        "date": ("org_code,target_code,type,legal_start_date\n"
                 "QHL,QGH,Successor,1 April 2027\n", "row 2", "legal_start_date"),
    }
    before = run("responsibility", PERSON, "--json", cwd=path).stdout
    for name, (text, row, field) in cases.items():
        bad = path / f"{name}.csv"
        bad.write_text(text)
        refused = run("refdata", "load", "succession", str(bad), cwd=path)
        assert refused.returncode == 2, name
        assert row in refused.stderr and field in refused.stderr, refused.stderr
    assert run("responsibility", PERSON, "--json", cwd=path).stdout == before


def test_reindex_after_a_merger_reports_the_changes_by_rule_and_as_csv(served):
    """N6: load a merger of QOX on 2026-04-01, then `s117 db reindex`: the person's holder
    moves from that date, the body the law named stays QOX, counted under N6."""
    _, path = served
    merger = path / "merger.csv"
    merger.write_text("org_code,target_code,type,legal_start_date,target_name\n"
                      "QOX,X26WX,Successor,20260401,NHS test merged ICB\n")
    loaded = run("refdata", "load", "succession", str(merger), cwd=path)
    assert loaded.returncode == 0 and "loaded 1 succession rows" in loaded.stdout
    done = run("db", "reindex", "--csv", "changes.csv", cwd=path)
    assert done.returncode == 0, done.stderr
    assert "determinations changed" in done.stdout and "N6" in done.stdout
    with (path / "changes.csv").open() as f:
        rows = list(csv.DictReader(f))
    mine = [r for r in rows if r["nhs_number"] == PERSON]
    assert mine and mine[0]["rule"] == "N6" and mine[0]["icb"] == "X26WX"
    assert mine[0]["previous_icb"] == "QOX" and mine[0]["changed_from"] == "2026-04-01"
    shown = run("responsibility", PERSON, cwd=path)
    assert "X26WX" in shown.stdout and "body the law named" in shown.stdout
    again = run("db", "reindex", "--csv", "again.csv", cwd=path)
    assert "0 determinations changed" in again.stdout  # nothing left to change


def test_a_council_dates_an_address_change_through_fhir_and_the_icb_follows(served):
    """An unregistered person detained in 2019 (A01 with no PD1): from 2022-07-01 the ICB of
    usual residence on that date (N5b). A council's Patient update with Address.period.start
    2021-06-01 (Swindon) re-decides it, and the basis names where the date came from."""
    base, _ = served
    nhs = synthetic(8401)
    admit = adt("A01", "TL-F1", nhs, pv1("TL-F", "20190204100000"),
                zmh("3", "20190204100000"), at="20190204100000").decode().split("\r")
    admit = [s for s in admit if not s.startswith("PD1")]
    assert post(base, "\r".join(admit).encode()) == "AA"
    assert post(base, adt("A03", "TL-F2", nhs, pv1("TL-F", "20190204100000",
                                                   "20190401120000"),
                          at="20190401120000").replace(b"PD1|||PRACTICE^^Z10001\r", b"")) == "AA"
    query = {"identifier": f"{NHS}|{nhs}"}
    before = requests.get(f"{base}/fhir/Patient/$s117-responsibility", params=query,
                          timeout=10).json()
    found = requests.get(f"{base}/fhir/Patient", params={"identifier": f"{NHS}|{nhs}"},
                         timeout=10).json()
    resource = found["entry"][0]["resource"]
    assert resource["address"][0]["period"]["start"] == "2019-04-01"  # PID-11 of the A03
    resource["address"] = [{"use": "home", "postalCode": "SN1 1AA",
                            "period": {"start": "2021-06-01"}}]
    updated = requests.put(f"{base}/fhir/Patient/{resource['id']}", json=resource, timeout=10,
                           headers={"Content-Type": "application/fhir+json",
                                    "If-Match": f'W/"{resource["meta"]["versionId"]}"'})
    assert updated.status_code == 200, updated.text
    after = requests.get(f"{base}/fhir/Patient/$s117-responsibility", params=query,
                         timeout=10).json()
    icbs = [p["valueIdentifier"]["value"] for p in after["parameter"] if p["name"] == "icb"]
    before_icbs = [p["valueIdentifier"]["value"] for p in before["parameter"]
                   if p["name"] == "icb"]
    assert before_icbs == ["QGH"] and icbs == ["QOX"]
    reasons = [b["part"][1]["valueString"] for b in after["parameter"] if b["name"] == "basis"]
    assert any("from 2021-06-01, dated by Patient.address.period.start" in r for r in reasons)
