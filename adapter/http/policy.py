"""The access policy of the HTTP API: the one place that says who may call what.

Every request passes `authorise` (a Flask `before_request`): it verifies the bearer token,
finds what the endpoint needs in ROUTES (resource type, SMART interaction letter, the kinds of
organisation that may use it at all) and refuses with 401 or 403 before a handler runs. An
endpoint missing from ROUTES needs a valid token and nothing more only if it serves no data;
anything else is refused (`unlisted`), so a new route cannot be open by accident.

What a caller may see within an allowed endpoint (which people, which entitlements) is
`register.access`, asked through `viewer()`: the FHIR reader and every search filter by it,
and the write planners check `may_write_casework`, `may_send_for` and `may_see` before a
command is made."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import Flask, Response, g, request

from adapter.auth.failures import FailureBudget
from adapter.auth.scopes import ALL
from adapter.auth.tokens import Caller, KeysUnavailable, TokenRefused, Verifier
from adapter.http.fhir.errors import FhirError, Issue, outcome
from adapter.http.fhir.responses import fhir_json
from fhir_profiles.registry import CONFORMANCE_TYPES
from register import access
from register.access import EVERYONE, Bodies, OrgType, Viewer

TRUST, LA, ICB, ADMIN = OrgType.TRUST, OrgType.LA, OrgType.ICB, OrgType.ADMIN
ANYONE = frozenset(OrgType)
CASEWORK = frozenset({LA, ICB, ADMIN})
SENDERS = frozenset({TRUST, ADMIN})


@dataclass(frozen=True)
class Need:
    """What an endpoint asks of the caller, and how its audit record names it."""

    resource_type: str | None  # None: any valid token, no scope (serves no register data)
    interaction: str | None  # SMART letter c r u d s
    kinds: frozenset[OrgType]
    action: str  # AuditEvent.action: C R U D E
    subtype: str  # the FHIR interaction or operation


def _need(resource_type: str | None, interaction: str | None, kinds: frozenset[OrgType],
          subtype: str, action: str | None = None) -> Need:
    letter_action = {"c": "C", "r": "R", "u": "U", "d": "D", "s": "E", None: "E"}
    return Need(resource_type, interaction, kinds, action or letter_action[interaction],
                subtype)


# Endpoints whose `resource_type` comes from the URL are resolved in `need_of`.
ROUTES: dict[str, Need] = {
    "fhir.history_entitlements": _need("EpisodeOfCare", "s", ANYONE, "history-type"),
    "fhir.search_episodes": _need("EpisodeOfCare", "s", ANYONE, "search-type"),
    "fhir.search_patients": _need("Patient", "s", ANYONE, "search-type"),
    "fhir.s117_responsibility": _need("EpisodeOfCare", "r", ANYONE, "$s117-responsibility",
                                      "E"),
    "fhir.create_patient": _need("Patient", "c", SENDERS, "create"),
    "fhir.update_patient": _need("Patient", "u", frozenset({TRUST, LA, ADMIN}), "update"),
    "fhir.entitlement_is_derived": _need(None, None, ANYONE, "update", "U"),
    "fhir.search_plans": _need("CarePlan", "s", ANYONE, "search-type"),
    "fhir.search_tasks": _need("Task", "s", ANYONE, "search-type"),
    "fhir.search_flags": _need("Flag", "s", ANYONE, "search-type"),
    "fhir.create_plan": _need("CarePlan", "c", CASEWORK, "create"),
    "fhir.update_plan": _need("CarePlan", "u", CASEWORK, "update"),
    "fhir.create_task": _need("Task", "c", CASEWORK, "create"),
    "fhir.update_task": _need("Task", "u", CASEWORK, "update"),
    "fhir.flags_are_derived": _need(None, None, ANYONE, "update", "U"),
    "fhir.casework_is_not_deleted": _need(None, None, ANYONE, "delete", "D"),
    # Each entry of a transaction or batch is checked as if it came on its own.
    "fhir.transaction_or_batch": _need(None, None, ANYONE, "transaction"),
    "fhir.everything": _need("Patient", "r", ANYONE, "$everything", "E"),
    "fhir.process_message": _need("MessageHeader", "c", SENDERS, "$process-message", "C"),
    "fhir.create_subscription": _need("Subscription", "c", CASEWORK, "create"),
    "fhir.read_subscription": _need("Subscription", "r", CASEWORK, "read"),
    "fhir.update_subscription": _need("Subscription", "u", CASEWORK, "update"),
    "fhir.delete_subscription": _need("Subscription", "d", CASEWORK, "delete"),
    "fhir.search_subscriptions": _need("Subscription", "s", CASEWORK, "search-type"),
    "fhir.subscriptions_status": _need("Subscription", "s", CASEWORK, "$status", "E"),
    "fhir.subscription_status": _need("Subscription", "r", CASEWORK, "$status", "E"),
    "fhir.subscription_events": _need("Subscription", "r", CASEWORK, "$events", "E"),
    "fhir.validate_resource": _need(None, None, ANYONE, "$validate", "E"),
    "fhir.search_provenance": _need("Provenance", "s", ANYONE, "search-type"),
    "fhir.search_audit": _need("AuditEvent", "s", frozenset({ADMIN}), "search-type"),
    "hl7v2.receive": _need("MessageHeader", "c", SENDERS, "hl7v2-message", "C"),
}
# Published conformance and the subscription topics: no register data, readable by anyone
# (validators and clients fetch profiles and the CapabilityStatement before they have a
# token), as on NHS England's FHIR APIs.
PUBLIC = frozenset({"fhir.metadata", "fhir.openapi", "fhir.read_topic", "fhir.search_topics",
                    "health", "static"})
OPERATIONS = {"end-entitlement": "$end-entitlement", "reinstate": "$reinstate",
              "record-charge": "$record-charge"}

# The staff web pages (adapter/http/pages): the same needs, judged for the Caller of the
# signed session cookie (not a bearer header) by the pages' own hook, which calls
# `page_refusal`. A page not listed here, like an API route, is for admins only.
PAGES_BLUEPRINT = "pages"
PAGES: dict[str, Need] = {
    "pages.home": _need(None, None, ANYONE, "page-home", "R"),
    "pages.search": _need("EpisodeOfCare", "r", ANYONE, "page-search", "E"),
    "pages.person": _need("EpisodeOfCare", "r", ANYONE, "page-person", "R"),
    "pages.caseload": _need("EpisodeOfCare", "s", CASEWORK, "page-caseload", "R"),
    "pages.panel": _need("Task", "s", CASEWORK, "page-panel-agenda", "R"),
    "pages.quarantine": _need("MessageHeader", "r", SENDERS, "page-quarantine", "R"),
    "pages.quarantine_review": _need("MessageHeader", "c", frozenset({ADMIN}),
                                     "page-quarantine-review", "U"),
    "pages.reports": _need(None, None, ANYONE, "page-reports", "R"),
    "pages.report": _need("EpisodeOfCare", "s", ANYONE, "page-report", "R"),
    "pages.report_chart": _need("EpisodeOfCare", "s", ANYONE, "page-report", "R"),
    "pages.sign_out": _need(None, None, ANYONE, "page-sign-out", "E"),
    # The casework forms: each also needs the scope its API write needs (CarePlan.c or
    # Task.c), checked with the responsible body by adapter/http/pages/casework.py.
    "pages.casework": _need("EpisodeOfCare", "r", CASEWORK, "page-casework", "C"),
    "pages.recorded": _need("EpisodeOfCare", "r", CASEWORK, "page-casework", "R"),
}
# Signing in, and the design system's files, need no session.
PUBLIC_PAGES = frozenset({"pages.sign_in", "pages.dev_sign_in", "pages.static",
                          "pages.oidc_start", "pages.oidc_callback",
                          "pages.oidc_signed_out"})


def need_of(endpoint: str | None, args: dict[str, str]) -> Need | None:
    """What this endpoint needs; None when it is public."""
    kind = args.get("resource_type")
    if endpoint in PUBLIC or (kind in CONFORMANCE_TYPES and endpoint in (
            "fhir.read", "fhir.vread", "fhir.search_other")):
        return None
    if endpoint in ROUTES:
        return ROUTES[endpoint]
    only = frozenset({ADMIN}) if kind == "AuditEvent" else ANYONE
    if endpoint in ("fhir.read", "fhir.vread"):
        return _need(kind, "r", only, endpoint.removeprefix("fhir."))
    if endpoint == "fhir.history_instance":
        return _need(kind, "r", only, "history-instance")
    if endpoint == "fhir.search_other":
        return _need(kind, "s", only, "search-type")
    if endpoint == "fhir.entitlement_operation":
        return _need("EpisodeOfCare", "u", CASEWORK,
                     OPERATIONS.get(args.get("operation", ""), "operation"), "E")
    return unlisted()


def unlisted() -> Need:
    """An endpoint this policy does not know (a 404 path, or a route added without an entry
    here): a valid token of an admin, so nothing is open by accident."""
    return _need(None, None, frozenset({ADMIN}), "unknown")


# -- the request hook -----------------------------------------------------------------------


def _refuse(status: int, code: str, message: str) -> Response:
    response = fhir_json(outcome(Issue("error", code, message)), status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="s117-register"'
    g.s117_refusal = message
    return response


def _failed(failures: FailureBudget | None, status: int, code: str, message: str
            ) -> Response:
    """A request without a valid token: counted against its address, and answered 429
    instead once the address has used its budget (adapter/auth/failures.py)."""
    address = request.remote_addr or "unknown"
    if failures is not None:
        wait = failures.exhausted(address)
        failures.failed(address)
        if wait is not None:
            g.s117_over_budget = True  # audited as one row per burst (adapter/http/audit.py)
            answer = _refuse(429, "throttled", f"too many requests without a valid token from "
                             f"this address: try again in {wait} s")
            answer.headers["Retry-After"] = str(wait)
            return answer
    return _refuse(status, code, message)


def authorise(verifier: Verifier | None, failures: FailureBudget | None = None
              ) -> Response | None:
    """Authenticate and check the endpoint's needs; a response ends the request early."""
    if request.blueprint == PAGES_BLUEPRINT:
        return None  # the pages authenticate by their session (adapter/http/pages/gate.py)
    need = need_of(request.endpoint, request.view_args or {})
    g.s117_need = need
    if verifier is None:  # S117_AUTH=off (SQLite only): the local operator, seeing all
        g.s117_caller = Caller(EVERYONE, "anonymous", ALL)
        return None
    header = request.headers.get("Authorization")
    if need is None and not header:
        return None
    try:
        g.s117_caller = caller = verifier.verify(header)
    except TokenRefused as exc:
        return _failed(failures, 401, "login", str(exc))
    except KeysUnavailable as exc:
        return _refuse(503, "transient", str(exc))
    problem = _problem(caller, need) if need is not None else None
    return _refuse(403, "forbidden", problem) if problem else None


