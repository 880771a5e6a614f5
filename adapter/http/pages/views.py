"""The pages' routes: sign-in and sign-out, the home page with the NHS number search, the
person page, caseload lists, the panel agenda, the quarantine list and the reports.

NHS numbers never go in a URL (they would reach browser history and the access log): the
search is a POST, answered with a redirect to the person's opaque id."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import jwt
from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from markupsafe import Markup

from adapter.auth.tokens import ORG_CODE, KeysUnavailable, TokenRefused
from adapter.bootstrap import Register
from adapter.http import policy
from adapter.http.fhir.reader import today
from adapter.http.pages import caseload, gate
from adapter.http.pages.casework_forms import FORMS
from adapter.http.pages.forms import Field, check, collect
from adapter.http.pages.person import PersonView, citation, person_view
from adapter.http.pages.sessions import ID_TOKEN, ServerSession
from adapter.http.pages.waiting import waiting
from adapter.reports import render
from adapter.reports import report as build_report
from adapter.reports.joint_register import write_csv
from queues.inbound import store as inbound
from register.access import OrgType, Viewer
from register.nhs_number import canonical, problem
from register.reports.catalogue import PERIODS, REPORTS
from register.store.inbound_tables import NEEDS_REVIEW
from register.store.views import RegisterViews

blueprint = Blueprint("pages", __name__, template_folder="templates",
                      static_folder="static", static_url_path="/assets")


def oidc_enabled() -> bool:
    return "s117.pages.oidc" in current_app.extensions


def _register() -> Register:
    return current_app.extensions["s117"]


def _viewer() -> Viewer:
    return g.s117_caller.viewer


def _audited(resources: list[dict[str, Any]]) -> None:
    """What a page showed, for its AuditEvent, as the API's responses are read
    (adapter/http/audit.py `touched`)."""
    g.s117_output = {"resourceType": "Bundle",
                     "entry": [{"resource": r} for r in resources]}


def _as_of() -> date:
    raw = request.args.get("date", "")
    try:
        return date.fromisoformat(raw) if raw else today()
    except ValueError:
        return today()


# -- signing in ---------------------------------------------------------------------------


@blueprint.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Response | str:
    verifier = current_app.extensions["s117.pages.verifier"]
    target = gate.safe_next(request.values.get("next"))
    if verifier is None:
        return redirect(url_for("pages.dev_sign_in", next=target))  # type: ignore[return-value]
    error = request.args.get("ended")
    # With an OpenID Connect provider configured, staff sign in through it; pasting a
    # token is for development and tests, when there is none.
    with_oidc = oidc_enabled()
    if request.method == "POST" and with_oidc:
        return gate.page_error(404, "Page not found", "Sign in with your organisation.")
    if request.method == "POST":
        token = "".join(request.form.get("token", "").split())
        try:
            caller = verifier.verify(f"Bearer {token}")
        except TokenRefused as exc:
            g.s117_refusal = error = f"That token was not accepted: {exc}"
        except KeysUnavailable as exc:
            error = f"Tokens cannot be checked just now: {exc}"
        else:
            gate.sign_in(caller, expires=jwt.decode(
                token, options={"verify_signature": False}).get("exp"))
            g.s117_caller = caller
            return redirect(target)  # type: ignore[return-value]
    return render_template("pages/sign_in.html", error=error, next=target, oidc=with_oidc,
                           token_form=not with_oidc)


@blueprint.route("/dev-sign-in", methods=["GET", "POST"])
def dev_sign_in() -> Response | str:
    """S117_AUTH=off only: act as any organisation of the reference data."""
    if current_app.extensions["s117.pages.verifier"] is not None:
        return gate.page_error(404, "Page not found", "There is no such page.")
    target = gate.safe_next(request.values.get("next"))
    error = None
    if request.method == "POST":
        kind_code, _, org = request.form.get("org", "").partition(":")
        trust = request.form.get("trust", "").strip().upper()
        if trust:
            kind_code, org = OrgType.TRUST.value, trust
        try:
            kind = OrgType(kind_code)
        except ValueError:
            kind = None
        if kind is not None and ORG_CODE[kind].match(org):
            gate.sign_in(org=org, kind=kind)
            return redirect(target)  # type: ignore[return-value]
        error = "Choose an organisation, or give a trust's ODS code (3 to 5 letters or digits)"
    orgs = _register().refdata.orgs.values()
    return render_template(
        "pages/dev_sign_in.html", error=error, next=target,
        councils=sorted((o for o in orgs if o.kind == "la"), key=lambda o: o.name),
        icbs=sorted((o for o in orgs if o.kind == "icb"), key=lambda o: o.name))


@blueprint.post("/sign-out")
def sign_out() -> Response:
    """The session is deleted here; signed in through an OpenID Connect provider that
    offers it, the browser then signs out there too (adapter/http/pages/oidc.py)."""
    id_token = session.get(ID_TOKEN)
    session.clear()
    if isinstance(session, ServerSession):
        session.rotate = True  # what the sign-out keeps (its state) under a new id
    logout = current_app.extensions.get("s117.pages.logout")
    ended = logout(id_token) if logout is not None else None
    return ended or redirect(url_for("pages.sign_in"))  # type: ignore[return-value]


# -- finding a person -------------------------------------------------------------------


def _home(status: int = 200, **answers: object) -> Response:
    return Response(render_template(
        "pages/home.html", waiting=waiting(_register(), _viewer(), today()),
        on=today(), **{"error": None, "value": "", "errors": {}, "people": None,
                       **answers}), status)


@blueprint.get("/")
def home() -> Response:
    return _home()


@blueprint.post("/search")
def search() -> Response | str:
    """By NHS number, or by family name and date of birth; a POST, so neither reaches a URL
    or the access log."""
    if request.form.get("by") == "name":
        return _search_by_name()
    value = request.form.get("nhs_number", "")
    number = canonical(value)
    if number is None:
        error = (f"Enter a valid NHS number, 10 digits like 999 000 0018 ({problem(value)})"
                 if value.strip() else "Enter an NHS number")
        return _home(400, error=error, value=value)
    found = RegisterViews(_register().sessions).person_ids_by_nhs_number((number,))
    view = person_view(_register(), _viewer(), found[0], today()) if found else None
    if view is None:
        return Response(render_template("pages/not_found.html", value=value), 404)
    return redirect(url_for("pages.person", person_id=view.person_id))  # type: ignore[return-value]


def _search_by_name() -> Response:
    fields = (Field("family", "Family name", "text"),
              Field("born", "Date of birth", "date", "For example, 31 3 1980"))
    answers = check(fields, collect(fields, request.form))
    if answers.errors:
        return _home(400, name_answers=answers,
                     errors={f.anchor: answers.errors[f.name] for f in fields
                             if f.name in answers.errors})
    ids = RegisterViews(_register().sessions).person_ids_by_name(
        answers.values["family"], answers.values["born"])
    views = [v for v in (person_view(_register(), _viewer(), i, today()) for i in ids) if v]
    if len(views) == 1:
        return redirect(url_for("pages.person", person_id=views[0].person_id))  # type: ignore[return-value]
    if not views:
        return Response(render_template("pages/not_found.html", value=None), 404)
    return _home(name_answers=answers, people=views)


@blueprint.get("/people/<int:person_id>")
def person(person_id: int) -> Response | str:
    view = person_view(_register(), _viewer(), person_id, today())
    if view is None:
        return Response(render_template("pages/not_found.html", value=None), 404)
    _audited([{"resourceType": "Patient", "id": str(person_id)}]
             + [{"resourceType": "EpisodeOfCare", "id": e.entitlement.id,
                 "patient": {"reference": f"Patient/{person_id}"}} for e in view.entitlements])
    return render_template("pages/person.html", view=view, citation=citation, on=today(),
                           name_of=_register().refdata.name, forms=FORMS,
                           may_record=lambda key: _may_record(view, key))


def _may_record(view: PersonView, key: str) -> bool:
    """Whether to offer a casework form's link on the person page (the form checks again)."""
    from adapter.http.pages.casework import allowed
    from adapter.http.pages.casework_forms import Case, NotAvailable
    try:
        return allowed(Case(_register(), g.s117_caller, view, "", today()), FORMS[key]) is None
    except NotAvailable:
        return False


