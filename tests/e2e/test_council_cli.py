"""The council and joint-register commands as a council officer runs them (issue 6 "Done
when"): `s117 import council` with good, bad and repeated files, `s117 panel agenda`,
`s117 reviews overdue`, `s117 export register` as CSV, a spreadsheet and FHIR NDJSON, and
`s117 db reindex`, all on a demo register in a fresh directory."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook

from fhir_profiles.validate import validate
from tests.builders import council_file, plan_rows
from tests.e2e.test_cli import run

SARAH, PRIYA = "9990000069", "9990000077"
LA = "E06000019"
WIDE = {"COLUMNS": "250"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("council-cli")
    assert run("demo", "--people", "10", cwd=path).returncode == 0
    return path


def test_importing_a_council_file_then_the_same_file_again(demo: Path):
    """A plan with split funding, a review and the panel's decision for Sarah; the same file
    again changes nothing."""
    body = council_file(
        *plan_rows(SARAH, "HC-12"),
        {"record": "review", "nhs_number": SARAH, "review_on": "2025-06-10",
         "attendees": "Dee Patel (care coordinator, R1A);Sam Okoro (advocate)",
         "person_involved": "Y", "carer_involved": "Y", "outcome": "settling in",
         "needs_still_arise": "Y"})
    (demo / "sarah.csv").write_bytes(body)
    first = run("import", "council", "sarah.csv", "--la", LA, "--report", "report.csv",
                cwd=demo, env=WIDE)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "importing sarah.csv" in first.stdout
    assert "3 rows, 1 people: 3 accepted" in first.stdout
    report = list(csv.DictReader((demo / "report.csv").open(encoding="utf-8")))
    assert [(r["row"], r["status"]) for r in report] == [("2", "accepted"), ("3", "accepted"),
                                                         ("4", "accepted")]
    again = run("import", "council", "sarah.csv", "--la", LA, cwd=demo, env=WIDE)
    assert again.returncode == 0 and "0 accepted, 3 unchanged" in again.stdout


def test_a_bad_row_is_refused_with_its_row_and_reason_and_the_person_is_untouched(demo: Path):
    body = council_file(*plan_rows(PRIYA, "PR-1", status="draft",
                                   funders="E06000019=40;housing-benefit=60"))
    (demo / "priya.csv").write_bytes(body)
    refused = run("import", "council", "priya.csv", "--la", LA, cwd=demo, env=WIDE)
    assert refused.returncode == 1
    assert "0 accepted" in refused.stdout and "1 rejected, 1 not applied" in refused.stdout
    assert "rule F4" in refused.stdout and "housing benefit" in refused.stdout
    rows = [line.split("│")[1].strip() for line in refused.stdout.splitlines()
            if line.startswith("│")]
    assert rows[:2] == ["2", "3"]


@pytest.mark.parametrize(("content", "says"), [
    (b"record,nhs_number,colour\nplan,9990000069,red\n", "unknown column(s) colour"),
    ("record,nhs_number,provider\nline,9990000069,Caf\xe9\n".encode("latin-1"), "not UTF-8"),
])
def test_a_file_with_a_wrong_header_or_encoding_is_refused_whole(demo: Path, content: bytes,
                                                                  says: str):
    (demo / "wrong.csv").write_bytes(content)
    refused = run("import", "council", "wrong.csv", "--la", LA, cwd=demo, env=WIDE)
    assert refused.returncode == 2 and says in refused.stderr
    assert "nothing was imported" in refused.stderr


def test_an_unknown_council_is_refused(demo: Path):
    (demo / "sarah2.csv").write_bytes(council_file(*plan_rows(SARAH)))
    refused = run("import", "council", "sarah2.csv", "--la", "E06999999", cwd=demo)
    assert refused.returncode == 2 and "not a known council" in refused.stderr


def test_the_panel_agenda_lists_waiting_lines_with_their_age(demo: Path):
    listed = run("panel", "agenda", "--la", LA, "--json", cwd=demo)
    assert listed.returncode == 0, listed.stderr
    items = json.loads(listed.stdout)
    lines = {(i["plan"], i["line"]) for i in items}
    assert ("demo-ooa-plan", "home") in lines  # the demo's placement over £1,000 a week
    assert ("HC-12", "L1") in lines  # the imported supported accommodation
    assert all(i["age_days"] >= 0 and i["status"] in ("pending", "deferred") for i in items)
    assert [i["requested_on"] for i in items] == sorted(i["requested_on"] for i in items)
    table = run("panel", "agenda", cwd=demo, env=WIDE)
    assert table.returncode == 0 and "panel agenda" in table.stdout


def test_overdue_reviews_are_listed(demo: Path):
    listed = run("reviews", "overdue", "--la", LA, cwd=demo, env=WIDE)
    assert listed.returncode == 0 and PRIYA in listed.stdout


def test_the_joint_register_as_csv(demo: Path):
    result = run("export", "register", "--la", LA, "--format", "csv", cwd=demo)
    assert result.returncode == 0, result.stderr
    rows = {r["nhs_number"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
    sarah = rows[SARAH]
    assert sarah["responsible_la"] == LA and sarah["responsible_icb"] == "QGH"
    assert sarah["entitled_since"] == "2025-05-02" and sarah["plan"] == "HC-12"
    assert "supported-accommodation" in sarah["services"] and "QGH 40%" in sarah["services"]
    assert (sarah["weekly_cost_s117"], sarah["weekly_la_share"], sarah["weekly_nhs_share"]) \
        == ("1450.00", "870.00", "580.00")
    assert sarah["last_review_on"] == "2025-06-10" and sarah["next_review_due"] == "2026-06-10"
    priya = rows[PRIYA]
    assert priya["review_overdue"] == "Y" and "review-overdue" in priya["flags"]
    assert "exporting" in result.stderr  # the progress bar stays off the data


def test_the_joint_register_as_a_spreadsheet_and_as_fhir_ndjson(demo: Path):
    made = run("export", "register", "--icb", "QGH", "--format", "xlsx", "--output",
               "register.xlsx", cwd=demo)
    assert made.returncode == 0, made.stderr
    book = load_workbook(demo / "register.xlsx")
    assert book.sheetnames == ["register", "services"]
    header = [c.value for c in book["services"][1]]
    assert {"days_to_decision", "panel", "funders"} <= set(header)
    assert book["register"].max_row > 3
    bulk = run("export", "register", "--la", LA, "--format", "ndjson", "--output", "bulk",
               cwd=demo)
    assert bulk.returncode == 0, bulk.stderr
    files = {p.name for p in (demo / "bulk").iterdir()}
    assert {"Patient.ndjson", "EpisodeOfCare.ndjson", "CarePlan.ndjson", "Task.ndjson",
            "Flag.ndjson", "Coverage.ndjson"} <= files
    for name in sorted(files):
        for line in (demo / "bulk" / name).read_text(encoding="utf-8").splitlines()[:5]:
            resource = json.loads(line)
            assert resource["resourceType"] == name.removesuffix(".ndjson")
            assert [i for i in validate(resource) if i.severity == "error"] == []


def test_export_needs_one_body_and_a_known_format(demo: Path):
    assert run("export", "register", cwd=demo).returncode == 2
    assert run("export", "register", "--la", LA, "--format", "pdf", cwd=demo).returncode == 2
    assert run("export", "register", "--la", LA, "--format", "xlsx", cwd=demo).returncode == 2


def test_reindex_derives_everyone_again(demo: Path):
    done = run("db", "reindex", cwd=demo)
    assert done.returncode == 0 and "people re-derived" in done.stdout
