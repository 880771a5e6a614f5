"""The Ombudsman flags (RULES.md O1-O4) on a council's or ICB's caseload: `s117 flags`,
from the casework index (the same rows FHIR `Flag?code=` searches)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from rich.console import Console
from rich.table import Table

from adapter.bootstrap import Register
from adapter.casework import views
from register.casework import OMBUDSMAN
from register.store.casework_views import AlertFilter

CODES = {code.value: rule for code, rule in OMBUDSMAN.items()}


@dataclass(frozen=True)
class FlagRow:
    rule: str  # O1-O4
    code: str
    since: date
    days: int  # how long it has been raised on `on`
    nhs_number: str
    local_authority: str | None
    icb: str | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {**vars(self), "since": self.since.isoformat()}


def flags(register: Register, *, la: str | None, icb: str | None, on: date,
          codes: tuple[str, ...] = ()) -> list[FlagRow]:
    """Ombudsman flags in force on `on` for a council or ICB (or all), longest first."""
    casework = views(register)
    _, found = casework.search_alerts(AlertFilter(
        codes=codes or tuple(CODES), owners=(la,) if la else (), icbs=(icb,) if icb else (),
        active_on=on), count=None)
    rows, works = [], {}
    for person_id, key in found:
        if person_id not in works:
            works[person_id] = casework.person_casework(person_id)
        work = works[person_id]
        alert = next((a for a in work.casework.alerts if a.key == key), None) if work else None
        if alert is None or not alert.active_on(on):
            continue
        rows.append(FlagRow(CODES[alert.code.value], alert.code.value, alert.since,
                            (on - alert.since).days, work.person.facts.nhs_number,  # type: ignore[union-attr]
                            alert.owner, alert.icb, alert.reason))
    return sorted(rows, key=lambda r: (r.since, r.rule, r.nhs_number))


def print_flags(console: Console, register: Register, rows: list[FlagRow], on: date) -> None:
    table = Table("rule", "flag", "since", "days", "NHS number", "council", "ICB", "why",
                  title=f"Ombudsman flags in force on {on} (O1-O4): {len(rows)}")
    for r in rows:
        table.add_row(r.rule, r.code, r.since.isoformat(), str(r.days), r.nhs_number,
                      register.refdata.name(r.local_authority or "") or (r.local_authority
                                                                         or "-"),
                      r.icb or "-", r.reason)
    console.print(table)


