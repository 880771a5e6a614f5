"""The demo's named cases for the failures the Ombudsman keeps finding (RULES.md O1-O5):
each flag raised on its own person, and the refused request to "transfer the package"."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

from adapter.synthetic import Area, Case, _line
from register import commands as c
from register.model import AssessedNeed, CareCoordinator, PlanStatus
from register.nhs_number import synthetic

Stay = Callable[..., list[c.Command]]
COORDINATOR = CareCoordinator("Hereford community mental health team", "R1A")


def _plan(nhs: str, key: str, agreed: date, *, assessed: bool) -> c.RecordCarePlan:
    return c.RecordCarePlan(
        command_id=f"demo-{key}-plan", nhs_number=nhs, plan_id=f"demo-{key}-plan",
        entitlement_id=None, status=PlanStatus.ACTIVE, agreed_on=agreed,
        care_coordinator=COORDINATOR,
        needs=(AssessedNeed("mental-healthcare", True),) if assessed else (),
        lines=(_line("support", "domiciliary", "E06000019=100", "240",
                     needs=["mental-healthcare"] if assessed else []),), author="E06000019")


def _review(nhs: str, key: str, on: date) -> c.RecordReview:
    return c.RecordReview(command_id=f"demo-{key}-review", nhs_number=nhs, entitlement_id=None,
                          on=on, reviewed_by="E06000019")


def flag_cases(hereford: Area, swindon: Area, stay: Stay) -> list[Case]:
    # Numbers 60-64: clear of the other named cases and of the generated people (100 on).
    o1, o2, o3, o4, o5 = (synthetic(n) for n in range(60, 65))
    return [
        Case("No plan at discharge (O1; LGSCO West Northamptonshire 24 015 710): met at a "
             "review three weeks later, still no aftercare plan", o1,
             [*stay(o1, "o1", "R1A", "F001", hereford, "2025-06-01", "03", "2025-09-01"),
              _review(o1, "o1", date(2025, 9, 22))]),
        Case("No assessment (O2; LGSCO Ealing 25 000 832): a plan at discharge but no needs "
             "assessed and no s117 meeting since", o2,
             [*stay(o2, "o2", "R1A", "F002", hereford, "2026-01-05", "03", "2026-02-02"),
              _plan(o2, "o2", date(2026, 2, 2), assessed=False)]),
        Case("Entitlement never recorded (O3; LGSCO Northamptonshire ICB 22 009 742a): "
             "discharged from s3 and nothing recorded by either body (O1, O2 too)", o3,
             stay(o3, "o3", "R1A", "F003", hereford, "2026-02-01", "03", "2026-03-02")),
        Case("Charged for s117 services (O4; LGSCO City of York 25 002 735): £4,850 charged "
             "for April to October 2025, not yet refunded", o4,
             [*stay(o4, "o4", "R1A", "F004", hereford, "2024-11-01", "03", "2025-01-10"),
              _plan(o4, "o4", date(2025, 1, 10), assessed=True),
              _review(o4, "o4", date(2025, 2, 14)),
              c.RecordCharge(command_id="demo-o4-charge", nhs_number=o4, charge_id="YK-1",
                             entitlement_id=None, charged_from=date(2025, 4, 1),
                             charged_to=date(2025, 10, 31), amount=Decimal("4850.00"),
                             charged_by="E06000019",
                             note="home care charged under the Care Act")]),
        Case("Transfer the package on a move (O5; LGSCO Worcestershire 24 014 179): moved to "
             "Swindon after discharge; Swindon is asked to take over", o5,
             [*stay(o5, "o5", "R1A", "F005", hereford, "2025-03-01", "03", "2025-05-01",
                    swindon), _plan(o5, "o5", date(2025, 5, 1), assessed=True),
              _review(o5, "o5", date(2025, 6, 1))],
             c.RecordOrdinaryResidence(command_id="demo-o5-transfer", nhs_number=o5,
                                       la_gss=swindon.la, decided_by="Swindon s117 team",
                                       decided_on=date(2025, 7, 1),
                                       evidence="moved to Swindon; package to transfer"),
             "ask to transfer responsibility to Swindon"),
    ]
