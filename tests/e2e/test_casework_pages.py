"""Issue 21 in a real browser: a council's s117 lead and an ICB commissioner who have never
seen the register record casework and end aftercare jointly, in the pages alone.

`s117 serve` (S117_AUTH=jwt, S117_SECRET_KEY) on a demo register, Debian's Chromium driven
by Playwright, axe-core (WCAG 2.2 AA) on every page of the journeys, screenshots at 1280 px
and 390 px in test-artifacts/casework/. Rules proved through the forms: R3 (the person
takes part in a review), F2 (the funders' shares add up to 100), D1 (the end is decided at a
review, proposed by one body and agreed by the other), L5 (a dispute names its interim
lead, and the other council sees it)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.auth_support import checked_env, token
from tests.browser import ARTIFACTS, axe_source, axe_violations, chromium
from tests.oidc_provider import oidc_env, oidc_provider
from tests.outbound_support import free_port
from tests.servers import demo_server

HEREFORDSHIRE, SWINDON, HW_ICB = "E06000019", "E06000030", "QGH"
WIDTHS = {"desktop": 1280, "mobile": 390}


class Site:
    def __init__(self, url: str, path: Path) -> None:
        self.url, self.path = url, path

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path / "s117.db")

    def one(self, sql: str, *args: object) -> Any:
        with self.db() as db:
            return db.execute(sql, args).fetchone()


# The organisations' staff, as their identity provider knows them (login -> claims).
ACCOUNTS = {
    "hereford-lead": {"org": HEREFORDSHIRE, "org_type": "la", "s117_scope": "system/*.cruds",
                      "name": "Ann Lead"},
    "swindon-lead": {"org": SWINDON, "org_type": "la", "s117_scope": "system/*.cruds",
                     "name": "Sol Swindon"},
    "qgh-commissioner": {"org": HW_ICB, "org_type": "icb", "s117_scope": "system/*.cruds",
                         "name": "Cal Commissioner"},
    "no-organisation": {"name": "Someone", "s117_scope": "system/*.rs"},
    # a provider that gives the organisation at its userinfo endpoint, not in the ID token
    "userinfo-commissioner": {"org": HW_ICB, "org_type": "icb", "s117_scope": "system/*.rs",
                              "name": "Uma Info", "userinfo_only": True},
}
LOGINS = {(HEREFORDSHIRE, "la"): "hereford-lead", (SWINDON, "la"): "swindon-lead",
          (HW_ICB, "icb"): "qgh-commissioner"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """`s117 serve` with staff signing in through a real OpenID Connect provider."""
    path = tmp_path_factory.mktemp("casework")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with oidc_provider(free_port(), f"{base}/sign-in/oidc/callback", ACCOUNTS,
                       path / "oidc.log") as issuer:
        env = checked_env(S117_SECRET_KEY="test-secret-" + "y" * 32, S117_BASE_URL=base,
                          **oidc_env(issuer))
        with demo_server(path, people=30, env=env, port=port) as url:
            yield Site(url, path)


@pytest.fixture(scope="module")
def axe() -> str:
    return axe_source()


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as found:
        yield found


def new_page(browser: Any, site: Site) -> Any:
    context = browser.new_context(base_url=site.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    return page


def accessible(page: Any, axe: str, name: str, *, statuses: tuple[int, ...] = (400, 422)
               ) -> None:
    """No WCAG 2.2 AA violation and no console error but a form's own refusal (400 for a
    missing answer, 422 for a rule's refusal); a screenshot at each width kept."""
    folder = ARTIFACTS / "casework"
    folder.mkdir(parents=True, exist_ok=True)
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(folder / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    assert axe_violations(page, axe) == [], name
    allowed = [e for e in page.console_errors
               if any(f"status of {s}" in e for s in statuses)]
    assert page.console_errors == allowed, (name, page.console_errors)
    page.console_errors.clear()


def sign_in(page: Any, org: str, kind: str, login: str | None = None,
            home: bool = False) -> None:
    """Through the organisation's identity provider: its login page, its consent page,
    back to the register's home page."""
    page.goto("/sign-in")
    page.get_by_role("link", name="Sign in with your organisation").click()
    page.fill("input[name=login]", login or LOGINS[(org, kind)])
    page.fill("input[name=password]", "any password: a test provider")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/$") if login is None or home
                      else re.compile(r"/callback\?"))
    page.wait_for_load_state()
    # The test provider's own pages load a web font from the internet (unreachable here)
    # and a favicon it does not have: their console errors are not the register's.
    page.console_errors.clear()


