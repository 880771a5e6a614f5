"""Search parameters: parsing FHIR search requests into register view filters.

Every parameter a request carries is either understood or reported: lenient handling (the
default) answers with a warning issue in the Bundle, `Prefer: handling=strict` with 400
(FHIR search 3.1.1.2.1). Nothing is silently ignored."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from werkzeug.datastructures import MultiDict

from adapter.http.fhir.errors import FhirError, Issue, invalid
from fhir_profiles import canonical as url
from mappings.fhir.common import local_id
from mappings.fhir.entitlement import FROM_FHIR_STATUS
from register.nhs_number import normalise, problem
from register.store.views import EntitlementFilter

PAGING = {"_count", "_offset", "_summary", "_total", "_format", "_pretty"}
EPISODE_PARAMS = {"_id", "patient", "patient.identifier", "status", "date", "responsible-la",
                  "responsible-icb", "residence-la", "out-of-area", "_lastUpdated", "_include",
                  "_revinclude"}
DEFAULT_COUNT, MAX_COUNT = 50, 500
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le")


@dataclass
class Paging:
    count: int = DEFAULT_COUNT
    offset: int = 0
    summary_count: bool = False
    total: str = "none"  # _total: none | estimate | accurate

    @property
    def counts(self) -> bool:
        """Whether to count every match: only when asked (`_total=accurate`, or a request
        for the count alone), as HAPI FHIR does; a caseload of 168,000 costs a scan."""
        return self.total == "accurate" or self.summary_count or self.count == 0


@dataclass
class Parsed:
    where: EntitlementFilter
    paging: Paging
    includes: set[str] = field(default_factory=set)
    issues: list[Issue] = field(default_factory=list)


def values(args: MultiDict[str, str], name: str) -> tuple[str, ...]:
    """Repeated parameters AND together; commas within one value OR (3.1.1.3)."""
    return tuple(v for raw in args.getlist(name) for v in raw.split(",") if v)


def _token(args: MultiDict[str, str], name: str, system: str | None = None) -> tuple[str, ...]:
    out = []
    for value in values(args, name):
        given_system, bar, code = value.rpartition("|")
        if bar and system and given_system and given_system != system:
            raise invalid(f"{name}: system {given_system!r} is not {system}", name)
        out.append(code if bar else value)
    return tuple(out)


def paging(args: MultiDict[str, str]) -> Paging:
    out = Paging()
    for name, attr in (("_count", "count"), ("_offset", "offset")):
        raw = args.get(name)
        if raw is None:
            continue
        number = local_id(raw)
        if number is None:
            raise invalid(f"{name} must be a whole number, not {raw!r}", name)
        setattr(out, attr, number)
    out.count = min(out.count, MAX_COUNT)
    summary = args.get("_summary")
    if summary not in (None, "count", "false"):
        raise invalid(f"_summary={summary} is not supported here (count or false)", "_summary")
    out.summary_count = summary == "count"
    total = args.get("_total")
    if total not in (None, "none", "estimate", "accurate"):
        raise invalid(f"_total must be none, estimate or accurate, not {total!r}", "_total")
    out.total = total or "none"
    return out


def unknown(args: MultiDict[str, str], known: set[str], strict: bool) -> list[Issue]:
    issues = [Issue("warning", "not-supported",
                    f"search parameter {name!r} is not supported for this resource type and "
                    "was not applied", [name])
              for name in args if name not in known | PAGING]
    if strict and issues:
        raise FhirError(400, *[Issue("error", i.code, i.diagnostics, i.expression)
                               for i in issues])
    return issues


def _date(value: str) -> tuple[str, date]:
    prefix = value[:2] if value[:2] in PREFIXES else "eq"
    raw = value[2:] if value[:2] in PREFIXES else value
    try:
        return prefix, date.fromisoformat(raw[:10])
    except ValueError:
        raise invalid(f"date {value!r} is not [prefix]YYYY-MM-DD", "date") from None


def instant(value: str, name: str) -> datetime:
    """A FHIR instant parameter (with or without a ge/gt prefix) as the store's naive UTC."""
    raw = value[2:] if value[:2] in ("ge", "gt") else value
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(f"{name} {value!r} is not an instant (e.g. 2026-11-01T09:00:00Z)",
                      name) from None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _patient_ids(args: MultiDict[str, str]) -> tuple[int, ...]:
    ids = []
    for value in values(args, "patient"):
        ident = value.removeprefix("Patient/")
        number = local_id(ident)
        if number is None:
            raise invalid(f"patient={value!r}: expected Patient/<id>", "patient")
        ids.append(number)
    return tuple(ids)


def nhs_numbers(args: MultiDict[str, str], name: str) -> tuple[str, ...]:
    numbers = _token(args, name, url.NHS_NUMBER)
    for number in numbers:
        if reason := problem(number):
            raise invalid(f"{name}: {reason}", name)
    return tuple(normalise(n) for n in numbers)


def episode_of_care(args: MultiDict[str, str], strict: bool) -> Parsed:
    issues = unknown(args, EPISODE_PARAMS, strict)
    statuses = []
    for status in values(args, "status"):
        if status not in FROM_FHIR_STATUS:
            raise invalid(f"status {status!r} is not one of {', '.join(FROM_FHIR_STATUS)}",
                          "status")
        statuses.append(FROM_FHIR_STATUS[status].value)
    out_of_area = args.get("out-of-area")
    if out_of_area not in (None, "true", "false"):
        raise invalid("out-of-area must be true or false", "out-of-area")
    includes = set(args.getlist("_include")) | set(args.getlist("_revinclude"))
    supported = {"EpisodeOfCare:patient", "Coverage:beneficiary", "CarePlan:entitlement",
                 "Task:focus"}
    for name in includes - supported:
        issues.append(Issue("warning", "not-supported", f"_include/_revinclude {name!r} is not "
                            f"supported (supported: {', '.join(sorted(supported))})",
                            ["_include"]))
    last_updated = args.get("_lastUpdated")
    where = EntitlementFilter(
        ids=values(args, "_id"), person_ids=_patient_ids(args),
        nhs_numbers=nhs_numbers(args, "patient.identifier"),
        local_authorities=_token(args, "responsible-la", url.GSS_CODE),
        icbs=_token(args, "responsible-icb", url.ODS_CODE),
        residence_las=_token(args, "residence-la", url.GSS_CODE),
        out_of_area=None if out_of_area is None else out_of_area == "true",
        statuses=tuple(statuses), dates=tuple(_date(v) for v in args.getlist("date")),
        updated_since=instant(last_updated, "_lastUpdated") if last_updated else None)
    return Parsed(where, paging(args), includes & supported, issues)
