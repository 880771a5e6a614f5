"""What `s117 db reindex` changed: each entitlement whose holders moved when re-derived with
the rules in force, why (by rule), and the list as CSV for the councils and ICBs affected."""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import ClassVar

from register.events import EntitlementEvent, EventType
from register.model import Entitlement
from register.rules.citations import CITATIONS


@dataclass(frozen=True)
class Redetermination:
    """One entitlement whose holders changed on re-derivation."""

    nhs_number: str
    entitlement_id: str
    changed_from: date
    previous_local_authority: str | None
    previous_icb: str | None
    local_authority: str | None
    icb: str | None
    rule: str  # the rule that now decides the holder from `changed_from`
    citation: str
    needs_review: str

    FIELDS: ClassVar[tuple[str, ...]] = (
        "nhs_number", "entitlement_id", "changed_from", "previous_local_authority",
        "previous_icb", "local_authority", "icb", "rule", "citation", "needs_review")


@dataclass
class ReindexReport:
    people: int = 0
    events: int = 0
    changes: list[Redetermination] = field(default_factory=list)

    def by_rule(self) -> Counter[str]:
        return Counter(c.rule for c in self.changes)

    def add(self, nhs_number: str, event: EntitlementEvent, ent: Entitlement) -> None:
        if event.event is not EventType.RESPONSIBILITY_CHANGED:
            return
        rule = why(ent, event.effective)
        self.changes.append(Redetermination(
            nhs_number, event.entitlement_id, event.effective, event.previous_local_authority,
            event.previous_icb, event.local_authority, event.icb, rule,
            CITATIONS.get(rule, ""), "; ".join(ent.needs_review)))


def why(ent: Entitlement, day: date) -> str:
    """The rule that decides the holder from `day`: N6 when only the successor moved, else
    the segment's N rule, or the local authority rule when only the council moved."""
    seg = ent.responsibility_on(day)
    if seg is None:
        return "-"
    if seg.icb and seg.original_body and seg.icb != seg.original_body:
        return "N6"
    return seg.nhs_rule or next((b.rule_id for b in seg.basis if b.rule_id[0] == "L"), "-")


def write_csv(report: ReindexReport, path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(Redetermination.FIELDS)
        for change in report.changes:
            writer.writerow([getattr(change, name) or "" for name in Redetermination.FIELDS])
