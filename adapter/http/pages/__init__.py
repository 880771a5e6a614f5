"""The staff web pages (issue 8): server-rendered Jinja with the NHS.UK design system's
templates (PyPI `nhsuk-frontend-jinja`) and its CSS and JavaScript vendored under `static/`
(`s117 pages assets`), signed in with the API's bearer tokens. docs/pages.md."""

from __future__ import annotations

import logging
import secrets

from flask import Flask
from jinja2 import ChainableUndefined, ChoiceLoader, PackageLoader

from adapter.auth.tokens import Verifier
from adapter.config import Settings
from adapter.http.pages import gate
from adapter.http.pages.sessions import ServerSessions
from adapter.http.pages.views import blueprint
from register.store.page_sessions import PageSessions

log = logging.getLogger("s117.pages")


def install(app: Flask, settings: Settings, verifier: Verifier | None) -> None:
    """With auth on, the pages need S117_SECRET_KEY (every server must sign sessions the
    same way); without it they answer 503 and the API is untouched. With auth off a key
    is made for this process if none is set (`s117 serve` makes one before its workers
    fork, so they share it)."""
    secret = settings.secret_key
    enabled = bool(secret) or verifier is None
    if not secret and verifier is not None:
        log.warning("S117_SECRET_KEY is not set: the web pages are off")
    app.secret_key = secret or secrets.token_hex(32)
    app.config.update(SESSION_COOKIE_NAME="s117_session", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=settings.session_cookie_secure)
    # The design system's macros expect ChainableUndefined; autoescape everything, since
    # its templates end in .jinja, which Flask would not escape by default.
    app.jinja_options = {**app.jinja_options, "undefined": ChainableUndefined,
                         "autoescape": True,
                         "loader": ChoiceLoader([app.create_global_jinja_loader(),
                                                 PackageLoader("nhsuk_frontend_jinja")])}
    app.session_interface = ServerSessions(PageSessions(app.extensions["s117"].sessions))
    app.extensions["s117.pages.verifier"] = verifier
    app.register_blueprint(blueprint)
    # Hooks of this app for the blueprint's requests (not on the shared blueprint object,
    # which every app made in one process would otherwise accumulate).
    app.before_request_funcs.setdefault(blueprint.name, []).append(
        lambda: gate.authorise(verifier, enabled))
    app.after_request_funcs.setdefault(blueprint.name, []).append(gate.secure)