def date_in(page: Any, name: str, day: date) -> None:
    page.fill(f"#{name}-day", str(day.day))
    page.fill(f"#{name}-month", str(day.month))
    page.fill(f"#{name}-year", str(day.year))


def choose(page: Any, name: str, value: str) -> None:
    page.check(f"input[name='{name}'][value='{value}']")


def open_person(page: Any, nhs: str) -> str:
    page.goto("/")
    page.get_by_label("NHS number").fill(nhs)
    page.get_by_role("button", name="Find", exact=True).click()
    page.wait_for_url(re.compile(r"/people/\d+$"))
    return page.url


def confirm(page: Any, axe: str | None = None, name: str = "") -> None:
    """Continue to "check your answers", then save; the confirmation page follows."""
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("heading", name="Check your answers").wait_for()
    if axe:
        accessible(page, axe, f"{name}-check")
    page.get_by_role("button", name="Confirm and save").click()


def fill_review(page: Any, day: date, involved: str = "yes") -> None:
    """A review finding the needs from the disorder no longer arise (as D1 wants)."""
    date_in(page, "on", day)
    page.fill("#attendees", "Dee Patel (care coordinator, R1A)\nSam Okoro (advocate)")
    choose(page, "person_involved", involved)
    choose(page, "carer_involved", "yes")
    page.fill("#outcome", "Settled at home; needs met without services")
    choose(page, "needs_still_arise", "no")


def fill_end_proposal(page: Any, review_on: date) -> None:
    page.get_by_role("link", name="Propose ending aftercare").click()
    choose(page, "review_on", review_on.isoformat())
    page.check("input[name='reasons'][value='no-longer-needed']")
    choose(page, "person_involved", "yes")
    choose(page, "carer_involved", "yes")
    choose(page, "moved", "none")
    page.fill("#by_name", "Ann Lead (s117 lead)")


