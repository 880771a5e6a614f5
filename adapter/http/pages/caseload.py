"""The "my caseload" lists of a council or ICB: the joint register's rows
(register/joint_register.py, as `s117 export register` writes them) for the entitlements
the caller may see, narrowed to one list, filtered, sorted, and downloadable as CSV."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from adapter.bootstrap import Register
from adapter.reports.source import cases
from register.access import OrgType, Viewer
from register.casework import OMBUDSMAN
from register.joint_register import RegisterRow, rows_for

Test = Callable[[RegisterRow, Viewer], bool]
_OMBUDSMAN = frozenset(code.value for code in OMBUDSMAN)


def _mine(row: RegisterRow, who: Viewer) -> bool:
    """Responsible for it (an admin: everyone)."""
    if who.kind is OrgType.LA:
        return row.responsible_la == who.org
    if who.kind is OrgType.ICB:
        return who.org in (row.responsible_icb, row.paying_body)
    return True


def _placed_in(row: RegisterRow, who: Viewer) -> bool:
    return row.out_of_area and (who.kind is not OrgType.LA or row.residence_la == who.org)


# name: (label, which rows). Out-of-area "in" are people another council placed in the
# caller's area: it sees them but is not responsible (rule L2).
LISTS: dict[str, tuple[str, Test]] = {
    "entitled": ("Entitled (receiving aftercare)",
                 lambda r, w: _mine(r, w) and r.status == "active"),
    "planned": ("Aftercare being planned (detained)",
                lambda r, w: _mine(r, w) and r.status == "planned"),
    "overdue": ("Overdue reviews", lambda r, w: _mine(r, w) and r.review_overdue),
    "disputed": ("Responsibility disputed", lambda r, w: _mine(r, w) and bool(r.dispute)),
    "out-of-area-out": ("Placed out of area (you are responsible, they live elsewhere)",
                        lambda r, w: _mine(r, w) and r.out_of_area
                        and (w.kind is not OrgType.LA or r.residence_la != w.org)),
    "out-of-area-in": ("Placed in your area by another council",
                       lambda r, w: w.kind is OrgType.LA and _placed_in(r, w)
                       and r.responsible_la != w.org),
    "ombudsman": ("Ombudsman flags (no plan, no assessment, not acknowledged, charged: "
                  "O1-O4)", lambda r, w: _mine(r, w) and bool(_OMBUDSMAN & set(
                      r.flags.split("; ")))),
    "needs-review": ("Needs review (the rules could not decide)",
                     lambda r, w: _mine(r, w) and bool(r.needs_review)),
    "all": ("Everyone you can see", lambda r, w: True),
}
# Each key is of one type within a column (dates, or text), so rows compare.
SORTS: dict[str, tuple[str, Callable[[RegisterRow], object]]] = {
    "next-review": ("Next review due", lambda r: (r.next_review_due or date.max)),
    "entitled-since": ("Entitled since", lambda r: (r.entitled_since or date.max)),
    "nhs-number": ("NHS number", lambda r: r.nhs_number),
    "council": ("Responsible council", lambda r: r.responsible_la_name or ""),
    "icb": ("Responsible ICB", lambda r: r.responsible_icb_name or ""),
    "status": ("Status", lambda r: r.status),
}


@dataclass(frozen=True)
class Query:
    list: str = "entitled"
    body: str = ""  # the other responsible body (an ICB for a council, and the reverse)
    sort: str = "next-review"
    descending: bool = False

    @classmethod
    def parse(cls, args: dict[str, str]) -> Query:
        """Unknown values fall back to the defaults (a bookmarked link never breaks)."""
        return cls(args.get("list") if args.get("list") in LISTS else "entitled",
                   (args.get("body") or "").strip(),
                   args.get("sort") if args.get("sort") in SORTS else "next-review",
                   args.get("order") == "desc")


@dataclass(frozen=True)
class Line:
    person_id: int
    row: RegisterRow


def lines(register: Register, who: Viewer, on: date) -> list[Line]:
    out = []
    for case in cases(register, who):
        for stored in case.entitlements:
            row, _ = rows_for(case.facts, stored.entitlement, stored.residence_la,
                              stored.next_review_due, case.casework, on, register.refdata)
            out.append(Line(stored.person_id, row))
    return out


def other_body(row: RegisterRow, who: Viewer) -> tuple[str, str] | None:
    """(code, name) of the filterable body: the ICB for a council, the council otherwise."""
    if who.kind is OrgType.LA:
        code, name = row.responsible_icb, row.responsible_icb_name
    else:
        code, name = row.responsible_la, row.responsible_la_name
    return (code, name or code) if code else None


def select(found: list[Line], who: Viewer, query: Query) -> list[Line]:
    test = LISTS[query.list][1]
    chosen = [line for line in found if test(line.row, who) and (
        not query.body or (other_body(line.row, who) or ("",))[0] == query.body)]
    key = SORTS[query.sort][1]
    return sorted(chosen, key=lambda line: key(line.row),  # type: ignore[arg-type,return-value]
                  reverse=query.descending)
