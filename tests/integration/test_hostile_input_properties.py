"""Issue 20 finding 7 and Build 5, as properties: for every route of the OpenAPI document the
server publishes, hypothesis generates path ids, search parameters and JSON bodies of
extreme sizes (integers of thousands of digits, floats beyond double, ids of hundreds of
characters, unicode, separators), mixed with real ids of a demo register so the requests
reach past 404s. Every answer is below 500 and every refusal is an OperationOutcome that
says why; every request leaves exactly one AuditEvent. In-process (the real Flask app,
S117_AUTH=jwt), as an admin and as a council, so refusals of both kinds are exercised.

`FUZZ_EXAMPLES` (default 25) sets the examples per route; the count of requests made is
printed for the README's Evidence."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter import config
from adapter.http.app import create_app
from adapter.http.fhir.openapi import document
from fhir_profiles import registry
from tests.auth_support import bearer, checked_env
from tests.e2e.test_cli import run

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
DOC = document(registry.capability_statement("http://127.0.0.1:1/fhir"),
               "http://127.0.0.1:1/fhir")
ROUTES = sorted((method.upper(), path, [p["name"] for p in op.get("parameters", [])
                                        if p.get("in") == "query"])
                for path, ops in DOC["paths"].items() for method, op in ops.items()
                if method in ("get", "post", "put", "delete"))
CALLERS = {"admin": bearer("ops", "admin"), "council": bearer("E06000019", "la")}
COUNTS = {"requests": 0, "5xx": 0}

# Hostile scalars: numbers far past any FHIR type, ids past any column, odd characters.
HUGE = st.sampled_from(["9" * 5000, "-" + "9" * 40, "1e999", "99999999999999999999999",
                        "0" * 300, "-1", "0", "NaN", "Infinity"])
ODD = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=40)
LONG = st.integers(100, 3000).map(lambda n: "a" * n)
SCALAR = st.one_of(HUGE, ODD, LONG, st.sampled_from(["Patient/99999999999999999999999",
                                                      "Patient/-1", "|", "||", "%", "a|b|c",
                                                      "https://fhir.nhs.uk/Id/nhs-number|"
                                                      "999 000 0018"]))


@pytest.fixture(scope="module")
def register(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FlaskClient, Path,
                                                                          dict[str, list[str]]]]:
    path = tmp_path_factory.mktemp("hostile")
    built = run("demo", "--people", "20", cwd=path)
    assert built.returncode == 0, built.stderr
    env = checked_env(S117_DATABASE_URL=f"sqlite:///{path / 's117.db'}",
                      S117_SECRET_KEY="hostile", S117_RATE_LIMIT="off",
                      S117_SUBSCRIPTION_ALLOWED_HOSTS="")
    db = sqlite3.connect(path / "s117.db")
    ids = {"Patient": [str(r[0]) for r in db.execute("SELECT id FROM person LIMIT 20")],
           "EpisodeOfCare": [r[0] for r in db.execute("SELECT id FROM entitlement LIMIT 20")],
           "CarePlan": [r[0] for r in db.execute("SELECT id FROM care_plan LIMIT 20")]}
    db.close()
    yield create_app(config.from_env(env)).test_client(), path, ids
    print(f"\nhostile-input properties: {COUNTS['requests']} requests over {len(ROUTES)} "
          f"routes, {COUNTS['5xx']} server errors")


def _body(kind: str, draw: Any) -> Any:
    """A body of the route's resource type with a hostile value in a likely place."""
    value = draw(st.one_of(HUGE.map(lambda v: f"@@{v}@@"), SCALAR))
    resource = {"resourceType": kind, "id": draw(SCALAR), "birthDate": value,
                "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number",
                                "value": draw(SCALAR)}],
                "parameter": [{"name": draw(SCALAR), "valueInteger": value}]}
    text = json.dumps(resource)
    # A raw JSON number (not a string) of the drawn size: what Python refuses to convert.
    return text.replace(f'"@@{value[2:-2]}@@"', value[2:-2]) if value.startswith("@@") \
        else text


@pytest.mark.parametrize(("method", "path", "params"), ROUTES,
                         ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_no_route_answers_500_to_hostile_input(register, method: str, path: str,
                                               params: list[str]) -> None:
    client, _, ids = register
    kind = path.strip("/").split("/")[0] or "Bundle"

    @given(st.data())
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(data: st.DataObject) -> None:
        real = ids.get(kind) or ["1"]
        url = path
        for name in ("{id}", "{vid}"):
            if name in url:
                url = url.replace(name, quote(data.draw(st.one_of(
                    st.sampled_from(real), SCALAR, st.just("1"))), safe="") or "x")
        query = {name: data.draw(SCALAR) for name in params if data.draw(st.booleans())}
        caller = CALLERS[data.draw(st.sampled_from(sorted(CALLERS)))]
        body = _body(kind, data.draw) if method in ("POST", "PUT") else None
        answer = client.open(f"/fhir{url}", method=method, query_string=query, data=body,
                             headers={**caller, "Content-Type": "application/fhir+json"})
        COUNTS["requests"] += 1
        COUNTS["audit-event"] = COUNTS.get("audit-event", 0) + url.startswith("/AuditEvent")
        COUNTS["5xx"] += answer.status_code >= 500
        assert answer.status_code < 500, (method, url, query, answer.get_data(as_text=True))
        if answer.status_code >= 400 and answer.status_code != 405:
            outcome = answer.get_json()
            assert outcome["resourceType"] == "OperationOutcome", outcome
            assert all(i.get("diagnostics") for i in outcome["issue"]), outcome

    fuzz()


def test_every_hostile_request_left_one_audit_event(register) -> None:
    """Counted after the routes above (pytest runs this module in order)."""
    client, path, _ = register
    client.get("/fhir/AuditEvent", headers=CALLERS["admin"])  # waits for the audit queue
    with sqlite3.connect(path / "s117.db") as db:
        audited = db.execute("SELECT count(*) FROM audit_event WHERE path LIKE '/fhir%' "
                             "AND path NOT LIKE '/fhir/AuditEvent%'").fetchone()[0]
    # Requests to AuditEvent itself (fuzzed, and the one above) are left out of both sides.
    assert COUNTS["requests"] > 0
    assert audited == COUNTS["requests"] - COUNTS.get("audit-event", 0), (audited, COUNTS)
