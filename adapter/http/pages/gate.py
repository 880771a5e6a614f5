"""Who is using the pages, and what they may open: the Caller of a signed session cookie,
checked against the policy's page table (adapter/http/policy.py PAGES) exactly as a bearer
token is checked against ROUTES, plus a CSRF token on every POST and the pages'
Content-Security-Policy.

The session is kept on the server (adapter/http/pages/sessions.py; the cookie holds a
random id only): who signed in with a verified bearer token (organisation, kind, subject,
scopes) until the token's expiry, or, with S117_AUTH=off, the organisation chosen on the
development sign-in page. Signing out deletes it; so does the token's expiry."""

from __future__ import annotations

import hmac
import secrets
import time
from urllib.parse import urlsplit

from flask import (
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from adapter.auth.scopes import ALL, Scopes
from adapter.auth.tokens import Caller, KeysUnavailable, TokenRefused, Verifier
from adapter.http import policy
from adapter.http.pages.sessions import EXPIRES, ServerSession
from register.access import OrgType, Viewer

SIGN_IN = policy.Need(None, None, policy.ANYONE, "E", "page-sign-in")
CSRF_FIELD = "csrf_token"
DEV_HOURS = 12  # a development sign-in (S117_AUTH=off) lasts a working day


def csrf_token() -> str:
    """This session's CSRF token (made on first use): every POST form carries it."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return str(session["csrf"])


def _csrf_ok() -> bool:
    sent, expected = request.form.get(CSRF_FIELD, ""), session.get("csrf", "")
    return bool(expected) and hmac.compare_digest(str(sent), str(expected))


def sign_in(caller: Caller | None = None, expires: int | None = None,
            org: str | None = None, kind: OrgType | None = None) -> None:
    """A new session (a fresh id and CSRF token, against session fixation): the verified
    caller until `expires` (the token's exp), never the token itself."""
    session.clear()
    if isinstance(session, ServerSession):
        session.rotate = True
    if caller is not None:
        session["caller"] = {"org": caller.org, "kind": caller.viewer.kind.value,
                             "subject": caller.subject, "scope": caller.scopes.text}
        session[EXPIRES] = expires
    else:
        session["dev"] = {"org": org, "kind": kind.value if kind else None}
        session[EXPIRES] = time.time() + DEV_HOURS * 3600
    csrf_token()


def session_caller(verifier: Verifier | None) -> Caller | None:
    if verifier is None:
        dev = session.get("dev")
        if not dev:
            return None
        return Caller(Viewer(dev["org"], OrgType(dev["kind"])), "developer", ALL)
    found = session.get("caller")
    if not found:
        return None
    if float(session.get(EXPIRES) or 0) <= time.time():
        raise TokenRefused("the token this session was signed in with has expired")
    return Caller(Viewer(found["org"], OrgType(found["kind"])), found["subject"],
                  Scopes.parse(found["scope"]))


def safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect."""
    parts = urlsplit(target or "")
    if not target or parts.scheme or parts.netloc or not target.startswith("/") \
            or target.startswith("//"):
        return url_for("pages.home")
    return target


def page_error(status: int, title: str, message: str) -> Response:
    return Response(render_template("pages/error.html", title=title, message=message),
                    status)


def authorise(verifier: Verifier | None, enabled: bool) -> Response | None:
    """The pages' before_request: a response ends the request early."""
    need = policy.page_need(request.endpoint)
    g.s117_need = need or SIGN_IN
    g.csp_nonce = secrets.token_urlsafe(16)
    if request.endpoint == "pages.static":
        return None
    if not enabled:
        g.s117_refusal = "S117_SECRET_KEY is not set"
        return page_error(503, "The pages are not switched on",
                          "This server has no S117_SECRET_KEY, so it cannot keep anyone "
                          "signed in. Ask its operator to set one (docs/pages.md).")
    if request.method == "POST" and not _csrf_ok():
        g.s117_refusal = "the form's CSRF token is missing or wrong"
        return page_error(400, "This form has expired",
                          "Go back, reload the page and try again.")
    if need is None:
        return None
    try:
        caller = session_caller(verifier)
    except TokenRefused as exc:
        session.clear()
        g.s117_refusal = str(exc)
        return redirect(url_for("pages.sign_in", next=request.path, ended=str(exc)))
    except KeysUnavailable as exc:
        g.s117_refusal = str(exc)
        return page_error(503, "Sign-in cannot be checked just now", str(exc))
    if caller is None:
        return redirect(url_for("pages.sign_in", next=request.path))
    g.s117_caller = caller
    problem = policy.page_refusal(caller, need)
    if problem:
        g.s117_refusal = problem
        return page_error(403, "You cannot open this page", problem)
    return None


def secure(response: Response) -> Response:
    """The pages run the design system's script and stylesheet from this site only, and
    the one inline script of its template by nonce."""
    nonce = g.get("csp_nonce", "")
    # Signing out goes on to the OpenID Connect provider's end_session_endpoint (a form
    # POST answered by a redirect there, which form-action governs too).
    provider = current_app.config.get("PAGES_OIDC_ORIGIN")
    forms = f"'self' {provider}" if provider else "'self'"
    response.headers.setdefault("Content-Security-Policy", (
        f"default-src 'none'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; "
        f"img-src 'self'; manifest-src 'self'; form-action {forms}; frame-ancestors 'none'; "
        "base-uri 'none'"))
    return response
