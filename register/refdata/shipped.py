"""The geography files shipped in `register/refdata/data/` (see PROVENANCE.md there)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from importlib import resources


@dataclass(frozen=True)
class OrganisationRecord:
    code: str  # GSS code for a local authority, ODS code for NHS bodies
    kind: str  # la | icb | sub_icb
    name: str
    gss_code: str | None = None
    ods_code: str | None = None
    parent_code: str | None = None  # district -> county; sub-ICB -> ICB
    icb_codes: tuple[str, ...] = ()  # LA -> ICBs covering it, largest share first
    tier: str | None = None
    valid_from: date | None = None
    valid_to: date | None = None


# The ICB changes of 2026-04-01 as far as the public sources here allow (docs/rules.md "What
# succession data is shipped"): real predecessor codes, provisional codes for the new ICBs.
# Not loaded by default; `s117 refdata load succession` / `sub-icb-parents` take them.
PROVISIONAL_2026 = ("succession-2026-04-01-provisional.csv",
                    "sub-icb-parents-2026-04-01-provisional.csv")


def data_path(name: str) -> str:
    """A file shipped in register/refdata/data (for the loaders that take a path)."""
    return str(resources.files("register.refdata") / "data" / name)


def _rows(name: str) -> Iterator[dict[str, str]]:
    with (resources.files("register.refdata") / "data" / name).open(encoding="utf-8") as f:
        yield from csv.DictReader(f)


def _day(value: str) -> date | None:
    return date.fromisoformat(value) if value else None


def organisations() -> Iterator[OrganisationRecord]:
    for row in _rows("icbs.csv"):
        yield OrganisationRecord(row["ods_code"], "icb", row["name"], gss_code=row["gss_code"],
                                 ods_code=row["ods_code"])
    for row in _rows("sub_icb_locations.csv"):
        yield OrganisationRecord(row["ods_code"], "sub_icb", row["name"],
                                 gss_code=row["gss_code"], ods_code=row["ods_code"],
                                 parent_code=row["icb_ods_code"],
                                 icb_codes=(row["icb_ods_code"],))
    for row in _rows("local_authorities.csv"):
        others = tuple(c for c in row["other_icb_ods_codes"].split(";") if c)
        primary = (row["icb_ods_code"],) if row["icb_ods_code"] else ()
        yield OrganisationRecord(row["gss_code"], "la", row["name"], gss_code=row["gss_code"],
                                 ods_code=row["ods_code"] or None,
                                 parent_code=row["parent_gss_code"] or None,
                                 icb_codes=primary + others, tier=row["tier"],
                                 valid_from=_day(row["valid_from"]),
                                 valid_to=_day(row["valid_to"]))


CCG_ABOLITION = date(2022, 7, 1)


def successions_2022() -> Iterator[tuple[str, str, date]]:
    """N6: each CCG became a sub-ICB location of its ICB on 2022-07-01, keeping its code
    (Health and Care Act 2022); (CCG, ICB, legal date) from the shipped sub-ICB list."""
    for row in _rows("sub_icb_locations.csv"):
        yield row["ods_code"], row["icb_ods_code"], CCG_ABOLITION
