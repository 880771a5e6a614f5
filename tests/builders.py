"""Small builders for facts and commands in tests (synthetic people only)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from register.model import (
    Address,
    AddressPeriod,
    AftercarePlan,
    AssessedNeed,
    CareCoordinator,
    FundingBasis,
    FundingShare,
    GpRegistration,
    LegalStatusPeriod,
    PersonFacts,
    PlanStatus,
    ServiceLine,
    ServiceType,
    Stay,
    StayEvent,
    StayEventKind,
)
from register.nhs_number import synthetic
from register.refdata.memory import InMemoryRefData

POSTCODES: dict[str, tuple[str, str | None]] = {
    "HR1 1AA": ("E06000019", "18C"),  # Herefordshire
    "WR1 1AA": ("E07000237", "18C"),  # Worcester district, Worcestershire county
    "SN1 1AA": ("E06000030", "92G"),  # Swindon
    "GL1 1AA": ("E07000081", "11M"),  # Gloucester district, Gloucestershire county
    "S60 1AA": ("E08000018", "03L"),  # Rotherham
    "SO23 8AA": ("E07000094", None),  # Winchester district, Hampshire (two ICBs)
    "CF10 1AA": ("W06000015", None),  # Cardiff (Wales)
}
PRACTICES: dict[str, str] = {"Z10001": "18C", "Z20001": "92G", "Z30001": "11M",
                             "Z40001": "03L"}

HEREFORDSHIRE, WORCESTERSHIRE, SWINDON = "E06000019", "E10000034", "E06000030"
GLOUCESTERSHIRE, ROTHERHAM, HAMPSHIRE = "E10000013", "E08000018", "E10000014"


def refdata() -> InMemoryRefData:
    return InMemoryRefData.from_shipped(postcodes=POSTCODES, practices=PRACTICES)


def at(day: str, hour: int = 10) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time()).replace(hour=hour)


def stay(ref: str, admitted: str, *periods: tuple[str, str], discharged: str | None = None,
         postcode: str | None = "HR1 1AA", gp: str | None = "Z10001", trust: str = "RLQ",
         events: tuple[tuple[StayEventKind, str], ...] = (), restricted: bool = False,
         destination: str | None = None, or_la: str | None = None) -> Stay:
    return Stay(
        trust_ods=trust, stay_ref=ref, admitted_at=at(admitted),
        residence_before=Address(postcode=postcode) if postcode else None,
        gp_practice_at_admission=gp, or_la_from_trust=or_la,
        discharged_at=at(discharged, 15) if discharged else None,
        discharge_address=Address(postcode=destination) if destination else None,
        legal_status=[LegalStatusPeriod(code, at(start, 11), restricted=restricted)
                      for code, start in periods],
        events=[StayEvent(kind, at(day, 12)) for kind, day in events])


def person(*stays: Stay, n: int = 0, born: str | None = "1980-05-01",
           address: tuple[str, str] | None = None, gps: tuple[tuple[str, str], ...] = ()
           ) -> PersonFacts:
    facts = PersonFacts(nhs_number=synthetic(n),
                        date_of_birth=date.fromisoformat(born) if born else None,
                        stays=list(stays))
    if address:
        facts.addresses.append(AddressPeriod(Address(postcode=address[0]),
                                             date.fromisoformat(address[1])))
    facts.gp_registrations = [GpRegistration(code, date.fromisoformat(day))
                              for code, day in gps]
    return facts


def line(line_id: str = "L1", service: str = "domiciliary", basis: str = "s117",
         funders: str = "E06000019=100", *, cost: str | None = "250",
         meets: bool = True, needs: tuple[str, ...] = (), requested: str | None = None,
         health: bool | None = None, ends: str | None = None) -> ServiceLine:
    """A service line; `funders` as a council file writes them: `E06000019=60;QGH=40`."""
    shares = [FundingShare(code, Decimal(pct)) for code, pct in
              (part.split("=") for part in funders.split(";") if part)]
    return ServiceLine(line_id, ServiceType(service), FundingBasis(basis), shares,
                       weekly_cost=Decimal(cost) if cost is not None else None,
                       meets_disorder_need=meets, needs=list(needs),
                       requested_on=date.fromisoformat(requested) if requested else None,
                       health_care=health, ends_on=date.fromisoformat(ends) if ends else None)


def plan(entitlement_id: str, *lines: ServiceLine, plan_id: str = "P1",
         status: str = "active", coordinator: str | None = "Jo Bloggs",
         needs: tuple[tuple[str, bool], ...] = (), agreed: str | None = None) -> AftercarePlan:
    return AftercarePlan(
        plan_id, entitlement_id, PlanStatus(status), list(lines),
        [AssessedNeed(code, arises) for code, arises in needs],
        CareCoordinator(coordinator, "RLQ") if coordinator else None,
        agreed_on=date.fromisoformat(agreed) if agreed else None)


def council_file(*rows: dict[str, str], columns: tuple[str, ...] | None = None) -> bytes:
    """A council batch file (UTF-8 CSV) with the given rows; every column by default."""
    import csv
    import io

    from mappings.council.schema import HEADER

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns or HEADER), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def plan_rows(nhs: str, plan_id: str = "CP-1", *, status: str = "active",
              funders: str = "E06000019=60;QGH=40", cost: str = "1450.00",
              service: str = "supported-accommodation") -> list[dict[str, str]]:
    """A plan row and one service line row, as a council system writes them."""
    return [
        {"record": "plan", "nhs_number": nhs, "plan_id": plan_id, "plan_status": status,
         "agreed_on": "2024-05-10", "care_coordinator": "Dee Patel", "coordinator_org": "R1A",
         "needs": "accommodation:Y;physical-health:N"},
        {"record": "line", "nhs_number": nhs, "plan_id": plan_id, "line_id": "L1",
         "service_type": service, "provider": "Riverside Supported Living",
         "starts_on": "2024-05-10", "weekly_cost": cost, "funding_basis": "s117",
         "funders": funders, "line_needs": "accommodation"}]
