"""A council batch file -> register commands, grouped by person. Pure: bytes in, commands and
row-level refusals out; nothing is applied here.

- The file is refused whole (`FileRefused`) if it is not UTF-8, has no header, or its header
  has an unknown or repeated column.
- Each row is checked against `CouncilRow`; a person whose rows include one that fails is
  refused whole (every row of theirs is reported), so a file is all or nothing per person.
- Command ids come from the council, the file's SHA-256 and the row, so importing the same
  file again applies nothing twice. They carry no NHS number: ids travel in events.
"""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from marshmallow import ValidationError

from mappings import attendees
from mappings.council.schema import HEADER, CouncilRow
from mappings.keys import message_key
from register import commands as c
from register import model as m
from register.nhs_number import normalise
from register.nhs_number import problem as nhs_problem

_PLANS = uuid.UUID("6f1c1f2e-117a-4e0b-9a59-3f0c5d1e1171")
_GSS_LA = ("E06", "E07", "E08", "E09", "E10", "W06")


class FileRefused(ValueError):
    """The file as a whole cannot be read: nothing in it is applied."""


@dataclass(frozen=True)
class RowReport:
    row: int  # the header is row 1
    status: str  # accepted | unchanged | rejected | not-applied
    reason: str = ""
    field: str | None = None


@dataclass
class PersonGroup:
    """One person's commands from the file, applied together or not at all."""

    nhs_number: str
    commands: list[c.Command] = field(default_factory=list)
    rows: list[list[int]] = field(default_factory=list)  # the rows each command came from
    line_rows: dict[tuple[int, int], int] = field(default_factory=dict)  # (command, line)
    # the file's column for a command's field where their names differ, by command index
    columns: dict[int, dict[str, str]] = field(default_factory=dict)

    @property
    def all_rows(self) -> list[int]:
        return sorted({r for rows in self.rows for r in rows})

    def add(self, command: c.Command, rows: list[int],
            columns: dict[str, str] | None = None) -> None:
        if columns:
            self.columns[len(self.commands)] = columns
        self.commands.append(command)
        self.rows.append(rows)

    def column_of(self, index: int, field_name: str | None) -> str | None:
        """The file's column a refusal of command `index` at `field_name` names."""
        return self.columns.get(index, {}).get(field_name or "", field_name)

    def row_of(self, index: int, field_name: str | None) -> int:
        """The row a refusal of command `index` at `field_name` points at."""
        if field_name and field_name.startswith("lines["):
            line = int(field_name[6:field_name.index("]")])
            return self.line_rows.get((index, line), self.rows[index][0])
        return self.rows[index][0]


@dataclass(frozen=True)
class CouncilBatch:
    la: str
    digest: str  # SHA-256 of the file
    row_count: int
    groups: list[PersonGroup]
    rejected: list[RowReport]  # rows refused before anything is applied


def plan_id_for(la: str, council_plan_id: str) -> str:
    """The register's id of a council's plan: stable, and safe as a FHIR id."""
    return str(uuid.uuid5(_PLANS, f"{la}/{council_plan_id}"))


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = body[:exc.start].count(b"\n") + 1
        raise FileRefused(f"the file is not UTF-8: byte {exc.start} (line {line}) is "
                          f"{body[exc.start:exc.start + 1]!r}; save it as UTF-8") from None