def test_council_and_icb_end_aftercare_jointly(browser: Any, site: Site, axe: str):
    today = date.today()
    nhs, person_id, family, plans = site.one(
        "SELECT p.nhs_number, p.id, json_extract(p.facts, '$.names[#-1].name.family'), "
        "json_array_length(p.facts, '$.plans') FROM "
        "person p JOIN entitlement e ON e.person_id = p.id WHERE e.status = 'active' AND "
        "e.responsible_la = ? AND e.responsible_icb = ? AND e.residence_la = ? AND "
        "json_array_length(p.facts, '$.end_proposals') = 0 AND p.facts NOT LIKE '%cto-start%' "
        "AND json_array_length(p.facts, "
        "'$.names') > 0 ORDER BY json_array_length(p.facts, '$.plans'), p.id", HEREFORDSHIRE,
        HW_ICB, HEREFORDSHIRE)
    council = new_page(browser, site)
    sign_in(council, HEREFORDSHIRE, "la")
    open_person(council, nhs)
    assert family in council.locator(".nhsuk-caption-l").inner_text(), "named, not a number"
    accessible(council, axe, "01-person")

    # A review the person did not take part in is refused on its field (R3).
    council.get_by_role("link", name="Record a review").click()
    accessible(council, axe, "02-review-question")
    council.get_by_role("button", name="Continue").click()
    summary = council.locator(".nhsuk-error-summary")
    assert "Enter date of the review" in summary.inner_text()
    assert summary.locator("a[href='#on-day']").count() == 1, "the summary links the field"
    accessible(council, axe, "03-review-errors")
    fill_review(council, today, involved="no")
    confirm(council, axe, "04-review")
    error = council.locator("#person_involved-error").inner_text()
    assert "Rule R3" in error and "must be involved" in error
    choose(council, "person_involved", "yes")
    confirm(council)
    council.get_by_role("heading", name="Review recorded").wait_for()
    accessible(council, axe, "05-review-done")

    # A plan, then a service with split funding: 60 + 30 is refused (F2), 60 + 40 is kept.
    open_person(council, nhs)
    council.get_by_role("link", name="Add an aftercare plan").click()
    # One plan in force per entitlement: beside one the demo recorded, a draft.
    choose(council, "status", "draft" if plans else "active")
    date_in(council, "agreed_on", today)
    council.fill("#coordinator", "Dee Patel")
    council.check("input[name='needs'][value='mental-healthcare']")
    confirm(council, axe, "06-plan")
    council.get_by_role("heading", name="Aftercare plan saved").wait_for()
    open_person(council, nhs)
    council.get_by_role("link", name=re.compile("Add a service to plan")).last.click()
    council.select_option("#service_type", "domiciliary")
    council.fill("#provider", "Wye Valley Home Support")
    council.fill("#weekly_cost", "420.00")
    choose(council, "funding_basis", "s117")
    council.select_option("#funders-1-org", HEREFORDSHIRE)
    council.fill("#funders-1-share", "60")
    council.select_option("#funders-2-org", HW_ICB)
    council.fill("#funders-2-share", "30")
    choose(council, "meets_disorder_need", "yes")
    accessible(council, axe, "07-line-question")
    confirm(council, axe, "08-line")
    refused = council.locator("#funders-error").inner_text()
    assert "Rule F2" in refused and "90" in refused, refused
    assert council.locator(".nhsuk-error-summary a[href='#funders-1-org']").count() == 1
    accessible(council, axe, "09-line-refused-F2")
    council.fill("#funders-2-share", "40")
    confirm(council)
    council.get_by_role("heading", name="Service saved").wait_for()
    open_person(council, nhs)
    plans = council.get_by_role("table", name=re.compile("Plan")).last.inner_text()
    assert "Wye Valley Home Support" in plans and "60%" in plans and "40%" in plans

    # The council proposes the end at the review (D1); nothing ends yet.
    fill_end_proposal(council, today)
    council.fill("#note", "Agreed with the person and their advocate at the review")
    accessible(council, axe, "10-propose-end")
    confirm(council, axe, "11-propose-end")
    assert council.locator(".nhsuk-error-summary").count() == 0, council.locator(
        ".nhsuk-error-summary").inner_text()
    council.get_by_role("heading", name="Proposal sent to the other body").wait_for()
    assert site.one("SELECT status FROM entitlement WHERE person_id = ?", person_id) == (
        "active",), "a proposal ends nothing"
    with site.db() as db:
        events = [r[0] for r in db.execute(
            "SELECT payload FROM outbox ORDER BY id DESC LIMIT 20").fetchall()]
    assert any('"end-proposed"' in e for e in events), "the ICB is notified by an event"
    entitled = council.goto("/caseload?list=entitled")
    assert entitled.ok and nhs in council.content()

    # The ICB commissioner sees it waiting on its home page, and agrees.
    icb = new_page(browser, site)
    sign_in(icb, HW_ICB, "icb")
    waiting = icb.get_by_role("table", name=re.compile("Proposals to end aftercare"))
    row = waiting.locator("tr", has_text=family)
    assert row.count() == 1, "the person is named on the ICB's home page"
    assert "Proposal to end aftercare from E06000019" in row.inner_text()
    assert "0 days" in row.inner_text() and "You" in row.inner_text()
    accessible(icb, axe, "12-icb-home")
    open_person(icb, nhs)
    icb.get_by_role("link", name="Answer this proposal").click()
    choose(icb, "agree", "yes")
    icb.fill("#by_name", "Cal Commissioner")
    accessible(icb, axe, "13-icb-answer")
    confirm(icb, axe, "14-icb-answer")
    icb.get_by_role("heading", name="Answer recorded").wait_for()
    accessible(icb, axe, "15-icb-done")
    assert site.one("SELECT status FROM entitlement WHERE person_id = ?", person_id) == (
        "ended",)
    # Both caseloads change: no longer entitled for either body.
    for page in (council, icb):
        page.goto("/caseload?list=entitled")
        assert nhs not in page.content()
    open_person(council, nhs)
    assert "Proposal to end aftercare: agreed" in council.content()
    assert "Reinstate aftercare" in council.content()


