"""The `s117` command as a user runs it: a subprocess in a fresh directory (issue 2, Build 7).

Covers the README's first set-up command (`s117 demo` on the embedded default), the
explanation `s117 responsibility` gives, refusals that name the field or row, reference
data loading, the PostgreSQL path (`s117 db upgrade`) and `s117 serve`.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

S117 = shutil.which("s117") or str(Path(sys.executable).parent / "s117")


def run(*args: str, cwd: Path, env: dict[str, str] | None = None,
        timeout: int = 300) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("S117_")}
    environ.update({"COLUMNS": "200", **(env or {})})
    return subprocess.run([S117, *args], cwd=cwd, env=environ, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo")
    result = run("demo", "--people", "60", cwd=path)
    assert result.returncode == 0, result.stderr
    (path / "first-run.txt").write_text(result.stdout)
    return path


def test_demo_builds_an_embedded_register_and_shows_the_named_cases(demo_dir: Path):
    out = (demo_dir / "first-run.txt").read_text()
    assert (demo_dir / "s117.db").exists()
    for title in ("Out-of-area placement", "Worcestershire-style re-detention",
                  "Section 2 only", "2021 detention (N4)", "Community treatment order"):
        assert title in out
    assert "refused" in out and "rule D2" in out  # the CTO cannot be ended
    assert "applied, 0 duplicates" in out
    assert "Swindon hosts" in out


def test_running_the_demo_again_changes_nothing(demo_dir: Path):
    again = run("demo", "--people", "60", cwd=demo_dir)
    assert again.returncode == 0
    assert " 0 applied," in again.stdout and "duplicates ignored" in again.stdout


def answer(demo_dir: Path, nhs: str, *extra: str) -> dict:
    result = run("responsibility", nhs, "--json", *extra, cwd=demo_dir)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def rules(data: dict) -> list[str]:
    return [step["rule_id"] for step in data["basis"]]


def test_out_of_area_placement_stays_with_the_placing_council(demo_dir: Path):
    data = answer(demo_dir, "9990000018")
    assert (data["local_authority"], data["icb"]) == ("E06000019", "QGH")
    assert data["out_of_area"] and data["residence_la"] == "E06000030"
    assert {"E1", "L1", "N5", "L2", "R1"} <= set(rules(data))
    assert all(step["citation"] for step in data["basis"])


def test_re_detention_moves_the_council_but_keeps_the_nhs_body(demo_dir: Path):
    data = answer(demo_dir, "9990000026")
    assert (data["local_authority"], data["icb"]) == ("E06000030", "QGH")
    assert {"L3", "D7", "N7"} <= set(rules(data))
    before = answer(demo_dir, "9990000026", "--date", "2023-12-01")
    assert before["local_authority"] == "E10000034"  # history: Worcestershire until then


def test_section_2_only_is_not_entitled(demo_dir: Path):
    data = answer(demo_dir, "9990000034")
    assert (data["entitled"], data["status"]) == (False, "not-entitled")
    assert rules(data) == ["E1"]


def test_2021_detention_has_a_commissioning_and_a_paying_ccg(demo_dir: Path):
    """N4 to 2022-06-30; from 2022-07-01 N5b (reg 7(3)): the ICB with core responsibility
    on that date (GP in Gloucestershire, QR1), not the successor of the commissioning CCG."""
    data = answer(demo_dir, "9990000042", "--date", "2022-06-30")
    assert data["rule_set"] == "who-pays-2020"
    assert (data["commissioning_body"], data["paying_body"]) == ("92G", "11M")
    assert data["paying_icb"] == "QR1" and data["icb"] == "92G"
    assert rules(data).count("N4") == 2
    today = answer(demo_dir, "9990000042")
    assert today["icb"] == "QR1" and "N5b" in rules(today)
    assert [s["rule"] for s in today["timeline"]] == ["N4", "N5b"]


def test_the_demo_shows_the_holder_timeline_cases(demo_dir: Path):
    """The named N cases (issue 19): reg 7(3) names QHL, not QGH; the 2026 merger moves the
    holder to the merged ICB while the body the law named stays."""
    out = (demo_dir / "first-run.txt").read_text()
    for title in ("2013-16 (N2)", "The 2016 freeze (N3)", "Reg 7(3) (N5b)", "Reg 6 (N5a)",
                  "N7 after 2022", "2026 merger (N6)"):
        assert title in out
    reg73 = answer(demo_dir, "9990000808")
    assert reg73["icb"] == "QHL" and [s["icb"] for s in reg73["timeline"]] == ["18C", "QHL"]
    merged = answer(demo_dir, "9990000832")
    assert (merged["icb"], merged["original_body"]) == ("X26NS", "QMM")
    assert answer(demo_dir, "9990000832", "--date", "2026-03-31")["icb"] == "QMM"


def test_cto_keeps_the_entitlement_active(demo_dir: Path):
    data = answer(demo_dir, "9990000050")
    assert data["status"] == "active" and "E3" in rules(data)


def test_the_human_output_explains_itself_with_citations(demo_dir: Path):
    result = run("responsibility", "9990000018", cwd=demo_dir)
    assert result.returncode == 0
    assert "Herefordshire" in result.stdout and "Care Act 2014 s75" in result.stdout


def test_refusals_name_the_field(demo_dir: Path):
    bad = run("responsibility", "9990000019", cwd=demo_dir)
    assert bad.returncode == 2 and "field nhs_number" in bad.stderr
    unknown = run("responsibility", "9990000093", cwd=demo_dir)
    assert unknown.returncode == 1 and "No record" in unknown.stdout
    date = run("responsibility", "9990000018", "--date", "22/11/2026", cwd=demo_dir)
    assert date.returncode == 2 and "--date" in date.stderr


def test_refdata_load_names_the_bad_row_and_keeps_nothing(tmp_path: Path):
    good = tmp_path / "epraccur.csv"
    row = ['"Y99001"', '"NEW PRACTICE"'] + ['""'] * 8 + ['"20240101"', '""', '"A"', '"B"',
                                                          '"18C"'] + ['""'] * 12
    good.write_text(",".join(row) + "\n")
    loaded = run("refdata", "load", "epraccur", str(good), cwd=tmp_path)
    assert loaded.returncode == 0 and "loaded 1 epraccur rows" in loaded.stdout
    bad = tmp_path / "bad.csv"
    broken = list(row)
    broken[0] = '"Y99002"'
    broken[10] = '"2024-01-01"'
    bad.write_text(",".join(row) + "\n" + ",".join(broken) + "\n")
    refused = run("refdata", "load", "epraccur", str(bad), cwd=tmp_path)
    assert refused.returncode == 2
    assert "row 2" in refused.stderr and "open_date" in refused.stderr
    postcodes = tmp_path / "pc.csv"
    postcodes.write_text("pcds,laua\nHR4 9AA,E06000019\nnot a postcode,E06000019\n")
    refused = run("refdata", "load", "postcodes", str(postcodes), cwd=tmp_path)
    assert refused.returncode == 2 and "row 3" in refused.stderr and "pcds" in refused.stderr


@pytest.mark.postgres
def test_networked_mode_upgrades_and_plays_the_demo_on_postgresql(postgresql_url: str,
                                                                  tmp_path: Path):
    url = postgresql_url.rsplit("/", 1)[0] + "/" + postgresql_url.rsplit("/", 1)[1] + "_cli"
    import psycopg

    from tests.conftest import PG_ADMIN

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        env = {"S117_DATABASE_URL": url}
        upgraded = run("db", "upgrade", cwd=tmp_path, env=env)
        assert upgraded.returncode == 0, upgraded.stderr
        assert run("refdata", "load", "geography", cwd=tmp_path, env=env).returncode == 0
        demo = run("demo", "--people", "20", cwd=tmp_path, env=env)
        assert demo.returncode == 0, demo.stderr
        assert not (tmp_path / "s117.db").exists()
        data = json.loads(run("responsibility", "9990000018", "--json", cwd=tmp_path,
                              env=env).stdout)
        assert (data["local_authority"], data["icb"]) == ("E06000019", "QGH")
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_starts_on_an_empty_directory_and_answers_health(tmp_path: Path):
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("S117_")}
    server = subprocess.Popen([S117, "serve", "--port", str(port)], cwd=tmp_path, env=environ,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz",
                                            timeout=2) as response:
                    body = json.loads(response.read())
                break
            except OSError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "s117 serve did not answer in 60 s"
                time.sleep(0.3)
        assert body == {"status": "ok", "database": "sqlite", "bus": "in-process"}
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.rabbitmq
def test_queues_declare_creates_the_topology_and_writes_the_definitions(
        tmp_path: Path, amqp_url: str):
    written = tmp_path / "out" / "definitions.json"
    result = run("queues", "declare", "--definitions", str(written), cwd=tmp_path,
                 env={"S117_AMQP_URL": amqp_url})
    assert result.returncode == 0, result.stderr
    assert "declared 6 exchanges" in result.stdout
    from queues import topology

    assert json.loads(written.read_text()) == topology.definitions()
    refused = run("queues", "declare", cwd=tmp_path)
    assert refused.returncode == 2 and "S117_AMQP_URL is not set" in refused.stderr


def test_mappings_check_names_every_wrong_key_and_maps_a_sample(tmp_path: Path):
    good = Path(__file__).resolve().parents[2] / "mappings" / "trusts" / \
        "ZT001-obx-legal-status.yaml"
    sample = tmp_path / "obx.hl7"
    sample.write_text("MSH|^~\\&|PAS|ZT001|S117|S117|20250110100000||ADT^A01|S-1|P|2.4\n"
                      "EVN||20250110100000\nPID|1||9990000018^^^NHS||X\n"
                      "PV1|1|I" + "|" * 42 + "20250110100000" + "|" * 6 + "ALT-1\n"
                      "OBX|1|CE|MHA-LS||S3" + "|" * 9 + "20250111\n")
    checked = run("mappings", "check", str(good), "--sample", str(sample), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "OBX-3 MHA-LS" in checked.stdout and "S3 -> 03" in checked.stdout
    # PID-5 (the name, issue 21) is kept, so the person's update comes first.
    assert "UpdatePerson  hl7v2:ZT001:S-1:0" in checked.stdout
    assert "Admit  hl7v2:ZT001:S-1:1" in checked.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nsenders: [rx1]\nstay_id: PV1.19\n"
                   "legal_status: {codes: {S3: '77'}}\n")
    refused = run("mappings", "check", str(bad), cwd=tmp_path)
    assert refused.returncode == 1
    for key in ("senders.0", "stay_id", "legal_status.codes.S3"):
        assert key in refused.stdout, refused.stdout
