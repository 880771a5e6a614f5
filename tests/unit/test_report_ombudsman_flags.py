"""The Ombudsman flags report (RULES.md O1-O4) on the register of test_reports.py, worked
out by hand as of TODAY (2026-11-22), first-review window 42 days:

- A: home 1 Feb, no plan (O1 in force), reviewed 10 Mar within the window (no O2, O3).
- B: home 1 Apr, no plan (O1 in force); window closed 13 May, first review 1 Jun: O2 and O3
  raised 14 May and cleared 1 Jun.
- C: home 10 Jun with a plan agreed that day (no O1) but no assessment: O2 in force since
  23 Jul; the plan reached the register today, so O3 (since 23 Jul) cleared today.
- D: home 10 Feb with no plan (O1), reviewed in time, aftercare ended 1 Sep: O1 closed then.
- E: section 2 only."""

from __future__ import annotations

from adapter.bootstrap import Register
from adapter.reports import render, report
from register.access import EVERYONE
from tests.conftest import TODAY
from tests.unit.test_reports import register, rows  # noqa: F401 (the fixture)


def test_o1_o4_flags_in_force_raised_cleared_and_long_standing(register: Register):  # noqa: F811
    assert rows(register, "ombudsman-flags") == {
        "O1 no plan at discharge": (2, 3, 1, 2),
        "O2 no assessment in the first-review window": (1, 2, 1, 1),
        "O3 entitlement not acknowledged": (0, 2, 2, 0),
        "O4 charged for s117 services": (0, 0, 0, 0)}


def test_the_flags_report_draws_its_chart(register: Register):  # noqa: F811
    built = report(register, "ombudsman-flags", EVERYONE, TODAY)
    assert built.chart.kind == "barh" and "in force now" in built.chart.series
    svg = render.svg(built)
    assert svg.lstrip().startswith(("<?xml", "<svg")) and "O1 no plan" in svg
