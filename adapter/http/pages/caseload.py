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
from register.model import PersonFacts

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
    "planned": ("Being planned (detained)",
                lambda r, w: _mine(r, w) and r.status == "planned"),
    "overdue": ("Overdue reviews", lambda r, w: _mine(r, w) and r.review_overdue),
    # L5: the council where the person lives is a party to a dispute as much as the
    # responsible one, and sees it in its list too.
    "disputed": ("Responsibility disputed", lambda r, w: bool(r.dispute) and (
        _mine(r, w) or (w.kind is OrgType.LA and r.residence_la == w.org))),
    "out-of-area-out": ("Placed out of area by you",
                        lambda r, w: _mine(r, w) and r.out_of_area
                        and (w.kind is not OrgType.LA or r.residence_la != w.org)),
    "out-of-area-in": ("Placed in your area by others",
                       lambda r, w: w.kind is OrgType.LA and _placed_in(r, w)
                       and r.responsible_la != w.org),
    "ombudsman": ("Ombudsman flags (O1-O4)",
                  lambda r, w: _mine(r, w) and bool(_OMBUDSMAN & set(r.flags.split("; ")))),
    "needs-review": ("Needs review",
                     lambda r, w: _mine(r, w) and bool(r.needs_review)),
    "all": ("Everyone you can see", lambda r, w: True),
}
# Each key is of one type within a column (dates, or text), so rows compare.
SORTS: dict[str, tuple[str, Callable[[RegisterRow], object]]] = {
    "next-review": ("Next review", lambda r: (r.next_review_due or date.max)),
    "entitled-since": ("Entitled since", lambda r: (r.entitled_since or date.max)),
    "nhs-number": ("NHS number", lambda r: r.nhs_number),
    "flags": ("Most flags", lambda r: -len([f for f in r.flags.split("; ") if f in TAGS])),
    "council": ("Council", lambda r: r.responsible_la_name or ""),
    "icb": ("ICB", lambda r: r.responsible_icb_name or ""),
    "status": ("Status", lambda r: r.status),
}


@dataclass(frozen=True)
class Query:
    list: str = "entitled"
    body: str = ""  # the other responsible body (an ICB for a council, and the reverse)
    sort: str = "next-review"
    descending: bool = False
    page: int = 1

    @classmethod
    def parse(cls, args: dict[str, str]) -> Query:
        """Unknown values fall back to the defaults (a bookmarked link never breaks)."""
        page = args.get("page") or "1"
        return cls(args.get("list") if args.get("list") in LISTS else "entitled",
                   (args.get("body") or "").strip(),
                   args.get("sort") if args.get("sort") in SORTS else "next-review",
                   args.get("order") == "desc",
                   max(1, int(page)) if page.isdigit() else 1)

    def pages(self, total: int) -> int:
        return max(1, -(-total // PAGE_SIZE))

    def window(self, chosen: list[Line]) -> list[Line]:
        start = (min(self.page, self.pages(len(chosen))) - 1) * PAGE_SIZE
        return chosen[start:start + PAGE_SIZE]


PAGE_SIZE = 20  # rows a page: one laptop screen
# Short tags for the flags (RegisterRow.flags holds their codes); the person page has the
# reasons and rules. "entitled" is what the list is about, so it is not repeated.
TAGS = {"review-overdue": ("Overdue", "red"),
        "responsibility-disputed": ("Disputed", "orange"),
        "no-aftercare-plan": ("No plan", "red"), "no-care-coordinator": ("No coordinator",
                                                                         "orange"),
        # the Ombudsman flags (RULES.md O2-O4; O1 is "no-aftercare-plan")
        "no-assessment": ("No assessment", "red"),
        "entitlement-not-acknowledged": ("Not acknowledged", "red"),
        "charged-for-s117": ("Charged", "red")}


@dataclass(frozen=True)
class Line:
    person_id: int
    row: RegisterRow
    name: str = ""
    tags: tuple[tuple[str, str], ...] = ()  # (text, colour)
    lives_in: str = ""  # the council's name; the row holds only its GSS code


def _tags(row: RegisterRow, facts: PersonFacts, on: date) -> tuple[tuple[str, str], ...]:
    out = [TAGS[code] for code in row.flags.split("; ") if code in TAGS]
    for proposal in facts.end_proposals:
        if proposal.entitlement_id == row.entitlement_id and proposal.waiting:
            out.append((f"End proposed {(on - proposal.proposed_on).days} days ago", "blue"))
    if row.out_of_area:
        out.append(("Out of area", "grey"))
    if row.needs_review:
        out.append(("Needs review", "yellow"))
    return tuple(out)


def lines(register: Register, who: Viewer, on: date) -> list[Line]:
    out = []
    for case in cases(register, who):
        name = case.facts.current_name()
        for stored in case.entitlements:
            row, _ = rows_for(case.facts, stored.entitlement, stored.residence_la,
                              stored.next_review_due, case.casework, on, register.refdata)
            out.append(Line(stored.person_id, row, name.text if name else "",
                            _tags(row, case.facts, on),
                            register.refdata.name(row.residence_la) or ""
                            if row.residence_la else ""))
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
