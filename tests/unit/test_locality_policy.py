"""The locality policy file (S117_LOCALITY_POLICY): review intervals and panel thresholds,
regional and per council (RULES.md R1, R2; the panels of seeds 001 and 004)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from adapter.config import load_policy
from register.errors import InvalidData
from register.rules.ports import DEFAULT_PANEL_SERVICE_TYPES, LocalityPolicy

ROTHERHAM, HEREFORDSHIRE = "E08000018", "E06000019"


def test_no_file_is_the_national_defaults():
    policy = load_policy(None)
    assert policy == LocalityPolicy()
    assert (policy.first_review_days, policy.review_interval_months) == (42, 12)
    assert policy.panel_weekly_cost == Decimal(1000)
    assert policy.panel_service_types == DEFAULT_PANEL_SERVICE_TYPES


def test_a_council_overrides_only_what_it_sets(tmp_path: Path):
    path = tmp_path / "policy.yaml"
    path.write_text(f"""
panel_weekly_cost: 750
localities:
  {ROTHERHAM}:
    review_interval_months: 6
  {HEREFORDSHIRE}:
    panel_weekly_cost: 0
    panel_service_types: []
""")
    policy = load_policy(str(path))
    rotherham, hereford = policy.for_la(ROTHERHAM), policy.for_la(HEREFORDSHIRE)
    assert (rotherham.review_interval_months, rotherham.panel_weekly_cost) == (6, Decimal(750))
    assert (hereford.review_interval_months, hereford.panel_weekly_cost) == (12, Decimal(0))
    assert hereford.panel_service_types == frozenset()
    assert policy.for_la("E06000030") is policy and policy.for_la(None) is policy


@pytest.mark.parametrize(("text", "says"), [
    ("localities:\n  Rotherham:\n    review_interval_months: 6\n", "not a council GSS code"),
    ("localities:\n  E08000018:\n    review_interval_months: 30\n", "less than or equal to 24"),
    ("panel_service_types: [sheltered-flats]\n", "Must be one of"),
    ("panel_weekly_cost: -1\n", "greater than or equal to 0"),
])
def test_a_wrong_policy_is_refused_naming_what(tmp_path: Path, text: str, says: str):
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(InvalidData) as refused:
        load_policy(str(path))
    assert says in str(refused.value) and refused.value.field == "S117_LOCALITY_POLICY"
