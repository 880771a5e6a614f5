"""The Ombudsman flags (RULES.md O1-O4) on the staff pages, in a real browser: a council
officer and an ICB commissioner each open their caseload's "Ombudsman flags" list and the
ombudsman-flags report (chart and figures), checked with axe-core against WCAG 2.2 AA."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.auth_support import checked_env
from tests.browser import axe_source, chromium
from tests.e2e.test_pages import Site, accessible, sign_in
from tests.servers import demo_server

NO_PLAN, NO_ASSESSMENT, CHARGED, TRANSFER = "9990000670", "9990000689", "9990000700", \
    "9990000719"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    path = tmp_path_factory.mktemp("pages-flags")
    env = checked_env(S117_SECRET_KEY="test-secret-" + "y" * 32)
    with demo_server(path, people=10, env=env) as url:
        yield Site(url, path)


@pytest.fixture(scope="module")
def axe() -> str:
    return axe_source()


@pytest.fixture
def page(site: Site) -> Iterator[Any]:
    with chromium() as browser:
        context = browser.new_context(base_url=site.url)
        page = context.new_page()
        page.console_errors = []  # type: ignore[attr-defined]
        page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
        yield page
        context.close()


@pytest.mark.parametrize(("org", "kind"), [("E06000019", "la"), ("QGH", "icb")])
def test_the_caseload_lists_the_people_with_ombudsman_flags(page: Any, axe: str, org: str,
                                                            kind: str):
    sign_in(page, org, kind)
    page.goto("/caseload?list=ombudsman")
    table = page.get_by_role("table", name=re.compile("Ombudsman flags"))
    listed = table.inner_text()
    # each row shows its flag as a short tag (the person page has the reasons and rules)
    for nhs, flag in ((NO_PLAN, "No plan"), (NO_ASSESSMENT, "No assessment"),
                      (CHARGED, "Charged")):
        row = table.locator("tr", has_text=nhs)
        assert row.count() == 1 and flag in row.inner_text(), (nhs, listed)
    assert TRANSFER not in listed, "O5 is a refusal, not a flag"
    accessible(page, axe, f"20-ombudsman-caseload-{kind}")


def test_the_ombudsman_flags_report_draws_its_chart_with_its_figures(page: Any, axe: str):
    sign_in(page)
    page.goto("/reports/ombudsman-flags")
    chart = page.locator("img#chart")
    chart.wait_for()
    drawn = page.request.get(chart.get_attribute("src"))
    assert drawn.ok and "O4 charged for s117 services" in drawn.text()
    figures = page.get_by_role("table", name=re.compile("figures")).inner_text()
    assert "O1 no plan at discharge" in figures and "in force now" in figures
    accessible(page, axe, "21-ombudsman-report")
