"""The joint register of a council or ICB (`s117 export register`; the pages' caseload CSV)
as CSV, a spreadsheet (sheets `register` and `services`), or FHIR bulk-style NDJSON (one
resource per line; one file per resource type when written to a folder, as the FHIR Bulk
Data export does)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import sys
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from adapter.bootstrap import Register
from mappings.fhir import care_plan, entitlement, flag, funding, patient
from mappings.fhir import task as tasks
from register.joint_register import RegisterRow, ServiceRow, rows_for
from register.store.casework_views import PersonCasework, PlanFilter
from register.store.views import EntitlementFilter, RegisterViews

FORMATS = ("csv", "xlsx", "ndjson")
Progress = Callable[[int, int], None] | None


def _people(register: Register, la: str | None, icb: str | None, on: date,
            progress: Progress) -> Iterator[tuple[PersonCasework, list[str]]]:
    """Each person with entitlements the body is responsible for on `on` (the holder
    timeline), and which ones."""
    _, found = RegisterViews(register.sessions).search_entitlements(EntitlementFilter(
        local_authorities=(la,) if la else (), icbs=(icb,) if icb else (), held_on=on),
        count=None)
    wanted: dict[int, list[str]] = {}
    for stored in found:
        wanted.setdefault(stored.person_id, []).append(stored.entitlement.id)
    views = register.casework()
    for done, (person_id, ids) in enumerate(wanted.items(), start=1):
        work = views.person_casework(person_id)
        if work is not None:
            yield work, ids
        if progress:
            progress(done, len(wanted))


def register_rows(register: Register, la: str | None, icb: str | None, on: date,
                  progress: Progress = None) -> tuple[list[RegisterRow], list[ServiceRow]]:
    rows, services = [], []
    for work, ids in _people(register, la, icb, on, progress):
        for stored in work.entitlements:
            if stored.entitlement.id in ids:
                row, lines = rows_for(work.person.facts, stored.entitlement,
                                      stored.residence_la, stored.next_review_due,
                                      work.casework, on, register.refdata)
                rows.append(row)
                services += lines
    return rows, services


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return "" if value is None else value


def _columns(kind: type) -> list[str]:
    return [f.name for f in dataclasses.fields(kind)]


def write_csv(out: io.TextIOBase, rows: list[RegisterRow]) -> None:
    writer = csv.writer(out)
    writer.writerow(_columns(RegisterRow))
    writer.writerows([_cell(getattr(r, c)) for c in _columns(RegisterRow)] for r in rows)


def write_xlsx(path: Path, rows: list[RegisterRow], services: list[ServiceRow]) -> None:
    from openpyxl import Workbook

    book = Workbook()
    for sheet, kind, items in ((book.active, RegisterRow, rows),
                               (book.create_sheet(), ServiceRow, services)):
        sheet.title = "register" if kind is RegisterRow else "services"
        columns = _columns(kind)
        sheet.append(columns)
        for item in items:
            sheet.append([float(v) if isinstance(v, Decimal) else
                          ("Y" if v else "N") if isinstance(v, bool) else v
                          for v in (getattr(item, c) for c in columns)])
        sheet.freeze_panes = "A2"
    book.save(path)


def _resources(register: Register, la: str | None, icb: str | None, on: date,
               progress: Progress) -> Iterator[dict[str, Any]]:
    name_of = register.refdata.name
    views = register.casework()
    for work, ids in _people(register, la, icb, on, progress):
        yield patient.to_json(work.person, name_of)
        mine = [e for e in work.entitlements if e.entitlement.id in ids]
        for stored in mine:
            yield entitlement.to_json(stored, name_of)
            yield from (c for role in ("la", "icb")
                        if (c := funding.to_json(stored, role, name_of)))
        _, plans = views.search_plans(PlanFilter(entitlement_ids=tuple(ids)), count=None)
        yield from (care_plan.to_json(p, name_of) for p in plans)
        person, updated = work.person.id, work.person.updated_at
        yield from (tasks.to_json(person, updated, t, name_of, on)
                    for t in work.casework.tasks if t.entitlement_id in ids)
        yield from (flag.to_json(person, updated, a, name_of, on)
                    for a in work.casework.alerts
                    if a.entitlement_id in ids and a.since <= on)


def write_ndjson(register: Register, output: Path | None, la: str | None, icb: str | None,
                 on: date, progress: Progress) -> int:
    """Resources one per line; into `<folder>/<Type>.ndjson` files when given a folder."""
    files: dict[str, Any] = {}
    count = 0
    try:
        for resource in _resources(register, la, icb, on, progress):
            kind = resource["resourceType"]
            count += kind == "EpisodeOfCare"
            if output is None:
                out = sys.stdout
            elif kind not in files:
                output.mkdir(parents=True, exist_ok=True)
                out = files[kind] = (output / f"{kind}.ndjson").open("w", encoding="utf-8")
            else:
                out = files[kind]
            out.write(json.dumps(resource, separators=(",", ":")) + "\n")
    finally:
        for handle in files.values():
            handle.close()
    return count


def export(register: Register, fmt: str, output: Path | None, *, la: str | None,
           icb: str | None, on: date, progress: Progress = None) -> int:
    """Write the extract; the number of entitlements in it."""
    if fmt == "ndjson":
        return write_ndjson(register, output, la, icb, on, progress)
    rows, services = register_rows(register, la, icb, on, progress)
    if fmt == "xlsx":
        assert output is not None
        write_xlsx(output, rows, services)
    elif output is None:
        write_csv(sys.stdout, rows)  # type: ignore[arg-type]
    else:
        with output.open("w", encoding="utf-8", newline="") as out:
            write_csv(out, rows)  # type: ignore[arg-type]
    return len(rows)