def _rows(text: str) -> tuple[list[str], Iterable[tuple[int, dict[str, Any]]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames
    if not header:
        raise FileRefused("the file is empty: it needs a header row (docs/council.md)")
    names = [h.strip() for h in header]
    unknown = [n for n in names if n not in HEADER]
    repeated = sorted({n for n in names if names.count(n) > 1})
    missing = [n for n in ("record", "nhs_number") if n not in names]
    if unknown or repeated or missing:
        problems = ([f"unknown column(s) {', '.join(unknown)}"] if unknown else []) + \
            ([f"repeated column(s) {', '.join(repeated)}"] if repeated else []) + \
            ([f"missing column(s) {', '.join(missing)}"] if missing else [])
        raise FileRefused("wrong header: " + "; ".join(problems) + " (docs/council.md lists "
                          "the columns)")
    reader.fieldnames = names
    return names, ((i + 2, row) for i, row in enumerate(reader))


def _first_error(messages: dict[str, Any]) -> tuple[str, str]:
    name = sorted(messages)[0]
    problem = messages[name]
    while isinstance(problem, dict | list):
        problem = next(iter(problem.values())) if isinstance(problem, dict) else problem[0]
    return name, str(problem)


def decode(body: bytes, la_gss: str) -> CouncilBatch:
    """Read one council file: the commands of each person whose rows are all well formed,
    and a report of every row refused (with its row number and field)."""
    if len(la_gss) != 9 or not la_gss.startswith(_GSS_LA) or not la_gss[3:].isdigit():
        raise FileRefused(f"{la_gss!r} is not a council GSS code (E06-E10, W06)")
    digest = hashlib.sha256(body).hexdigest()
    _, rows = _rows(_text(body))
    schema = CouncilRow()
    loaded: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    bad: dict[str, list[RowReport]] = {}
    count = 0
    for number, raw in rows:
        count += 1
        key = normalise(raw.get("nhs_number") or "") or (raw.get("nhs_number") or "")
        if None in raw:
            bad.setdefault(key, []).append(RowReport(
                number, "rejected", "the row has more values than the header has columns"))
            continue
        try:
            data = schema.load(raw)
        except ValidationError as exc:
            name, problem = _first_error(exc.normalized_messages())
            bad.setdefault(key, []).append(RowReport(number, "rejected", f"{name}: {problem}",
                                                     name))
            continue
        if reason := nhs_problem(data["nhs_number"]):
            bad.setdefault(key, []).append(RowReport(
                number, "rejected", f"nhs_number: {reason}", "nhs_number"))
            continue
        loaded.setdefault(key, []).append((number, data))
    if count == 0:
        raise FileRefused("the file has a header but no rows")
    groups, rejected = [], []
    for key in dict.fromkeys([*loaded, *bad]):
        refusals = list(bad.get(key, []))
        group = None
        if not refusals:
            try:
                group = _group(key, loaded[key], la_gss, digest[:16])
            except _RowError as exc:
                refusals.append(RowReport(exc.row, "rejected", str(exc), exc.field))
        if group is not None:
            groups.append(group)
            continue
        refused = {r.row for r in refusals}
        rejected += refusals + [
            RowReport(number, "not-applied", f"row {min(refused)} of the same person was "
                      "refused: a person's rows are applied together or not at all")
            for number, _ in loaded.get(key, []) if number not in refused]
    return CouncilBatch(la_gss, digest, count, groups, sorted(rejected, key=lambda r: r.row))


class _RowError(ValueError):
    def __init__(self, row: int, message: str, field_name: str | None = None) -> None:
        super().__init__(message)
        self.row = row
        self.field = field_name


def _group(nhs: str, rows: list[tuple[int, dict[str, Any]]], la: str,
           file_id: str) -> PersonGroup:
    group = PersonGroup(nhs)

    def cid(row: int, what: str) -> str:
        return f"{message_key('council', la, file_id)}:{row}:{what}"

    by_kind: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for number, data in rows:
        by_kind.setdefault(data["record"], []).append((number, data))
    for number, d in by_kind.get("or-decision", []):
        group.add(c.RecordOrdinaryResidence(
            command_id=cid(number, "or-decision"), nhs_number=nhs, la_gss=d["la"],
            decided_by=d["decided_by"], decided_on=d["decided_on"],
            evidence=d.get("evidence", ""), decided_by_org=la), [number])
    _plans(group, by_kind, nhs, la, cid)
    for number, d in by_kind.get("review", []):
        group.add(c.RecordReview(
            command_id=cid(number, "review"), nhs_number=nhs, entitlement_id=None,
            on=d["review_on"], outcome=d.get("outcome", ""),
            person_involved=d["person_involved"],
            needs_arise_from_disorder=d["needs_still_arise"],
            attendees=tuple(_attendee(a, number) for a in d.get("attendees", [])),
            carer_involved=d.get("carer_involved"), reviewed_by=la), [number])
    for number, d in by_kind.get("dispute", []):
        _dispute(group, number, d, nhs, la, cid)
    for number, d in by_kind.get("address", []):
        if not d.get("postcode") and not d.get("address_la"):
            raise _RowError(number, "postcode: an address row gives a postcode or address_la",
                            "postcode")
        group.add(c.UpdatePerson(
            command_id=cid(number, "address"), nhs_number=nhs, effective=d["address_from"],
            address=m.Address(postcode=d.get("postcode"), la_gss=d.get("address_la"),
                              accommodation=m.AccommodationType(d["accommodation"]),
                              placed_by=d.get("placed_by"))), [number])
    for number, d in by_kind.get("charge", []):
        group.add(c.RecordCharge(
            command_id=cid(number, "charge"), nhs_number=nhs, charge_id=f"{la}-{d['charge_id']}",
            entitlement_id=None, charged_from=d["charged_from"], amount=d["amount"],
            charged_to=d.get("charged_to"), charged_by=d.get("charged_by") or la,
            refunded_amount=d.get("refunded_amount"), refunded_on=d.get("refunded_on"),
            note=d.get("note", "")), [number])
    for number, d in by_kind.get("end", []):
        group.add(_end(number, d, nhs, cid), [number])
    for number, d in by_kind.get("end-proposal", []):
        group.add(c.ProposeEnd(
            command_id=cid(number, "end-proposal"), nhs_number=nhs,
            proposal_id=f"{la}-{d['proposal_id']}", entitlement_id=None, by_org=la,
            by_kind="la", by_name=d["decided_by"], on=d["decided_on"],
            review_on=d["review_on"], reasons=tuple(m.EndReason(r) for r in d["end_reasons"]),
            person_involved=d["person_involved"], carer_involved=d.get("carer_involved"),
            note=d.get("note", ""), end_date=d.get("end_date"),
            moved_to_suitable_accommodation=bool(d.get("moved_to_suitable_accommodation"))),
            [number])
    for number, d in by_kind.get("end-response", []):
        # The ICB's proposals carry the register's id; the council's own, its own id.
        given = d["proposal_id"]
        group.add(c.RespondToEndProposal(
            command_id=cid(number, "end-response"), nhs_number=nhs,
            proposal_id=given if given.startswith("P-") else f"{la}-{given}",
            agree=d["agreed"], by_org=la, by_kind="la", by_name=d["decided_by"],
            on=d["decided_on"], reason=d.get("note", ""), notice=_notice(number, d)),
            [number])
    for number, d in by_kind.get("end-withdrawal", []):
        # Ids as in an end-response, so that naming the ICB's proposal is refused by D1
        # (only the proposer withdraws), which points at the proposal_id the row gave.
        given = d["proposal_id"]
        group.add(c.WithdrawEndProposal(
            command_id=cid(number, "end-withdrawal"), nhs_number=nhs,
            proposal_id=given if given.startswith("P-") else f"{la}-{given}", by_org=la,
            on=d["decided_on"],
            reason=d.get("note", "")), [number],
            {"on": "decided_on", "by_org": "proposal_id", "reason": "note"})
    for number, d in by_kind.get("reinstatement", []):
        group.add(c.ReinstateEntitlement(
            command_id=cid(number, "reinstatement"), nhs_number=nhs, entitlement_id=None,
            on=d["decided_on"], reason=d.get("note", "")), [number])
    for number, d in by_kind.get("panel", []):
        group.add(c.RecordPanelDecision(
            command_id=cid(number, "panel"), nhs_number=nhs,
            plan_id=plan_id_for(la, d["plan_id"]), line_id=d["line_id"],
            outcome=m.PanelOutcome(d["panel_outcome"]), decided_on=d["panel_on"],
            members=tuple(d["panel_members"]), note=d.get("note", "")), [number])
    return group


def _plans(group: PersonGroup, by_kind: dict[str, list[tuple[int, dict[str, Any]]]],
           nhs: str, la: str, cid: Any) -> None:
    plans: dict[str, tuple[int, dict[str, Any]]] = {}
    for number, d in by_kind.get("plan", []):
        if d["plan_id"] in plans:
            raise _RowError(number, f"plan_id: plan {d['plan_id']} has two plan rows (row "
                            f"{plans[d['plan_id']][0]})", "plan_id")
        plans[d["plan_id"]] = (number, d)
    lines: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for number, d in by_kind.get("line", []):
        if d["plan_id"] not in plans:
            raise _RowError(number, f"plan_id: line of plan {d['plan_id']} has no plan row in "
                            "this file: a file carries whole plans", "plan_id")
        mine = lines.setdefault(d["plan_id"], [])
        if any(other["line_id"] == d["line_id"] for _, other in mine):
            raise _RowError(number, f"line_id: line {d['line_id']} appears twice in plan "
                            f"{d['plan_id']}", "line_id")
        mine.append((number, d))
    for plan_key, (number, d) in plans.items():
        index = len(group.commands)
        plan_lines = lines.get(plan_key, [])
        coordinator = m.CareCoordinator(d["care_coordinator"], d.get("coordinator_org")) \
            if d.get("care_coordinator") else None
        group.add(c.RecordCarePlan(
            command_id=cid(number, "plan"), nhs_number=nhs,
            plan_id=plan_id_for(la, plan_key), entitlement_id=None,
            status=m.PlanStatus(d["plan_status"]),
            lines=tuple(_line(ld) for _, ld in plan_lines),
            needs=tuple(m.AssessedNeed(code, arises) for code, arises in d.get("needs", [])),
            care_coordinator=coordinator, agreed_on=d.get("agreed_on"),
            ends_on=d.get("plan_ends_on"), author=la, external_id=plan_key,
            external_system=la), [number, *(n for n, _ in plan_lines)])
        for i, (line_number, _) in enumerate(plan_lines):
            group.line_rows[(index, i)] = line_number


def _line(d: dict[str, Any]) -> m.ServiceLine:
    return m.ServiceLine(
        id=d["line_id"], service_type=m.ServiceType(d["service_type"]),
        funding_basis=m.FundingBasis(d["funding_basis"]),
        funders=[m.FundingShare(code, Decimal(percent)) for code, percent in d["funders"]],
        weekly_cost=d.get("weekly_cost"), provider=d.get("provider", ""),
        description=d.get("description", ""), starts_on=d.get("starts_on"),
        ends_on=d.get("ends_on"), meets_disorder_need=d.get("meets_disorder_need", True),
        health_care=d.get("health_care"), needs=d.get("line_needs", []),
        requested_on=d.get("requested_on"))


def _notice(number: int, d: dict[str, Any]) -> m.WrittenNotice | None:
    """The D8 written notice of an end or an agreement to one: all four notice columns or
    none."""
    notice_columns = ("notice_date", "notice_given_by", "notice_method", "notice_document")
    given = [n for n in notice_columns if d.get(n)]
    if not given:
        return None
    absent = [n for n in notice_columns if n not in given]
    if absent:
        raise _RowError(number, f"{absent[0]}: a written notice (D8) gives its date, both "
                        "bodies, the method and the document", absent[0])
    document = d["notice_document"]
    is_url = document.startswith(("https://", "http://"))
    return m.WrittenNotice(d["notice_date"], list(d["notice_given_by"]),
                           m.NoticeMethod(d["notice_method"]),
                           document_title="" if is_url else document,
                           document_url=document if is_url else None)


def _end(number: int, d: dict[str, Any], nhs: str, cid: Any) -> c.EndEntitlement:
    """The joint end decision (D1-D5) of the person's latest entitlement, with the D8
    written notice when given."""
    notice = _notice(number, d)
    return c.EndEntitlement(
        command_id=cid(number, "end"), nhs_number=nhs, entitlement_id="",
        decision_date=d["decision_date"], la_agreed=True, icb_agreed=True,
        person_involved=d["person_involved"],
        reasons=tuple(m.EndReason(r) for r in d["end_reasons"]), note=d.get("note", ""),
        moved_to_suitable_accommodation=d.get("moved_to_suitable_accommodation") or False,
        la_agreed_by=d["la_agreed_by"], la_agreed_on=d["la_agreed_on"],
        icb_agreed_by=d["icb_agreed_by"], icb_agreed_on=d["icb_agreed_on"],
        carer_involved=d.get("carer_involved"), end_date=d.get("end_date"), notice=notice)


def _attendee(text: str, row: int) -> m.Attendee:
    found = attendees.read(text)
    if found is None:
        raise _RowError(row, f"attendees: {text!r}: write Name (role, ORG)", "attendees")
    return found


def _dispute(group: PersonGroup, number: int, d: dict[str, Any], nhs: str, la: str,
             cid: Any) -> None:
    dispute_id = f"{la}-{d['dispute_id']}"
    status = d["dispute_status"]
    group.add(c.OpenDispute(
        command_id=cid(number, "dispute-open"), nhs_number=nhs, dispute_id=dispute_id,
        entitlement_id=None, parties=tuple(d["parties"]), opened_on=d["opened_on"],
        interim_lead=d.get("interim_lead"), note=d.get("note", "")), [number])
    if status == "open":
        return
    on = d.get("status_on")
    if on is None:
        raise _RowError(number, f"status_on: a {status} dispute says when it was {status}",
                        "status_on")
    if status == "resolved" and not d.get("resolved_la"):
        raise _RowError(number, "resolved_la: a resolved dispute names the council of "
                        "ordinary residence", "resolved_la")
    group.add(c.UpdateDispute(
        command_id=cid(number, f"dispute-{status}"), nhs_number=nhs, dispute_id=dispute_id,
        status=m.DisputeStatus.REFERRED if status == "referred" else m.DisputeStatus.RESOLVED,
        on=on, resolved_la=d.get("resolved_la"), note=d.get("note", "")), [number])
