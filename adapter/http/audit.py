"""Auditing every request to the HTTP API (one AuditEvent each, allowed or refused) and every
HL7 v2 message the MLLP listener receives, into the append-only audit trail
(register/store/audit.py); an access log line per request, without its query string.

What a request touched is read from what it returned (`g.s117_output`, set by
`responses.fhir_json`): every clinical resource in the response, and the person each belongs
to; plus the resource its URL names, so a refused read is on record against what it tried."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode
from uuid import uuid4

from flask import Flask, Response, current_app, g, request

from adapter.auth.audit_writer import AuditWriter
from adapter.auth.failures import Aggregator
from adapter.http.policy import Need, unlisted
from register.store.audit import AuditLog, AuditRecord
from register.store.dialect import utcnow

log = logging.getLogger("s117.http")
CLINICAL = frozenset({"Patient", "Encounter", "EpisodeOfCare", "Coverage", "CarePlan", "Task",
                      "Flag", "Provenance", "Subscription"})
_PATIENT_OF = ("subject", "patient", "beneficiary", "for")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
NOT_AUDITED = frozenset({"health", "static", "pages.static"})  # probes, assets: no data


def outcome_of(status: int) -> str:
    """AuditEvent.outcome: 0 success, 4 the caller's failure (refused, invalid), 8 ours."""
    return "0" if status < 400 else "4" if status < 500 else "8"


def _resources(data: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if data.get("resourceType") == "Bundle":
        for item in data.get("entry") or []:
            if isinstance(item.get("resource"), dict):
                yield from _resources(item["resource"])
    else:
        yield data


def touched(data: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(reference, role) for every clinical resource in a response and whose it is."""
    found: list[tuple[str, str]] = []
    for resource in _resources(data or {}):
        kind, ident = resource.get("resourceType"), resource.get("id")
        if kind not in CLINICAL or not ident:
            continue
        if kind == "Patient":
            found.append((f"Patient/{ident}", "patient"))
            continue
        found.append((f"{kind}/{ident}", "domain"))
        for name in _PATIENT_OF:
            reference = (resource.get(name) or {}).get("reference") \
                if isinstance(resource.get(name), dict) else None
            if isinstance(reference, str) and reference.startswith("Patient/"):
                found.append((reference, "patient"))
    return found


def _named(need: Need) -> list[tuple[str, str]]:
    """The resource the URL names, if any."""
    args = request.view_args or {}
    kind = args.get("resource_type") or need.resource_type
    ident = args.get("resource_id") or args.get("subscription_id")
    if not kind or not ident or kind not in CLINICAL:
        return []
    return [(f"{kind}/{ident}", "patient" if kind == "Patient" else "domain")]


def _query() -> str | None:
    query = request.query_string.decode("utf-8", "replace")
    if request.method == "POST" and request.path.endswith("/_search") and request.form:
        query = "&".join(q for q in (query, urlencode(list(request.form.items(multi=True))))
                         if q)
    return query[:4096] or None


def _subjects() -> set[int]:
    """Whom the request was about (adapter/http/fhir/subjects.py), as far as it can be told:
    what the handlers named, and what the URL, query and body name."""
    found = set(g.get("s117_subjects") or ())
    resolve = current_app.extensions.get("s117.subjects")
    if resolve is not None and request.endpoint not in NOT_AUDITED:
        try:
            found |= resolve()
        except Exception:  # a malformed request must still be audited, without subjects
            log.warning("could not tell whom this request was about", exc_info=True)
    return found


def request_id() -> str:
    return g.get("s117_request_id") or "-"


def _start() -> None:
    given = request.headers.get("X-Request-ID", "")
    g.s117_request_id = given if _REQUEST_ID.match(given) else str(uuid4())
    g.s117_started = time.perf_counter()


def record_request(audit: AuditWriter, response: Response) -> Response:
    if request.endpoint in NOT_AUDITED or g.get("s117_audited"):
        return response
    g.s117_audited = True
    need: Need = g.get("s117_need") or unlisted()
    caller = g.get("s117_caller")
    aggregator: Aggregator | None = current_app.extensions.get("s117.audit.failures")
    sample = {"action": need.action, "subtype": need.subtype, "method": request.method,
              "path": request.path}
    if g.get("s117_over_budget") and aggregator is not None and not aggregator.admit(
            request.remote_addr or "unknown", response.status_code, sample):
        # One of a burst of refusals from this address: counted, and written as one row
        # when the burst's minute is over (adapter/auth/failures.py).
        response.headers["X-Request-ID"] = request_id()
        return response
    entities = _named(need) + touched(g.get("s117_output"))
    entities += [(f"Patient/{p}", "patient") for p in sorted(_subjects())]
    entities = list(dict.fromkeys(entities))
    try:
        audit.submit(AuditRecord(
            recorded_at=utcnow(), request_id=request_id(), channel="http",
            action=need.action, subtype=need.subtype, outcome=outcome_of(response.status_code),
            status=response.status_code, method=request.method, path=request.path,
            agent_org=caller.org if caller else None,
            agent_type=caller.viewer.kind.value if caller else None,
            agent_who=caller.subject if caller else None, client_address=request.remote_addr,
            query=_query(), detail=g.get("s117_refusal"), entities=tuple(entities)))
    except Exception:
        # The answer is already made; a missing audit row is an operational alarm.
        log.exception("could not write the audit record of this request")
    log.info("request", extra={"request_id": request_id(), "method": request.method,
                               "path": request.path, "status": response.status_code,
                               "org": caller.org if caller else None,
                               "ms": round((time.perf_counter() - g.get("s117_started", 0))
                                           * 1000, 1)})
    response.headers["X-Request-ID"] = request_id()
    return response


def install(app: Flask, audit: AuditLog) -> None:
    """Before every other hook, so the request id is known to authorisation and logs."""
    writer = app.extensions["s117.audit"] = AuditWriter(audit)
    app.extensions["s117.audit.failures"] = Aggregator(lambda fields: writer.submit(
        AuditRecord(recorded_at=utcnow(), request_id="aggregated", channel="http",
                    outcome="4", **fields)))  # type: ignore[arg-type]
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(lambda response: record_request(writer, response))
