"""Staff sign-in with the organisation's OpenID Connect provider (issue 21): the
authorization code flow with PKCE (S256) and a nonce, by authlib. The ID token's claims are
mapped to the organisation, its kind and its SMART scopes exactly as the API maps a bearer
token's (`adapter.auth.tokens.caller_of`): `org`, `org_type` and the scopes in
`S117_OIDC_SCOPE_CLAIM` (default `s117_scope`). A provider whose claims do not say who the
person acts for is refused with the reason, and no session starts; the session keeps the
mapped caller until the ID token's expiry, through `gate.sign_in` like every sign-in.

Claims the ID token does not carry are taken from the provider's userinfo endpoint (with the
access token of the sign-in), as OpenID Connect Core 5.3 allows; its `sub` must be the ID
token's, and the session's end is still the ID token's `exp`.

Signing out ends the provider's session too when its discovery document names an
`end_session_endpoint` (RP-initiated logout 1.0): the register's session is deleted, then
the browser goes to the provider with `id_token_hint` (the ID token of the sign-in, kept in
the server-side session, never in the cookie), `client_id`, `post_logout_redirect_uri`
(`<S117_BASE_URL>/sign-in/oidc/signed-out`, to register with the provider) and a `state`
checked on the way back.

Configured by S117_OIDC_ISSUER, S117_OIDC_CLIENT_ID, S117_OIDC_CLIENT_SECRET (and
S117_OIDC_SCOPE); the redirect URI to register with the provider is
`<S117_BASE_URL>/sign-in/oidc/callback`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, Response, current_app, g, redirect, render_template, session, url_for
from requests import RequestException

from adapter.auth.tokens import TokenRefused, caller_of
from adapter.config import Settings
from adapter.http.pages import gate
from adapter.http.pages.sessions import ID_TOKEN
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
    issuer = urlsplit(settings.oidc_issuer)
    app.config["PAGES_OIDC_ORIGIN"] = f"{issuer.scheme}://{issuer.netloc}"
    app.extensions["s117.pages.logout"] = end_session


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
    claims: dict[str, Any] = dict(token.get("userinfo") or {})  # the ID token's, verified
    scope_claim = current_app.config["S117_OIDC_SCOPE_CLAIM"]
    if not all(claims.get(k) for k in ("org", "org_type", scope_claim)):
        try:
            claims = _with_userinfo(token, claims)
        except (OAuthError, RequestException, TokenRefused) as exc:
            g.s117_refusal = f"the identity provider's userinfo: {exc}"
            return _refused(f"Your organisation's sign-in could not be completed: {exc}.")
    mapped = {"sub": claims.get("sub"), "org": claims.get("org"),
              "org_type": claims.get("org_type"),
              "scope": claims.get(scope_claim),
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
    session[ID_TOKEN] = token.get("id_token")
    g.s117_caller = caller
    return redirect(url_for("pages.home"))  # type: ignore[return-value]


def _with_userinfo(token: dict[str, Any], claims: dict[str, Any]) -> dict[str, Any]:
    """The ID token's claims, completed from the userinfo endpoint (which must speak of
    the same person: OpenID Connect Core 5.3.2); the ID token's own values win."""
    found = dict(current_app.extensions[CLIENT].userinfo(token=token))
    if found.get("sub") != claims.get("sub"):
        raise TokenRefused("its userinfo is about another subject than its ID token")
    return {**found, **{k: v for k, v in claims.items() if v not in (None, "")}}


def end_session(id_token: str | None) -> Response | None:
    """After the register's session has gone: the provider's end_session_endpoint, when
    its discovery document has one and the session came from it (RP-initiated logout)."""
    client = current_app.extensions.get(CLIENT)
    if client is None or not id_token:
        return None
    try:
        offered = client.load_server_metadata().get("end_session_endpoint")
    except (OAuthError, RequestException):
        offered = None  # the provider is unreachable: the register's session is gone anyway
    if not offered:
        return None
    back = f"{current_app.config['S117_BASE_URL']}{url_for('pages.oidc_signed_out')}"
    return client.logout_redirect(  # type: ignore[no-any-return]
        post_logout_redirect_uri=back, id_token_hint=id_token, client_id=client.client_id)


@blueprint.get("/sign-in/oidc/signed-out", endpoint="oidc_signed_out")
def signed_out() -> Response | str:
    """Where the provider sends the browser back after its own sign-out."""
    if not oidc_enabled():
        return gate.page_error(404, "Page not found", "There is no such page.")
    try:
        current_app.extensions[CLIENT].validate_logout_response()
        notice = "You have signed out, here and at your organisation's sign-in service."
    except OAuthError:
        notice = None  # not the answer to our sign-out: just the sign-in page
    return render_template("pages/sign_in.html", error=None, next="/", oidc=True,
                           token_form=False, notice=notice)


def _refused(message: str) -> Response:
    return Response(render_template("pages/sign_in.html", error=message, next="/",
                                    oidc=True, token_form=False), 401)
