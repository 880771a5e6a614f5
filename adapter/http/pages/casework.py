"""The casework forms' routes: question page -> check your answers -> confirmation, in the
NHS.UK design system's pattern. Each step is a POST with the session's CSRF token; the last
makes one register command through the same service, rules and Provenance as the API, and a
refusal is shown on the field it is about, with its rule id.

Who may record what is the API's: the responsible council or ICB of the entitlement
(`register.access.writes_casework`), ordinary-residence decisions and disputes the council's
alone, and a dispute may also be opened by the council where the person lives (a party to
it). A person the caller may not see is "not found" (404), as on every page."""

from __future__ import annotations

import re
from uuid import uuid4

from flask import Response, g, redirect, render_template, request, url_for

from adapter.http import policy
from adapter.http.fhir.reader import today
from adapter.http.pages import gate
from adapter.http.pages.casework_forms import FORMS, Case, CaseForm, NotAvailable, with_agent
from adapter.http.pages.forms import Answers, Field, check, collect, refusal, shown
from adapter.http.pages.person import person_view
from adapter.http.pages.views import _audited, _register, blueprint
from register import access
from register.errors import ConcurrencyConflict, RegisterError

_COMMAND_ID = re.compile(r"^page:[0-9a-f]{32}$")


def allowed(case: Case, form: CaseForm) -> str | None:
    """Why the caller may not record this form for this person, or None."""
    need = policy.Need(form.resource, "c", policy.CASEWORK, "C", "page-casework")
    problem = policy.page_refusal(case.caller, need)
    if problem:
        return problem
    facts = case.view.work.person.facts
    bodies = access.bodies_of(case.entitlement.stored, access.trusts_of(facts))
    who = case.caller.viewer
    if form.dispute and access.writes_dispute(who, bodies):
        return None
    if access.writes_casework(who, bodies, council_only=form.council_only):
        return None
    body = "the responsible council" if form.council_only else "the responsible council or ICB"
    return (f"This is recorded by {body} (council {bodies.local_authority or 'not known'}, "
            f"ICB {bodies.icb or 'not known'}).")


def _page(form: CaseForm, case: Case, fields: tuple[Field, ...], answers: Answers,
          status: int = 200, template: str = "pages/casework_form.html",
          **more: object) -> Response:
    return Response(render_template(
        template, form=form, case=case, fields=fields, answers=answers, shown=shown,
        title=form.title, person_id=case.view.person_id, target=case.target,
        errors=[(f.anchor, answers.errors[f.name]) for f in fields if f.name in answers.errors],
        **more), status)


@blueprint.route("/people/<int:person_id>/record/<key>", methods=["GET", "POST"],
                 endpoint="casework")
def casework(person_id: int, key: str) -> Response:
    form = FORMS.get(key)
    if form is None:
        return gate.page_error(404, "Page not found", "There is no such form.")
    register, caller = _register(), g.s117_caller
    view = person_view(register, caller.viewer, person_id, today())
    if view is None:
        return Response(render_template("pages/not_found.html", value=None), 404)
    _audited([{"resourceType": "Patient", "id": str(person_id)}])
    case = Case(register, caller, view, request.values.get("target", ""), today())
    try:
        problem = allowed(case, form)
        if problem:
            g.s117_refusal = problem
            return gate.page_error(403, "You cannot record this", problem)
        fields = form.fields(case)
        initial = form.initial(case)
    except NotAvailable as exc:
        return gate.page_error(409, form.title, str(exc))
    if request.method == "GET":
        return _page(form, case, fields, Answers(raw=initial))
    step = request.form.get("step", "check")
    answers = check(fields, collect(fields, request.form))
    if step == "change":
        answers.errors.clear()
        return _page(form, case, fields, answers)
    if answers.errors:
        return _page(form, case, fields, answers, 400)
    if step != "save":
        # The command's id is made now and carried by the check page, so a confirmation
        # sent twice (a double click, a resubmitted page) is applied once.
        return _page(form, case, fields, answers, template="pages/casework_check.html",
                     command_id=f"page:{uuid4().hex}", hidden=answers.hidden(fields))
    command_id = request.form.get("command_id", "")
    if not _COMMAND_ID.match(command_id):
        return gate.page_error(400, "This form has expired", "Go back and try again.")
    try:
        command = with_agent(form.build(case, answers.values, command_id), caller)
        register.service.handle(command)
    except NotAvailable as exc:
        return gate.page_error(409, form.title, str(exc))
    except ConcurrencyConflict:
        answers.errors[fields[0].name] = ("Someone else changed this record while you were "
                                          "answering: check your answers and save again")
        return _page(form, case, fields, answers, 409)
    except RegisterError as exc:
        name, message = refusal(exc, fields, form.where)
        answers.errors[name] = message
        g.s117_refusal = str(exc)
        return _page(form, case, fields, answers, 422)
    return redirect(url_for("pages.recorded", person_id=person_id, key=key))  # type: ignore[return-value]


@blueprint.get("/people/<int:person_id>/recorded/<key>", endpoint="recorded")
def recorded(person_id: int, key: str) -> Response | str:
    form = FORMS.get(key)
    view = person_view(_register(), g.s117_caller.viewer, person_id, today())
    if form is None or view is None:
        return Response(render_template("pages/not_found.html", value=None), 404)
    return render_template("pages/casework_done.html", form=form, title=form.done,
                           person_id=person_id)
