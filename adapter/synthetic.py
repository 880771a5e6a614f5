"""Synthetic region: realistic command streams for made-up people (999 NHS numbers),
used by `s117 demo` and the benchmark. Deterministic for a seed."""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from importlib import resources
from itertools import count, islice

from register import commands as c
from register.model import Address, PersonName
from register.nhs_number import synthetic_numbers
from register.refdata.shipped import organisations

TRUSTS = ("R1A", "RTQ", "RXE", "RXT", "RV3")
# Made-up names (a person's name is what staff tell people apart by on the pages).
FAMILY = ("Ahmed", "Baker", "Campbell", "Davies", "Evans", "Fletcher", "Green", "Hughes",
          "Iqbal", "Jones", "Kowalski", "Lewis", "Morgan", "Nowak", "O'Neill", "Patel",
          "Quinn", "Roberts", "Singh", "Taylor", "Underwood", "Vaughan", "Walker", "Young")
GIVEN = ("Aisha", "Ben", "Chloe", "Daniel", "Ella", "Farah", "George", "Hannah", "Imran",
         "Jade", "Kieran", "Lucy", "Mohammed", "Niamh", "Owen", "Priya", "Rhys", "Sophie",
         "Tom", "Zara")


@dataclass(frozen=True)
class Area:
    postcode: str
    la: str
    practice: str | None


def fixture_path(name: str) -> str:
    return str(resources.files("register.refdata") / "fixtures" / name)


def fixture_areas() -> list[Area]:
    """Postcodes of the fixture directory, each with a GP practice commissioned where it
    lies (the practice at that postcode if there is one)."""
    sub_icb_by_gss = {o.gss_code: o.code for o in organisations() if o.kind == "sub_icb"}
    by_postcode: dict[str, str] = {}
    by_commissioner: dict[str, str] = {}
    with open(fixture_path("epraccur.csv"), encoding="utf-8") as f:
        for row in csv.reader(f):
            if row[12] == "A":
                by_postcode.setdefault(row[9], row[0])
                by_commissioner.setdefault(row[14], row[0])
    with open(fixture_path("postcodes.csv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [Area(r["pcds"], r["laua"], by_postcode.get(r["pcds"]) or by_commissioner.get(
                 sub_icb_by_gss.get(r["sicbl"], "")))
            for r in rows if r["laua"].startswith("E")]


def _at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour)


class Generator:
    """One person's history at a time: admissions over ten years, s2/s3 and forensic
    sections, conversions, discharges home or out of area, CTOs, re-detentions."""

    def __init__(self, seed: int, areas: list[Area], start: date = date(2015, 1, 1),
                 end: date = date(2025, 12, 31), first_number: int = 0) -> None:
        self.rng = random.Random(seed)
        # Names from a generator of their own, so the histories stay those of before.
        self.names = random.Random(seed + 117)
        self.areas = areas
        self.start, self.end = start, end
        self.numbers = islice(synthetic_numbers(), first_number, None)
        self.ids = count()

    def _id(self) -> str:
        return f"syn-{next(self.ids)}"

    def person(self) -> tuple[str, list[c.Command]]:
        rng = self.rng
        nhs = next(self.numbers)
        home = rng.choice(self.areas)
        born = date(rng.randint(1940, 2008), rng.randint(1, 12), rng.randint(1, 28))
        span = (self.end - self.start).days
        day = self.start + timedelta(days=rng.randint(0, span - 200))
        cmds: list[c.Command] = [c.UpdatePerson(
            command_id=self._id(), nhs_number=nhs, occurred_at=_at(day, 8),
            date_of_birth=born, address=Address(postcode=home.postcode),
            gp_practice=home.practice, effective=day - timedelta(days=365),
            name=PersonName(self.names.choice(FAMILY), [self.names.choice(GIVEN)]))]
        for n in range(rng.choice((1, 1, 1, 2, 2, 3))):
            if day > self.end - timedelta(days=30):
                break
            ref = f"V{nhs[-6:]}{n}"
            trust = rng.choice(TRUSTS)
            admitted = _at(day, 9)
            code = rng.choices(("03", "02", "01", "37", "10", "31"),
                               (50, 30, 10, 4, 4, 2))[0]
            cmds.append(c.Admit(command_id=self._id(), nhs_number=nhs, occurred_at=admitted,
                                trust_ods=trust, stay_ref=ref, admitted_at=admitted,
                                legal_status=code, residence_before=Address(home.postcode),
                                gp_practice=home.practice))
            length = rng.randint(10, 200)
            if code == "02" and rng.random() < 0.3:
                conv = _at(day + timedelta(days=min(27, length - 1)), 12)
                cmds.append(c.ChangeLegalStatus(command_id=self._id(), nhs_number=nhs,
                                                occurred_at=conv, trust_ods=trust,
                                                stay_ref=ref, code="03", start=conv))
            left = day + timedelta(days=length)
            if left > self.end:
                break  # still in hospital
            if code in ("03", "37", "10") and rng.random() < 0.1:
                cmds.append(c.StartCto(command_id=self._id(), nhs_number=nhs,
                                       occurred_at=_at(left, 11), trust_ods=trust,
                                       stay_ref=ref, at=_at(left, 11)))
            out = rng.random() < 0.15
            if out:
                home = rng.choice(self.areas)
            cmds.append(c.Discharge(command_id=self._id(), nhs_number=nhs,
                                    occurred_at=_at(left, 15), trust_ods=trust, stay_ref=ref,
                                    discharged_at=_at(left, 15),
                                    destination=Address(home.postcode) if out else None))
            if out and home.practice:
                cmds.append(c.UpdatePerson(command_id=self._id(), nhs_number=nhs,
                                           occurred_at=_at(left + timedelta(days=14), 9),
                                           gp_practice=home.practice,
                                           effective=left + timedelta(days=14)))
            day = left + timedelta(days=rng.randint(60, 1500))
        return nhs, cmds

    def people(self, n: int) -> Iterator[tuple[str, list[c.Command]]]:
        for _ in range(n):
            yield self.person()