def _problem(caller: Caller, need: Need) -> str | None:
    if caller.viewer.kind not in need.kinds:
        allowed = ", ".join(sorted(k.value for k in need.kinds))
        return (f"{caller.viewer.kind.value} organisations may not use this "
                f"({need.subtype}): it is for {allowed}")
    if need.resource_type and not caller.scopes.allows(need.resource_type,
                                                       need.interaction or ""):
        return (f"the token's scopes ({caller.scopes.text or 'none'}) do not grant "
                f"{need.resource_type}.{need.interaction}: ask for "
                f"system/{need.resource_type}.{need.interaction}")
    return None


def page_need(endpoint: str | None) -> Need | None:
    """What a page needs; None when it is public (signing in, static files)."""
    if endpoint in PUBLIC_PAGES:
        return None
    return PAGES.get(endpoint or "", unlisted())


def page_refusal(caller: Caller, need: Need) -> str | None:
    """Why this caller may not open this page, or None: the API's checks."""
    return _problem(caller, need)


def check_entry(endpoint: str, args: dict[str, str]) -> None:
    """An entry of a transaction or batch, checked as its own request would be."""
    need, found = need_of(endpoint, args), caller()
    problem = _problem(found, need) if need is not None and found is not None else None
    if problem:
        raise forbidden(problem)


