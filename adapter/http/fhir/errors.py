"""FHIR errors: every failure leaves as an OperationOutcome with the right HTTP status
(DESIGN.md "FHIR": 400 malformed, 404, 409/412 conflicts, 422 rule violations)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from adapter.http.fhir.responses import fhir_json
from fhir_profiles import canonical as url
from register.errors import (
    CommandRefused,
    ConcurrencyConflict,
    InvalidData,
    NotFound,
    RegisterError,
    StaleVersion,
)


@dataclass
class Issue:
    severity: str  # fatal | error | warning | information
    code: str  # FHIR issue-type
    diagnostics: str
    expression: list[str] = field(default_factory=list)
    details: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"severity": self.severity, "code": self.code,
                               "diagnostics": self.diagnostics}
        if self.details:
            out["details"] = self.details
        if self.expression:
            out["expression"] = self.expression
        return out


def outcome(*issues: Issue) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [i.to_json() for i in issues]}


class FhirError(Exception):
    def __init__(self, status: int, *issues: Issue) -> None:
        super().__init__(issues[0].diagnostics if issues else str(status))
        self.status = status
        self.issues = issues


def not_found(what: str) -> FhirError:
    return FhirError(404, Issue("error", "not-found", f"{what} is not known to this server"))


def invalid(message: str, *expression: str, status: int = 400) -> FhirError:
    return FhirError(status, Issue("error", "invalid", message, list(expression)))


def rule_refusal(message: str, rule: str, where: str) -> FhirError:
    """422 naming the rule (as a coded detail, as `register_error` does) and the element."""
    return FhirError(422, Issue("error", "business-rule", message, [where], details={
        "coding": [{"system": url.CS_RULE, "code": rule}], "text": message}))


def register_error(exc: RegisterError) -> FhirError:
    if isinstance(exc, CommandRefused):
        exc = exc.cause  # one command of a single write: answer as that command's refusal
    if isinstance(exc, NotFound):
        return FhirError(404, Issue("error", "not-found", str(exc)))
    if isinstance(exc, StaleVersion):
        return FhirError(412, Issue("error", "conflict", str(exc)))
    if isinstance(exc, ConcurrencyConflict):
        return FhirError(409, Issue("error", "conflict", str(exc)))
    field_name = getattr(exc, "field", None)
    expression = [field_name] if field_name else []
    status = 400 if isinstance(exc, InvalidData) else 422
    code = "invalid" if status == 400 else "business-rule"
    issue = Issue("error", code, str(exc), expression)
    if rule := getattr(exc, "rule", None):
        # The rule id travels as a coded detail too, so a client can act on it.
        issue.details = {"coding": [{"system": url.CS_RULE, "code": rule}], "text": str(exc)}
    return FhirError(status, issue)


def install(app: Flask) -> None:
    """Only under /fhir do errors become OperationOutcomes; /healthz and pages keep theirs."""

    def render(error: FhirError) -> Response:
        return fhir_json(outcome(*error.issues), error.status)

    app.register_error_handler(FhirError, render)
    app.register_error_handler(RegisterError, lambda exc: render(register_error(exc)))


def http_error(exc: HTTPException) -> Response:
    code = {404: "not-found", 405: "not-supported", 413: "too-costly",
            415: "not-supported", 429: "throttled"}.get(exc.code or 500, "processing")
    return fhir_json(outcome(Issue("error", code, exc.description or exc.name)), exc.code or 500)
