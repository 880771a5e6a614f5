"""The FHIR R4 API (DESIGN.md "FHIR"): a Flask blueprint at /fhir."""

from __future__ import annotations

from flask import Flask, request
from werkzeug.exceptions import HTTPException

from adapter.bootstrap import Register

# Importing these modules adds their routes to the blueprint.
from adapter.http.fhir import (  # noqa: F401
    bundles,
    errors,
    everything,
    messages,
    openapi,
    plans_and_tasks,
    subjects,
    subscriptions,
    trail,
    validation,
    writes,
)
from adapter.http.fhir.reader import FhirReader
from adapter.http.fhir.routes import blueprint
from queues.outbound.credentials import broker_users
from queues.outbound.endpoints import AllowList
from queues.outbound.manage import SubscriptionManager
from register.store import database
from register.store.audit import AuditLog
from register.store.casework_views import CaseworkViews
from register.store.provenance import ProvenanceViews
from register.store.subscriptions import SubscriptionStore
from register.store.views import RegisterViews


def install(app: Flask, register: Register) -> None:
    reads = database.read_session_factory(register.engine)
    reader = app.extensions["s117.fhir"] = FhirReader(
        RegisterViews(reads), register.refdata,
        CaseworkViews(reads, register.settings.policy),
        ProvenanceViews(reads), AuditLog(register.sessions))
    app.extensions["s117.subjects"] = lambda: subjects.of_request(reader)
    settings = register.settings
    app.extensions["s117.subscriptions"] = SubscriptionManager(
        SubscriptionStore(register.sessions), amqp_url=settings.amqp_url,
        users=broker_users(settings.amqp_admin),
        allowed=AllowList.parse(settings.subscription_allowed_hosts),
        kind_of=lambda code: org.kind if (org := register.refdata.orgs.get(code)) else None)
    app.config["MAX_CONTENT_LENGTH"] = register.settings.max_body_bytes
    app.register_blueprint(blueprint)
    errors.install(app)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):  # type: ignore[no-untyped-def]
        # Under /fhir every error is an OperationOutcome; elsewhere Flask's own page.
        if request.path.startswith("/fhir"):
            return errors.http_error(exc)
        return exc
