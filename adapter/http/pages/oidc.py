"""Staff sign-in with the organisation's OpenID Connect provider (issue 21): the
authorization code flow with PKCE (S256) and a nonce, by authlib. The ID token's claims are
mapped to the organisation, its kind and its SMART scopes exactly as the API maps a bearer
token's (`adapter.auth.tokens.caller_of`): `org`, `org_type` and the scopes in
`S117_OIDC_SCOPE_CLAIM` (default `s117_scope`). A provider whose claims do not say who the
person acts for is refused with the reason, and no session starts; the session keeps the
mapped caller until the ID token's expiry, through `gate.sign_in` like every sign-in.

Configured by S117_OIDC_ISSUER, S117_OIDC_CLIENT_ID, S117_OIDC_CLIENT_SECRET (and
S117_OIDC_SCOPE); the redirect URI to register with the provider is
`<S117_BASE_URL>/sign-in/oidc/callback`."""

from __future__ import annotations

from typing import Any

from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, Response, current_app, g, redirect, render_template, url_for

from adapter.auth.tokens import TokenRefused, caller_of
from adapter.config import Settings
from adapter.http.pages import gate
from adapter.http.pages.views import blueprint, oidc_enabled

CLIENT = "s117.pages.oidc"


def install(app: Flask, settings: Settings) -> None:
    if not (settings.oidc_issuer and settings.oidc_client_id):
        return
    oauth = OAuth(app)
    app.extensions[CLIENT] = oauth.register(
        "idp", client_id=settings.oidc_client_id, client_secret=settings.oidc_client_secret,
        server_metadata_url=f"{settings.oidc_issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": settings.oidc_scope, "code_challenge_method": "S256"})
    app.config["S117_OIDC_SCOPE_CLAIM"] = settings.oidc_scope_claim
    app.config["S117_BASE_URL"] = settings.base_url.rstrip("/")


@blueprint.get("/sign-in/oidc", endpoint="oidc_start")
def start() -> Response:
    if not oidc_enabled():
        return gate.page_error(404, "Page not found", "There is no such page.")
    target = f"{current_app.config['S117_BASE_URL']}{url_for('pages.oidc_callback')}"
    return current_app.extensions[CLIENT].authorize_redirect(target)  # type: ignore[no-any-return]


@blueprint.get("/sign-in/oidc/callback", endpoint="oidc_callback")
def callback() -> Response | str:
    if not oidc_enabled():
        return gate.page_error(404, "Page not found", "There is no such page.")
    try:
        token = current_app.extensions[CLIENT].authorize_access_token()
    except OAuthError as exc:
        g.s117_refusal = f"the identity provider refused: {exc.error}"
        return _refused(f"The sign-in did not complete: {exc.description or exc.error}.")
    claims: dict[str, Any] = dict(token.get("userinfo") or {})
    mapped = {"sub": claims.get("sub"), "org": claims.get("org"),
              "org_type": claims.get("org_type"),
              "scope": claims.get(current_app.config["S117_OIDC_SCOPE_CLAIM"]),
              "exp": claims.get("exp")}
    missing = [k for k, v in mapped.items() if not v]
    try:
        if missing:
            raise TokenRefused(f"the identity provider did not say {', '.join(missing)}")
        caller = caller_of(mapped)
    except (TokenRefused, KeyError) as exc:
        g.s117_refusal = str(exc)
        return _refused(f"Your organisation's sign-in did not say who you act for: {exc}.")
    gate.sign_in(caller, expires=int(mapped["exp"]))
    g.s117_caller = caller
    return redirect(url_for("pages.home"))  # type: ignore[return-value]


def _refused(message: str) -> Response:
    return Response(render_template("pages/sign_in.html", error=message, next="/",
                                    oidc=True, token_form=False), 401)