def install(app: Flask, verifier: Verifier | None, failures: FailureBudget | None = None
            ) -> None:
    app.extensions["s117.auth_failures"] = failures
    app.before_request(lambda: authorise(verifier, failures))


# -- what handlers ask ------------------------------------------------------------------------


def caller() -> Caller | None:
    return g.get("s117_caller")


def viewer() -> Viewer:
    """The organisation the current request acts for (everyone outside a request: the CLI
    and the register's own processes)."""
    found = g.get("s117_caller") if _in_request() else None
    return found.viewer if found is not None else EVERYONE


def _in_request() -> bool:
    from flask import has_request_context

    return has_request_context()


@contextmanager
def unrestricted() -> Iterator[None]:
    """Within a request, read as the register itself: only to hand a caller back what it has
    just written."""
    saved = g.get("s117_caller")
    g.s117_caller = None
    try:
        yield
    finally:
        g.s117_caller = saved


def forbidden(message: str) -> FhirError:
    return FhirError(403, Issue("error", "forbidden", message))


def may_see(bodies: Bodies) -> bool:
    return access.sees(viewer(), bodies)


def may_see_person(entitlements: Iterable[Bodies], trusts: Iterable[str]) -> bool:
    return access.sees_person(viewer(), entitlements, trusts)


def may_write_casework(bodies: Bodies, what: str, *, council_only: bool = False,
                       dispute: bool = False) -> None:
    who = viewer()
    allowed = access.writes_dispute(who, bodies) if dispute else \
        access.writes_casework(who, bodies, council_only=council_only)
    if not allowed:
        body = "a council party to it (the responsible council or the council where the " \
            "person lives, L5)" if dispute else "the responsible council" if council_only \
            else "a responsible body"
        raise forbidden(f"{who.org} may not record {what}: that is for {body} (the council "
                        f"is {bodies.local_authority or 'not known'}, the ICB "
                        f"{bodies.icb or 'not known'})")


def concerning(person_ids: Iterable[int]) -> None:
    """Name these people (register ids) as the subjects of the current request's
    AuditEvent, whether it is allowed or refused (adapter/http/audit.py)."""
    if _in_request():
        g.setdefault("s117_subjects", set()).update(person_ids)


def may_send_for(sender: str) -> bool:
    return access.sends_for(viewer(), sender)


