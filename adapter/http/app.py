"""Flask application factory (the FHIR API, /hl7v2 and pages hang off this)."""

from __future__ import annotations

from flask import Flask, jsonify
from sqlalchemy import text

from adapter import config
from adapter.bootstrap import Register, build
from adapter.http import fhir, hl7v2


def create_app(settings: config.Settings | None = None,
               register: Register | None = None) -> Flask:
    settings = settings or config.from_env()
    register = register or build(settings)
    app = Flask("s117")
    app.extensions["s117"] = register
    fhir.install(app, register)
    hl7v2.install(app)

    @app.get("/healthz")
    def health():  # type: ignore[no-untyped-def]
        with register.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return jsonify(status="ok", database=register.engine.dialect.name,
                       bus="amqp" if settings.amqp_url else "in-process")

    return app
