"""`s117 flags` and the demo's Ombudsman cases as a council officer runs them (RULES.md
O1-O5): a subprocess in a fresh directory on the embedded register."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_cli import run

HEREFORDSHIRE = "E06000019"
NO_PLAN, NO_ASSESSMENT, NEVER_RECORDED, CHARGED = ("9990000670", "9990000689", "9990000697",
                                                   "9990000700")


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("flags")
    result = run("demo", "--people", "5", cwd=path)
    assert result.returncode == 0, result.stderr
    (path / "demo.txt").write_text(result.stdout)
    return path


def test_the_demo_shows_each_ombudsman_flag_and_the_o5_refusal(demo_dir: Path):
    shown = (demo_dir / "demo.txt").read_text()
    for rule in ("(rule O1)", "(rule O2)", "(rule O3)", "(rule O4)"):
        assert rule in shown, rule
    assert "ask to transfer responsibility to Swindon: refused" in shown
    assert "rule O5" in shown


def test_s117_flags_lists_a_councils_flags_by_rule(demo_dir: Path):
    result = run("flags", "--la", HEREFORDSHIRE, "--json", cwd=demo_dir)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    found = {(r["nhs_number"], r["rule"]) for r in rows}
    assert {(NO_PLAN, "O1"), (NO_ASSESSMENT, "O2"), (NEVER_RECORDED, "O3"),
            (CHARGED, "O4")} <= found
    assert all(r["local_authority"] == HEREFORDSHIRE for r in rows)
    charged = run("flags", "--la", HEREFORDSHIRE, "--code", "charged-for-s117", cwd=demo_dir)
    assert charged.returncode == 0 and CHARGED in charged.stdout
    assert NO_PLAN not in charged.stdout


def test_s117_flags_refuses_an_unknown_code_naming_it(demo_dir: Path):
    result = run("flags", "--code", "late", cwd=demo_dir)
    assert result.returncode == 2 and "--code 'late'" in result.stderr
