"""The FHIR R4 API (DESIGN.md "FHIR"): a Flask blueprint at /fhir."""

from __future__ import annotations

from flask import Flask, request
from werkzeug.exceptions import HTTPException

from adapter.bootstrap import Register

# Importing these modules adds their routes to the blueprint.
from adapter.http.fhir import (  # noqa: F401
    bundles,
    casework,
    errors,
    everything,
    messages,
    openapi,
    validation,
    writes,
)
from adapter.http.fhir.reader import FhirReader
from adapter.http.fhir.routes import blueprint
from register.store.casework_views import CaseworkViews
from register.store.views import RegisterViews


def install(app: Flask, register: Register) -> None:
    app.extensions["s117.fhir"] = FhirReader(
        RegisterViews(register.sessions), register.refdata,
        CaseworkViews(register.sessions, register.settings.policy))
    app.config["MAX_CONTENT_LENGTH"] = register.settings.max_body_bytes
    app.register_blueprint(blueprint)
    errors.install(app)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):  # type: ignore[no-untyped-def]
        # Under /fhir every error is an OperationOutcome; elsewhere Flask's own page.
        if request.path.startswith("/fhir"):
            return errors.http_error(exc)
        return exc
