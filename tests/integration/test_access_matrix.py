"""Issue 20 Tests: the access matrix. For each kind of organisation (councils, ICBs, trusts,
an admin) and every person on a demo register, everything it can read through every route
(reads, searches with `_include`, `$everything`, batch, the pages and their CSV) is compared
with a ground truth computed here from the tables, independently of register.access:

- a council sees the entitlements it is responsible for or where the person lives; an ICB
  those it is responsible for or pays for; a trust the people it sent stays for, and of
  them its own stays and who is responsible; an admin everything;
- casework (CarePlan, Task, Flag) with a visible entitlement, never to a trust;
- every request leaves one AuditEvent naming the person it was about.

Embedded mode (the real Flask app, S117_AUTH=jwt). The figures are printed for the README's
Evidence."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from adapter import config
from adapter.http.app import create_app
from tests.auth_support import bearer, checked_env
from tests.e2e.test_cli import run

ADMIN = ("ops", "admin")


@dataclass
class Truth:
    """What the tables say, per organisation."""

    db: sqlite3.Connection
    people: dict[int, set[str]] = field(default_factory=dict)  # person -> its trusts
    ents: dict[str, tuple[int, str | None, str | None, str | None, str | None]] = field(
        default_factory=dict)  # id -> person, resp LA, resp ICB, paying ICB, residence LA

    def load(self) -> Truth:
        for pid, trusts in self.db.execute("SELECT id, trusts FROM person WHERE "
                                           "merged_into IS NULL"):
            self.people[pid] = {t for t in (trusts or "").split(",") if t}
        for row in self.db.execute("SELECT id, person_id, responsible_la, responsible_icb, "
                                   "paying_icb, residence_la FROM entitlement"):
            self.ents[row[0]] = row[1:]  # type: ignore[assignment]
        return self

    def entitlements(self, org: str, kind: str) -> set[str]:
        out = set()
        for ent, (pid, la, icb, paying, residence) in self.ents.items():
            if kind == "admin" or (kind == "la" and org in (la, residence)) or (
                    kind == "icb" and org in (icb, paying)) or (
                    kind == "trust" and org in self.people.get(pid, set())):
                out.add(ent)
        return out

    def persons(self, org: str, kind: str) -> set[int]:
        if kind == "admin":
            return set(self.people)
        if kind == "trust":
            return {p for p, trusts in self.people.items() if org in trusts}
        return {self.ents[e][0] for e in self.entitlements(org, kind)}


@dataclass
class Matrix:
    client: FlaskClient
    path: Path
    truth: Truth
    counts: Counter[str] = field(default_factory=Counter)
    about: dict[str, int] = field(default_factory=dict)  # request id -> person

    def ask(self, org: tuple[str, str], method: str, url: str, person: int,
            body: Any = None) -> Any:
        rid = f"am-{len(self.about)}"
        self.about[rid] = person
        answer = self.client.open(url, method=method, headers={
            **bearer(*org), "X-Request-ID": rid, "Content-Type": "application/fhir+json"},
            data=json.dumps(body) if body is not None else None)
        self.counts["requests"] += 1
        self.counts["refused"] += answer.status_code in (401, 403, 404)
        self.counts["5xx"] += answer.status_code >= 500
        return answer


def ids(answer: Any, kind: str) -> set[str]:
    if answer.status_code != 200:
        return set()
    return {e["resource"]["id"] for e in answer.get_json().get("entry", [])
            if e["resource"]["resourceType"] == kind}


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    path = tmp_path_factory.mktemp("matrix")
    built = run("demo", "--people", "20", cwd=path)
    assert built.returncode == 0, built.stderr
    env = checked_env(S117_DATABASE_URL=f"sqlite:///{path / 's117.db'}",
                      S117_SECRET_KEY="matrix", S117_RATE_LIMIT="off")
    app = create_app(config.from_env(env))
    db = sqlite3.connect(path / "s117.db")
    found = Matrix(app.test_client(), path, Truth(db).load())
    yield found
    db.close()
    print(f"\naccess matrix: {found.counts['requests']} requests, {found.counts['refused']} "
          f"refused, {found.counts['5xx']} server errors, {found.counts['checked']} answers "
          f"compared with the ground truth, {found.counts['unaudited']} unaudited, "
          f"{found.counts['subjects-missing']} without their subject")


def PEOPLE(truth: Truth) -> list[int]:  # noqa: N802 - read as a constant
    """Every person the demo's named cases hold (the first 16: each kind of history), to
    keep the matrix within a minute or two on a shared machine."""
    return sorted(truth.people)[:16]


def organisations(truth: Truth) -> list[tuple[str, str]]:
    las = sorted({e[1] for e in truth.ents.values() if e[1]})[:2]
    icbs = sorted({e[2] for e in truth.ents.values() if e[2]})[:2]
    trusts = sorted({t for ts in truth.people.values() for t in ts})[:2]
    return [(o, "la") for o in las] + [(o, "icb") for o in icbs] + \
        [(o, "trust") for o in trusts] + [ADMIN]


def test_each_organisation_reads_exactly_what_the_tables_say(matrix: Matrix) -> None:
    truth = matrix.truth
    admin_stays: dict[int, dict[str, str]] = {}  # person -> Encounter id -> trust
    admin_casework: dict[int, dict[str, set[str]]] = {}
    for pid in PEOPLE(truth):
        answer = matrix.ask(ADMIN, "GET", f"/fhir/Encounter?patient=Patient/{pid}", pid)
        admin_stays[pid] = {e["resource"]["id"]: e["resource"]["serviceProvider"][
            "identifier"]["value"] for e in answer.get_json().get("entry", [])}
        admin_casework[pid] = {kind: ids(matrix.ask(ADMIN, "GET", f"/fhir/{kind}?patient="
                                                    f"Patient/{pid}&_count=500", pid), kind)
                               for kind in ("CarePlan", "Task", "Flag")}
    with matrix.truth.db as db:
        plan_ent = dict(db.execute("SELECT id, entitlement_id FROM care_plan").fetchall())
    for org, kind in organisations(truth):
        who = (org, kind)
        seen_ents, seen_people = truth.entitlements(org, kind), truth.persons(org, kind)
        for pid in PEOPLE(truth):
            visible = pid in seen_people
            mine = {e for e, v in truth.ents.items() if v[0] == pid}
            stays = {s for s, trust in admin_stays[pid].items()
                     if visible and (kind != "trust" or trust == org)}
            read = matrix.ask(who, "GET", f"/fhir/Patient/{pid}", pid)
            assert read.status_code == (200 if visible else 403), (who, pid)
            everything = matrix.ask(who, "GET", f"/fhir/Patient/{pid}/$everything", pid)
            assert ids(everything, "EpisodeOfCare") == (mine & seen_ents if visible
                                                        else set()), (who, pid)
            assert ids(everything, "Encounter") == stays, (who, pid)
            found = matrix.ask(who, "GET", f"/fhir/Encounter?patient=Patient/{pid}", pid)
            assert ids(found, "Encounter") == stays, (who, pid)
            search = matrix.ask(who, "GET", f"/fhir/EpisodeOfCare?patient=Patient/{pid}"
                                "&_include=EpisodeOfCare:patient", pid)
            assert ids(search, "EpisodeOfCare") == mine & seen_ents, (who, pid)
            assert ids(search, "Patient") == ({str(pid)} if mine & seen_ents else set())
            for casework in ("CarePlan", "Task", "Flag"):
                got = ids(matrix.ask(who, "GET", f"/fhir/{casework}?patient=Patient/{pid}"
                                     "&_count=500", pid), casework)
                expected = set() if kind == "trust" else {
                    c for c in admin_casework[pid][casework]
                    if (plan_ent.get(c) if casework == "CarePlan" else None) in seen_ents
                    or (casework != "CarePlan" and mine & seen_ents)}
                if casework != "CarePlan" and kind != "trust":
                    assert got <= expected, (who, pid, casework)
                else:
                    assert got == expected, (who, pid, casework)
                matrix.counts["checked"] += 1
            if not mine:
                continue  # a batch of no entries is about no one
            batch = matrix.ask(who, "POST", "/fhir", pid, {
                "resourceType": "Bundle", "type": "batch", "entry": [
                    {"request": {"method": "GET", "url": f"EpisodeOfCare/{e}"}}
                    for e in sorted(mine)]})
            statuses = [e["response"]["status"][:3] for e in batch.get_json().get("entry", [])]
            assert statuses == ["200" if e in seen_ents else "403" for e in sorted(mine)]
            matrix.counts["checked"] += 6
        _pages(matrix, who, seen_people, seen_ents)


def _pages(matrix: Matrix, who: tuple[str, str], people: set[int], ents: set[str]) -> None:
    """The person page for everyone, and a council's or ICB's caseload CSV."""
    browser = matrix.client.application.test_client()
    page = browser.get("/sign-in").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    token = bearer(*who)["Authorization"].removeprefix("Bearer ")
    assert browser.post("/sign-in", data={"token": token, "csrf_token": csrf}
                        ).status_code == 302
    for pid in PEOPLE(matrix.truth):
        answer = browser.get(f"/people/{pid}")
        matrix.counts["requests"] += 1
        matrix.counts["refused"] += answer.status_code == 404
        assert answer.status_code == (200 if pid in people else 404), (who, pid)
        matrix.counts["checked"] += 1
    if who[1] in ("la", "icb"):
        answer = browser.get("/caseload?format=csv")
        matrix.counts["requests"] += 1
        rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
        column = next((c for c in (rows[0] if rows else {}) if "entitlement" in c), None)
        assert column is None or {r[column] for r in rows} <= ents, who
        matrix.counts["checked"] += 1


def test_every_request_is_audited_once_naming_its_person(matrix: Matrix) -> None:
    matrix.client.get("/fhir/AuditEvent", headers=bearer(*ADMIN))  # waits for the queue
    with sqlite3.connect(matrix.path / "s117.db") as db:
        rows = db.execute("SELECT e.request_id, count(DISTINCT e.id), group_concat(n.reference) "
                          "FROM audit_event e LEFT JOIN audit_entity n ON n.audit_id = e.id "
                          "AND n.role = 'patient' WHERE e.request_id LIKE 'am-%' "
                          "GROUP BY e.request_id").fetchall()
    found = {rid: (count, set((refs or "").split(","))) for rid, count, refs in rows}
    matrix.counts["unaudited"] = sum(rid not in found for rid in matrix.about)
    matrix.counts["subjects-missing"] = sum(
        f"Patient/{pid}" not in found.get(rid, (0, set()))[1]
        for rid, pid in matrix.about.items())
    assert matrix.counts["unaudited"] == 0
    assert all(count == 1 for count, _ in found.values())
    assert matrix.counts["subjects-missing"] == 0
