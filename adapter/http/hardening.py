"""What every HTTP response and client gets whatever the endpoint: security headers, and a
rate limit per client (flask-limiter).

Request bodies are capped by `S117_MAX_BODY_BYTES` (413) and JSON nesting by the FHIR
reader (adapter/http/fhir/incoming.py); a request that runs longer than gunicorn's worker
timeout (60 s) is cut off by gunicorn."""

from __future__ import annotations

from flask import Flask, Response, g, request
from flask_limiter import Limiter

# No page of the API needs to run script, be framed or be cached: it is patient data.
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _secure(response: Response) -> Response:
    if response.status_code != 429:
        response.headers.pop("Retry-After", None)  # the limiter sets it on every answer
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security",
                                    "max-age=31536000; includeSubDomains")
    return response


def client_key() -> str:
    """One budget per authenticated subject of an organisation; per address without one."""
    caller = g.get("s117_caller")
    if caller is not None and caller.subject != "anonymous":
        return f"{caller.org}:{caller.subject}"
    return request.remote_addr or "unknown"


def install(app: Flask, rate_limit: str | None) -> None:
    """After authentication (the limit is keyed by who the token says), before handlers.
    The counters are kept in each server process: with N gunicorn workers a client may get
    up to N times the limit, which bounds abuse without a shared store to run."""
    app.after_request(_secure)
    Limiter(client_key, app=app, default_limits=[rate_limit] if rate_limit else [],
            storage_uri="memory://", headers_enabled=True, enabled=rate_limit is not None,
            default_limits_exempt_when=lambda: request.endpoint in ("health", "static",
                                                                     "pages.static"))
