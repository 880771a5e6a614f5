"""Loaders behind `s117 refdata load`: the shipped geography, an NHS ODS `epraccur.csv`,
an ONS postcode directory CSV, NHS ODS succession and dated sub-ICB parents. Each is an
idempotent upsert: loading a newer file over an older one updates rows in place. A bad row
stops the load with its row number and field, and the caller's transaction is not committed,
so nothing half-loaded is kept."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import select
from sqlalchemy.orm import Session

from register.errors import InvalidData
from register.refdata.postcodes import normalise_postcode
from register.refdata.shipped import organisations, successions_2022
from register.store.dialect import dialect_of, insert
from register.store.refdata_tables import (
    GpPractice,
    Organisation,
    OrgSuccession,
    Postcode,
    SubIcbParent,
)

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


def _upsert(session: Session, table: type[Any], rows: list[dict[str, Any]],
            *keys: str) -> None:
    if not rows:
        return
    stmt = insert(dialect_of(session), table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys), set_={c: stmt.excluded[c] for c in rows[0]
                                         if c not in keys})
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
    # N6: every CCG became a sub-ICB location of its ICB on 2022-07-01.
    _upsert(session, OrgSuccession, [
        {"org_code": org, "target_code": icb, "legal_date": legal}
        for org, icb, legal in successions_2022()], "org_code", "target_code")
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


def _legal_date(value: str) -> date:
    """NHS ODS writes dates as YYYYMMDD; the register's own files as YYYY-MM-DD."""
    for pattern in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return datetime.strptime(value, pattern).date()
        except ValueError:
            continue
    raise ValidationError("is not a date (YYYY-MM-DD or YYYYMMDD)")


class SuccessionRow(Schema):
    org_code = fields.String(required=True, validate=validate.Regexp(
        r"^[A-Z0-9]{3,5}$", error="is not an ODS organisation code"))
    target_code = fields.String(required=True, validate=validate.Regexp(
        r"^[A-Z0-9]{3,5}$", error="is not an ODS organisation code"))
    type = fields.String(required=True, validate=validate.OneOf(("Successor", "Predecessor")))
    legal_start_date = fields.Function(deserialize=_legal_date, required=True)
    target_name = fields.String(load_default=None, allow_none=True)


class SubIcbParentRow(Schema):
    sub_icb_code = fields.String(required=True, validate=validate.Regexp(
        r"^[A-Z0-9]{3,5}$", error="is not an ODS sub-ICB location code"))
    icb_code = fields.String(required=True, validate=validate.Regexp(
        r"^[A-Z0-9]{3,5}$", error="is not an ODS ICB code"))
    valid_from = fields.Date(required=True, format="%Y-%m-%d")


def _csv_rows(path: str | Path, source: str, required: set[str]
              ) -> Iterator[tuple[int, dict[str, str | None]]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        missing = required - set(reader.fieldnames or ())
        if missing:
            raise InvalidData(f"{source} header lacks {', '.join(sorted(missing))}",
                              field="header")
        for line, raw in enumerate(reader, start=2):
            yield line, {k: (v.strip() or None) if isinstance(v, str) else v
                         for k, v in raw.items() if k}


def _known_codes(session: Session) -> dict[str, str]:
    return {code: kind for code, kind in session.execute(
        select(Organisation.code, Organisation.kind))}


def _cycle(edges: dict[str, set[str]], start: str) -> bool:
    """Whether following `edges` from `start` comes back to it."""
    pending, seen = list(edges.get(start, ())), set()
    while pending:
        code = pending.pop()
        if code == start:
            return True
        if code not in seen:
            seen.add(code)
            pending += edges.get(code, ())
    return False


def load_succession(session: Session, path: str | Path, progress: Progress = None) -> int:
    """NHS ODS succession (RULES.md N6): `org_code` -> `target_code` (type Successor; a
    Predecessor row is read the other way round) from `legal_start_date`. Every row is checked
    before anything is written: an unknown code (a new body needs `target_name`), a bad date or
    a cycle in the chain refuses the file naming the row and field."""
    schema = SuccessionRow()
    known = _known_codes(session)
    edges: dict[str, set[str]] = {}
    for s in session.scalars(select(OrgSuccession)):
        edges.setdefault(s.org_code, set()).add(s.target_code)
    rows: list[dict[str, Any]] = []
    new_bodies: list[dict[str, Any]] = []
    required = {"org_code", "target_code", "type", "legal_start_date"}
    for line, raw in _csv_rows(path, "succession", required):
        try:
            row = schema.load({k: raw.get(k) for k in (*required, "target_name")})
        except ValidationError as error:
            raise _refuse("succession", line, error) from None
        old, new = ((row["org_code"], row["target_code"]) if row["type"] == "Successor"
                    else (row["target_code"], row["org_code"]))
        if old not in known:
            raise InvalidData(f"succession row {line}: unknown organisation code {old} "
                              "(load the geography first)", field="org_code")
        if new not in known:
            if not row["target_name"]:
                raise InvalidData(f"succession row {line}: unknown organisation code {new}: "
                                  "a new body needs its name in target_name",
                                  field="target_code")
            known[new] = "icb"
            new_bodies.append({"code": new, "kind": "icb", "name": row["target_name"],
                               "ods_code": new, "icb_codes": ""})
        edges.setdefault(old, set()).add(new)
        if _cycle(edges, old):
            raise InvalidData(f"succession row {line}: {old} -> {new} closes a cycle in the "
                              "succession chain", field="target_code")
        rows.append({"org_code": old, "target_code": new,
                     "legal_date": row["legal_start_date"]})
        if progress:
            progress(line)
    for batch in _batched(new_bodies):
        _upsert(session, Organisation, batch, "code")
    for batch in _batched(rows):
        _upsert(session, OrgSuccession, batch, "org_code", "target_code")
    return len(rows)


def load_sub_icb_parents(session: Session, path: str | Path, progress: Progress = None) -> int:
    """Dated sub-ICB location -> ICB (mergers and splits, RULES.md N6): `sub_icb_code`,
    `icb_code`, `valid_from`. Both codes must be known (load succession first for a new ICB);
    any bad row refuses the whole file."""
    schema = SubIcbParentRow()
    known = _known_codes(session)
    rows: list[dict[str, Any]] = []
    for line, raw in _csv_rows(path, "sub-icb-parents", {"sub_icb_code", "icb_code",
                                                         "valid_from"}):
        try:
            row = schema.load({k: raw.get(k) for k in ("sub_icb_code", "icb_code",
                                                       "valid_from")})
        except ValidationError as error:
            raise _refuse("sub-icb-parents", line, error) from None
        if known.get(row["sub_icb_code"]) != "sub_icb":
            raise InvalidData(f"sub-icb-parents row {line}: unknown sub-ICB location "
                              f"{row['sub_icb_code']}", field="sub_icb_code")
        if known.get(row["icb_code"]) != "icb":
            raise InvalidData(f"sub-icb-parents row {line}: unknown ICB {row['icb_code']} "
                              "(load its succession first)", field="icb_code")
        rows.append(row)
        if progress:
            progress(line)
    for batch in _batched(rows):
        _upsert(session, SubIcbParent, batch, "sub_icb_code", "valid_from")
    return len(rows)