# -- lists ------------------------------------------------------------------------------


@blueprint.get("/caseload", endpoint="caseload")
def caseload_list() -> Response | str:
    who, on = _viewer(), today()
    query = caseload.Query.parse(request.args.to_dict())
    found = caseload.lines(_register(), who, on)
    chosen = caseload.select(found, who, query)
    csv_wanted = request.args.get("format") == "csv"
    _audited([{"resourceType": "EpisodeOfCare", "id": line.row.entitlement_id,
               "patient": {"reference": f"Patient/{line.person_id}"}}
              for line in (chosen if csv_wanted else query.window(chosen))])
    if csv_wanted:
        out = io.StringIO()
        write_csv(out, [line.row for line in chosen])
        return Response(out.getvalue(), mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="s117-{query.list}-{on}.csv"'})
    bodies = sorted({b for line in found if (b := caseload.other_body(line.row, who))},
                    key=lambda b: b[1])
    args = {k: v for k, v in request.args.to_dict().items() if k != "page"}
    return render_template("pages/caseload.html", query=query, lines=query.window(chosen),
                           total=len(chosen), pages=query.pages(len(chosen)), on=on,
                           lists=caseload.LISTS, sorts=caseload.SORTS, bodies=bodies,
                           args=args)


@blueprint.get("/panel")
def panel() -> Response | str:
    """The lines waiting for the caller's council or ICB (its own people, whom it sees), or
    every line for an admin; `?format=csv` the same as CSV, names included."""
    who = _viewer()
    rows = _register().casework().panel_agenda(
        la=who.org if who.kind is OrgType.LA else None,
        icb=who.org if who.kind is OrgType.ICB else None, on=today())
    if request.args.get("format") == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(AGENDA_COLUMNS)
        writer.writerows([row.to_json()[c] for c in AGENDA_COLUMNS] for row in rows)
        return Response(out.getvalue(), mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="s117-panel-agenda-{today()}.csv"'})
    return render_template("pages/panel.html", rows=rows)


# The panel agenda's CSV: who, then what is asked and since when.
AGENDA_COLUMNS = ("requested_on", "age_days", "nhs_number", "name", "local_authority", "icb",
                  "plan", "line", "service_type", "provider", "weekly_cost", "funders",
                  "status", "reason")


@blueprint.get("/quarantine")
def quarantine() -> str:
    """Messages a trust sent that could not be applied (a trust sees its own)."""
    who = _viewer()
    rows = inbound.listing(_register().sessions, inbound.QUARANTINED, 500,
                           sender=who.org if who.kind is OrgType.TRUST else None)
    return render_template("pages/quarantine.html", rows=rows, admin=who.is_admin,
                           needs_review=NEEDS_REVIEW, done=request.args.get("done"))


@blueprint.post("/quarantine/<int:row_id>/review")
def quarantine_review(row_id: int) -> Response:
    """An administrator applies or rejects a message held for review."""
    from adapter.bootstrap import inbound as build_inbound
    from queues.inbound import quarantine as review

    if request.form.get("decision") == "apply":
        bus = build_inbound(_register().settings, "pages review", _register())
        try:
            found = review.approve(bus, _register().sessions, row_id)
        finally:
            bus.bus.close()
        done = "applied" if found is not None and (
            found.result is None or found.result.status != "quarantined") else "not-applied"
    else:
        done = "rejected" if review.reject(_register().sessions, row_id) else "not-applied"
    return redirect(url_for("pages.quarantine", done=f"{row_id}:{done}"))  # type: ignore[return-value]


# -- reports ----------------------------------------------------------------------------


@blueprint.get("/reports")
def reports() -> str:
    return render_template("pages/reports.html", reports=REPORTS)


def _report(name: str) -> Any:
    period = request.args.get("period", "month")
    return build_report(_register(), name, _viewer(), _as_of(),
                        period if period in PERIODS else "month")


@blueprint.get("/reports/<name>")
def report(name: str) -> Response | str:
    if name not in REPORTS:
        return gate.page_error(404, "Page not found", f"There is no report called {name}.")
    built = _report(name)
    if request.args.get("format") == "csv":
        return Response(render.csv_text(built), mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="s117-{name}-{_as_of()}.csv"'})
    return render_template("pages/report.html", report=built, name=name,
                           args=request.args.to_dict(), periods=PERIODS, on=_as_of(),
                           has_period=name == "review-compliance")


@blueprint.get("/reports/<name>/chart.svg")
def report_chart(name: str) -> Response:
    if name not in REPORTS:
        return gate.page_error(404, "Page not found", f"There is no report called {name}.")
    response = Response(render.svg(_report(name)), mimetype="image/svg+xml")
    # matplotlib styles its shapes with style attributes; an SVG shown as an image runs
    # no script, so its own policy allows those and nothing else.
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


@blueprint.app_template_global()
def csrf_field() -> Markup:
    return Markup(f'<input type="hidden" name="{gate.CSRF_FIELD}" value="{gate.csrf_token()}">')


@blueprint.app_template_global()
def person_caption(view: PersonView) -> str:
    """A person as staff know them: name, date of birth, NHS number (shown only to those
    who may see the person; never logged)."""
    facts = view.work.person.facts
    name = facts.current_name()
    number = f"{facts.nhs_number[:3]} {facts.nhs_number[3:6]} {facts.nhs_number[6:]}"
    born = facts.date_of_birth.strftime("%-d %b %Y") if facts.date_of_birth else None
    return ", ".join(p for p in (name.text if name else None,
                                 f"born {born}" if born else None,
                                 f"NHS number {number}") if p)


@blueprint.app_template_global()
def caller_label() -> str | None:
    caller = g.get("s117_caller")
    if caller is None:
        return None
    name = _register().refdata.name(caller.org)
    return f"{name} ({caller.org})" if name else caller.org


@blueprint.app_template_global()
def may_open(endpoint: str) -> bool:
    """Whether the signed-in caller may open a page, to show only links that work."""
    caller, need = g.get("s117_caller"), policy.page_need(endpoint)
    return caller is not None and (need is None or policy.page_refusal(caller, need) is None)