def test_only_the_proposing_council_withdraws_its_waiting_proposal(browser: Any, site: Site,
                                                                  axe: str):
    today = date.today()
    nhs, person_id = site.one(
        "SELECT p.nhs_number, p.id FROM person p JOIN entitlement e ON e.person_id = p.id "
        "WHERE e.status = 'active' AND e.responsible_la = ? AND e.responsible_icb = ? AND "
        "json_array_length(p.facts, '$.end_proposals') = 0 AND json_array_length(p.facts, "
        "'$.plans') = 0 AND p.facts NOT LIKE '%cto-start%' ORDER BY p.id DESC",
        HEREFORDSHIRE, HW_ICB)
    council = new_page(browser, site)
    sign_in(council, HEREFORDSHIRE, "la")
    open_person(council, nhs)
    council.get_by_role("link", name="Record a review").click()
    fill_review(council, today)
    confirm(council)
    council.get_by_role("heading", name="Review recorded").wait_for()
    open_person(council, nhs)
    fill_end_proposal(council, today)
    confirm(council)
    council.get_by_role("heading", name="Proposal sent to the other body").wait_for()
    proposal = site.one("SELECT json_extract(facts, '$.end_proposals[#-1].id') FROM person "
                        "WHERE id = ?", person_id)[0]
    # The ICB is offered no button, and the form refuses it by rule D1 (only the proposer).
    icb = new_page(browser, site)
    sign_in(icb, HW_ICB, "icb")
    open_person(icb, nhs)
    assert icb.get_by_role("link", name="Answer this proposal").count() == 1
    assert icb.get_by_role("link", name="Withdraw proposal").count() == 0
    icb.goto(f"/people/{person_id}/record/end-withdraw?target={proposal}")
    confirm(icb)
    error = icb.locator("#reason-error").inner_text()
    assert "Rule D1" in error and "Only the body that proposed" in error, error
    accessible(icb, axe, "30-withdraw-refused-D1")
    # The council that proposed withdraws it from the person page.
    open_person(council, nhs)
    council.get_by_role("link", name="Withdraw proposal").click()
    council.fill("#reason", "The person's needs changed at home")
    accessible(council, axe, "31-withdraw")
    confirm(council, axe, "32-withdraw")
    council.get_by_role("heading", name="Proposal withdrawn").wait_for()
    open_person(council, nhs)
    assert "Proposal to end aftercare: withdrawn" in council.content()
    assert "The person's needs changed at home" in council.content()
    assert council.get_by_role("link", name="Withdraw proposal").count() == 0
    assert site.one("SELECT status FROM entitlement WHERE person_id = ?", person_id) == (
        "active",), "a withdrawn proposal ends nothing"


def test_a_second_council_opens_a_dispute_and_both_see_it(browser: Any, site: Site,
                                                          axe: str):
    nhs = site.one("SELECT p.nhs_number FROM person p JOIN entitlement e ON e.person_id = "
                   "p.id WHERE e.responsible_la = ? AND e.residence_la = ? AND "
                   "json_array_length(p.facts, '$.disputes') = 0",
                   HEREFORDSHIRE, SWINDON)[0]
    swindon = new_page(browser, site)
    sign_in(swindon, SWINDON, "la")
    open_person(swindon, nhs)
    swindon.get_by_role("link", name="Open a residence dispute").click()
    swindon.select_option("#other", HEREFORDSHIRE)
    choose(swindon, "interim_lead", "mine")
    date_in(swindon, "opened_on", date.today())
    swindon.fill("#note", "Tenancy in Hereford since 2019; not ordinarily resident here")
    accessible(swindon, axe, "20-dispute")
    confirm(swindon, axe, "21-dispute")
    swindon.get_by_role("heading", name="Dispute opened").wait_for()
    hereford = new_page(browser, site)
    sign_in(hereford, HEREFORDSHIRE, "la")
    row = hereford.get_by_role("table", name=re.compile("residence disputes")).locator(
        "tr", has_text="Ordinary residence disputed")
    assert row.count() >= 1 and "E06000030" in row.first.inner_text()
    open_person(hereford, nhs)
    assert "Ordinary residence dispute: open" in hereford.content()
    assert "Interim lead: Swindon (E06000030)" in hereford.content()
    accessible(hereford, axe, "22-dispute-seen")
    for council in (hereford, swindon):  # both parties list it (L5)
        council.goto("/caseload?list=disputed")
        assert nhs in council.content()


def test_a_review_completed_with_the_keyboard_alone(browser: Any, site: Site, axe: str):
    nhs = site.one("SELECT p.nhs_number FROM person p JOIN entitlement e ON e.person_id = "
                   "p.id WHERE e.status = 'active' AND e.responsible_la = ? ORDER BY p.id "
                   "DESC", HEREFORDSHIRE)[0]
    page = new_page(browser, site)
    sign_in(page, HEREFORDSHIRE, "la")
    open_person(page, nhs)
    page.get_by_role("link", name="Record a review").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/record/review$"))
    today = date.today()
    page.locator("#on-day").focus()
    for value in (str(today.day), str(today.month), str(today.year)):
        page.keyboard.type(value)
        page.keyboard.press("Tab")
    page.keyboard.type("Dee Patel (care coordinator, R1A)")
    page.keyboard.press("Tab")  # to the radios: the first is focused, Space checks it
    page.keyboard.press("Space")  # the person took part: Yes
    page.keyboard.press("Tab")
    page.keyboard.press("ArrowDown")  # carer: No
    page.keyboard.press("Tab")
    page.keyboard.type("Plan continues")
    page.keyboard.press("Tab")
    page.keyboard.press("Space")  # needs still arise: Yes
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # Continue
    page.get_by_role("heading", name="Check your answers").wait_for()
    summary = page.locator(".nhsuk-summary-list").inner_text()
    assert "Dee Patel" in summary and "Plan continues" in summary
    assert summary.count("Yes") == 2 and "No" in summary
    page.get_by_role("button", name="Confirm and save").focus()
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Review recorded").wait_for()
    accessible(page, axe, "30-keyboard-done")


