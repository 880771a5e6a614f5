"""Loaders behind `s117 refdata load`: the shipped geography, an NHS ODS `epraccur.csv`
and an ONS postcode directory CSV. Each is an idempotent upsert: loading a newer file over
an older one updates rows in place. A bad row stops the load with its row number and field,
and the caller's transaction is not committed, so nothing half-loaded is kept."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import select
from sqlalchemy.orm import Session

from register.errors import InvalidData
from register.refdata.postcodes import normalise_postcode
from register.refdata.shipped import organisations
from register.store.dialect import dialect_of, insert
from register.store.refdata_tables import GpPractice, Organisation, Postcode

Progress = Callable[[int], None] | None
BATCH = 2000

# epraccur.csv has no header; these are the NHS ODS column positions (0-based).
EPRACCUR_COLUMNS = {0: "code", 1: "name", 10: "open_date", 11: "close_date", 12: "status",
                    14: "commissioner_code"}
EPRACCUR_WIDTH = 15


class PracticeRow(Schema):
    code = fields.String(required=True, validate=validate.Regexp(r"^[A-Z0-9]{6}$",
                         error="is not a 6-character ODS practice code"))
    name = fields.String(required=True, validate=validate.Length(min=1))
    open_date = fields.Date(format="%Y%m%d", allow_none=True)
    close_date = fields.Date(format="%Y%m%d", allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf("ACDP"))
    commissioner_code = fields.String(allow_none=True,
                                      validate=validate.Regexp(r"^[A-Z0-9]{3,5}$"))


class PostcodeRow(Schema):
    pcds = fields.String(required=True)
    laua = fields.String(required=True, validate=validate.Regexp(
        r"^[EWSNL][0-9]{8}$", error="is not a 9-character ONS local authority code"))
    sicbl = fields.String(allow_none=True)


def _upsert(session: Session, table: type[Any], rows: list[dict[str, Any]], key: str) -> None:
    if not rows:
        return
    stmt = insert(dialect_of(session), table)
    stmt = stmt.on_conflict_do_update(
        index_elements=[key], set_={c: stmt.excluded[c] for c in rows[0] if c != key})
    session.execute(stmt, rows)


def _batched(rows: Iterable[dict[str, Any]], size: int = BATCH) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _refuse(source: str, line: int, error: ValidationError) -> InvalidData:
    messages = error.normalized_messages()
    field_name = next(iter(messages)) if isinstance(messages, dict) else None
    detail = "; ".join(f"{k}: {' '.join(v) if isinstance(v, list) else v}"
                       for k, v in messages.items()) if isinstance(messages, dict) \
        else str(messages)
    return InvalidData(f"{source} row {line}: {detail}", field=field_name)


def load_geography(session: Session) -> int:
    """ICBs, sub-ICB locations and local authorities shipped with the package."""
    rows = [{"code": o.code, "kind": o.kind, "name": o.name, "gss_code": o.gss_code,
             "ods_code": o.ods_code, "parent_code": o.parent_code,
             "icb_codes": ";".join(o.icb_codes), "tier": o.tier, "valid_from": o.valid_from,
             "valid_to": o.valid_to} for o in organisations()]
    for batch in _batched(rows):
        _upsert(session, Organisation, batch, "code")
    return len(rows)


def load_epraccur(session: Session, path: str | Path, progress: Progress = None) -> int:
    """NHS ODS GP practices: practice code -> commissioning sub-ICB location (column 15)."""
    schema = PracticeRow()

    def rows() -> Iterator[dict[str, Any]]:
        with open(path, encoding="utf-8-sig", newline="") as f:
            for line, raw in enumerate(csv.reader(f), start=1):
                if len(raw) < EPRACCUR_WIDTH:
                    raise InvalidData(f"epraccur row {line}: has {len(raw)} columns, expected "
                                      f"at least {EPRACCUR_WIDTH} (is this epraccur.csv?)",
                                      field="row")
                data = {name: raw[i].strip() or None for i, name in EPRACCUR_COLUMNS.items()}
                try:
                    yield schema.load(data)
                except ValidationError as error:
                    raise _refuse("epraccur", line, error) from None
                if progress and line % BATCH == 0:
                    progress(line)

    count = 0
    for batch in _batched(rows()):
        _upsert(session, GpPractice, batch, "code")
        count += len(batch)
    return count


def load_postcodes(session: Session, path: str | Path, progress: Progress = None) -> int:
    """ONS postcode directory (NSPL/ONSPD style): `pcds`, `laua` (or `oslaua`), and the
    sub-ICB location in `sicbl` (or `ccg`) as an E38 code or an ODS code."""
    schema = PostcodeRow()
    sub_icbs = {gss: ods for gss, ods in session.execute(
        select(Organisation.gss_code, Organisation.code).where(Organisation.kind == "sub_icb"))}
    if not sub_icbs:
        load_geography(session)
        return load_postcodes(session, path, progress)

    def rows() -> Iterator[dict[str, Any]]:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            header = set(reader.fieldnames or ())
            if "pcds" not in header or not header & {"laua", "oslaua"}:
                raise InvalidData(f"postcode file header {sorted(header)[:8]} lacks pcds and "
                                  "laua", field="header")
            for line, raw in enumerate(reader, start=2):
                data = {"pcds": raw.get("pcds"), "laua": raw.get("laua") or raw.get("oslaua"),
                        "sicbl": raw.get("sicbl") or raw.get("ccg") or None}
                try:
                    valid = schema.load(data)
                except ValidationError as error:
                    raise _refuse("postcodes", line, error) from None
                postcode = normalise_postcode(valid["pcds"])
                if postcode is None:
                    raise InvalidData(f"postcodes row {line}: pcds {valid['pcds']!r} is not a "
                                      "postcode", field="pcds")
                sicbl = valid.get("sicbl")
                yield {"postcode": postcode, "la_gss": valid["laua"],
                       "sub_icb_code": sub_icbs.get(sicbl, sicbl) if sicbl else None}
                if progress and line % BATCH == 0:
                    progress(line)

    count = 0
    for batch in _batched(rows()):
        _upsert(session, Postcode, batch, "postcode")
        count += len(batch)
    return count
