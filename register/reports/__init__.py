"""Monitoring reports (issue 8): review compliance, entitlements begun and ended, who is
responsible for how many, out-of-area placements, spend by funder and funding basis.

Pure: each report is rows computed from the people a reader may see (their facts, the
entitlements they may see, and the casework derived from them), with the chart that shows
them; adapter/reports gathers the people and draws the charts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from register.casework import Casework
from register.model import PersonFacts
from register.ports import StoredEntitlement
from register.rules.ports import LocalityPolicy

NameOf = Callable[[str], str | None]
Cell = str | int | float


@dataclass(frozen=True)
class Case:
    """One person as a report reads them: only the entitlements the reader may see."""

    facts: PersonFacts
    entitlements: tuple[StoredEntitlement, ...]
    casework: Casework
    # The register that owns this record when this one holds a replica (register.federation):
    # national totals count each person once, at the owner.
    owner: str | None = None


@dataclass(frozen=True)
class Chart:
    kind: str  # "bar" (side by side), "stacked", or "barh" (horizontal, side by side)
    x: str  # the column of categories
    series: tuple[str, ...]  # numeric columns, one bar (or segment) each
    x_label: str
    y_label: str


@dataclass(frozen=True)
class Report:
    name: str
    title: str
    description: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    chart: Chart

    def column(self, name: str) -> list[Cell]:
        index = self.columns.index(name)
        return [row[index] for row in self.rows]


@dataclass(frozen=True)
class Inputs:
    """What every report is computed from."""

    cases: list[Case]
    on: date
    policy: LocalityPolicy
    name_of: NameOf
    period: str = "month"  # month | quarter (review compliance)


def named(code: str | None, name_of: NameOf) -> str:
    if not code:
        return "not known"
    name = name_of(code)
    return f"{name} ({code})" if name else code
