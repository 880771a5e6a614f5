"""Flask application factory (the FHIR API, /hl7v2 and pages hang off this)."""

from __future__ import annotations

from flask import Flask, jsonify
from sqlalchemy import text

from adapter import config
from adapter.auth.failures import FailureBudget
from adapter.auth.tokens import Verifier
from adapter.bootstrap import Register, build
from adapter.http import audit, fhir, hardening, hl7v2, pages, policy
from register.errors import InvalidData
from register.store.audit import AuditLog


def verifier_for(settings: config.Settings) -> Verifier | None:
    """None with S117_AUTH=off (SQLite only, checked by config)."""
    if settings.auth == "off":
        return None
    try:
        return Verifier(audience=settings.audience, issuer=settings.jwt_issuer,
                        leeway_seconds=settings.jwt_leeway_seconds,
                        public_key_path=settings.jwt_public_key, jwks_url=settings.jwks_url)
    except ValueError as exc:
        raise InvalidData(str(exc), field="S117_JWT_PUBLIC_KEY") from None


def create_app(settings: config.Settings | None = None,
               register: Register | None = None) -> Flask:
    settings = settings or config.from_env()
    verifier = verifier_for(settings)
    register = register or build(settings)
    app = Flask("s117")
    app.extensions["s117"] = register
    # Hooks run in this order: request id, authentication and the route's needs, the rate
    # limit (keyed by the caller), the handler; then the audit record and security headers.
    audit.install(app, AuditLog(register.sessions))
    policy.install(app, verifier, FailureBudget(settings.auth_failure_limit))
    hardening.install(app, settings.rate_limit)
    fhir.install(app, register)
    hl7v2.install(app)
    pages.install(app, settings, verifier)

    @app.get("/healthz")
    def health():  # type: ignore[no-untyped-def]
        with register.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return jsonify(status="ok", database=register.engine.dialect.name,
                       bus="amqp" if settings.amqp_url else "in-process")

    return app
