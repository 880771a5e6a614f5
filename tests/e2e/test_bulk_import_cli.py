"""`s117 import hl7v2` as a trust's integration team runs it (issue 22, Build 2): a batch
file loaded into a demo register with a progress bar, the refused message named by its
place in the file and kept in quarantine, the same file again all duplicates."""

from __future__ import annotations

from pathlib import Path

from register.nhs_number import synthetic
from tests.e2e.test_cli import run
from tests.hl7v2_messages import admission, discharge
from tests.integration.test_bulk_import import batch_file


def test_importing_a_batch_file_and_the_same_file_again(tmp_path: Path) -> None:
    assert run("demo", "--people", "5", cwd=tmp_path).returncode == 0
    people = [synthetic(8900 + i) for i in range(3)]
    messages = [admission(nhs, f"E{i}-A", visit=f"EV{i}") for i, nhs in enumerate(people)]
    messages.append(admission("9990000019", "E-BAD", visit="EV9"))  # check digit fails
    messages += [discharge(nhs, f"E{i}-D", visit=f"EV{i}") for i, nhs in enumerate(people)]
    (tmp_path / "feed.hl7").write_bytes(batch_file(messages))
    first = run("import", "hl7v2", "feed.hl7", "--trust", "RLQ", "--unit", "2", cwd=tmp_path)
    assert first.returncode == 1, first.stdout + first.stderr  # one message quarantined
    assert "importing feed.hl7" in first.stdout
    assert "7 messages in" in first.stdout and "6 applied, 1 quarantined" in first.stdout
    assert "message 4: quarantined (invalid-nhs-number)" in first.stdout
    listed = run("quarantine", "list", cwd=tmp_path)
    assert "invalid-nhs-number" in listed.stdout
    answer = run("responsibility", people[0], cwd=tmp_path)
    assert answer.returncode == 0 and "active" in answer.stdout  # R1: s3 then discharged
    again = run("import", "hl7v2", "feed.hl7", "--trust", "RLQ", cwd=tmp_path)
    assert "6 duplicate, 1 quarantined" in again.stdout
