"""The floor under a FHIR read (issue 22): a bare Flask + SQLAlchemy app that returns an
entitlement's stored JSON by key, one statement, no authentication, audit or mapping. Served
by gunicorn with the register's worker count against the same database in the same run, it
is what `s117 bench` divides the register's read figures by."""

from __future__ import annotations

import os

from flask import Flask, Response, abort, jsonify
from sqlalchemy import create_engine, text

engine = create_engine(os.environ["BENCH_BARE_DATABASE_URL"], pool_size=4,
                       isolation_level="AUTOCOMMIT")
READ = text("SELECT snapshot FROM entitlement WHERE id = :id")
app = Flask(__name__)


@app.get("/healthz")
def healthz() -> str:
    return "ok"


@app.get("/fhir/EpisodeOfCare/<entitlement_id>")
def read(entitlement_id: str) -> Response:
    with engine.connect() as conn:
        found = conn.execute(READ, {"id": entitlement_id}).scalar()
    if found is None:
        abort(404)
    return jsonify(found)