def test_every_form_needs_csrf_and_another_councils_person_is_not_found(browser: Any,
                                                                       site: Site):
    from adapter.http.pages.casework_forms import FORMS

    mine = site.one("SELECT p.id FROM person p JOIN entitlement e ON e.person_id = p.id "
                    "WHERE e.responsible_la = ? ORDER BY p.id", HEREFORDSHIRE)[0]
    theirs = site.one("SELECT p.id FROM person p WHERE NOT EXISTS (SELECT 1 FROM entitlement "
                      "e WHERE e.person_id = p.id AND (e.responsible_la = ? OR "
                      "e.residence_la = ?)) AND EXISTS (SELECT 1 FROM entitlement e WHERE "
                      "e.person_id = p.id)", HEREFORDSHIRE, HEREFORDSHIRE)[0]
    page = new_page(browser, site)
    sign_in(page, HEREFORDSHIRE, "la")
    before = site.one("SELECT count(*) FROM inbox")[0]
    for key in FORMS:
        forged = page.request.post(f"{site.url}/people/{mine}/record/{key}",
                                   form={"step": "save", "command_id": "page:" + "0" * 32})
        assert forged.status == 400 and "This form has expired" in forged.text(), key
        assert page.goto(f"/people/{theirs}/record/{key}").status == 404, key
    assert site.one("SELECT count(*) FROM inbox")[0] == before, "nothing was recorded"
    # An ICB may not record what is a council's alone (ordinary residence).
    icb = new_page(browser, site)
    sign_in(icb, HW_ICB, "icb")
    assert icb.goto(f"/people/{mine}/record/residence").status == 403


def test_oidc_sign_in_maps_the_claims_and_refuses_an_account_with_no_organisation(
        browser: Any, site: Site, axe: str):
    """The identity provider's claims decide who the person acts for, as a token's do for
    the API; without them there is no session. Pasting a token is for development only."""
    page = new_page(browser, site)
    sign_in(page, HW_ICB, "icb")
    assert "(QGH)" in page.locator("header").inner_text()
    [cookie] = [c for c in page.context.cookies() if c["name"] == "s117_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    other = new_page(browser, site)
    sign_in(other, "", "", login="no-organisation")
    other.get_by_role("heading", name="Sign in").wait_for()
    assert "did not say who you act for" in other.content() and "org" in other.content()
    accessible(other, axe, "40-oidc-refused", statuses=(401,))
    assert other.goto("/caseload").url.endswith("/sign-in?next=/caseload"), "no session"
    assert other.get_by_label("Access token").count() == 0, "no token form with OIDC"
    pasted = other.request.post(f"{site.url}/sign-in", form={"token": token(HW_ICB, "icb")})
    assert pasted.status in (400, 404)


def test_oidc_claims_from_userinfo_and_signing_out_at_the_provider(browser: Any, site: Site,
                                                                    axe: str):
    """An account whose ID token names no organisation is mapped from the userinfo
    endpoint; signing out ends the provider's session too (RP-initiated logout: its
    end_session_endpoint with id_token_hint and post_logout_redirect_uri), so the next
    sign-in asks for the login again."""
    page = new_page(browser, site)
    sign_in(page, "", "", login="userinfo-commissioner", home=True)
    assert "(QGH)" in page.locator("header").inner_text(), "the org from userinfo"
    assert page.goto("/caseload").ok
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/session/end"))  # the provider asks to confirm
    assert "id_token_hint=" in page.url and "post_logout_redirect_uri=" in page.url
    page.get_by_role("button", name="Yes, sign me out").click()
    page.wait_for_url(re.compile(r"/sign-in/oidc/signed-out"))
    assert "You have signed out" in page.locator("#signed-out").inner_text()
    page.console_errors.clear()  # the provider's pages fetch a web font from the internet
    accessible(page, axe, "41-oidc-signed-out")
    assert page.goto("/caseload").url.endswith("/sign-in?next=/caseload"), "no session here"
    page.get_by_role("link", name="Sign in with your organisation").click()
    page.locator("input[name=login]").wait_for()  # and none at the provider: log in again
    assert "/interaction/" in page.url
