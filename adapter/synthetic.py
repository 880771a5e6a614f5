"""Synthetic region: realistic command streams for made-up people (999 NHS numbers),
used by `s117 demo` and the benchmark, and the demo's named cases (the situations the
Ombudsman and the Supreme Court made famous). Deterministic for a seed."""

from __future__ import annotations

import csv
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from importlib import resources
from itertools import count, islice

from register import commands as c
from register.model import (
    HOUSING_BENEFIT,
    Address,
    AssessedNeed,
    CareCoordinator,
    EndReason,
    FundingBasis,
    FundingShare,
    PanelOutcome,
    PersonName,
    PlanStatus,
    ServiceLine,
    ServiceType,
)
from register.nhs_number import synthetic, synthetic_numbers
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


# --- the demo's named cases ----------------------------------------------------------


@dataclass(frozen=True)
class Case:
    title: str
    nhs_number: str
    commands: list[c.Command]
    refused: c.Command | None = None  # an attempt the rules refuse, shown as such
    attempt: str = "attempt to end it"


def _t(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00")


def _area(areas: list[Area], la: str) -> Area:
    return next(a for a in areas if a.la == la and a.practice)


def named_cases(areas: list[Area]) -> list[Case]:
    hereford = _area(areas, "E06000019")
    worcester = next(a for a in areas if a.la in ("E07000237", "E07000235") and a.practice)
    swindon = _area(areas, "E06000030")
    rotherham = _area(areas, "E08000018")
    gloucester = next(a for a in areas if a.practice and a.practice != swindon.practice
                      and a.la not in ("E06000019", "E06000030", "E08000018")
                      and not a.la.startswith("E07000237"))
    cases: list[Case] = []

    def stay(nhs: str, key: str, trust: str, ref: str, area: Area, admitted: str, code: str,
             discharged: str | None, to: Area | None = None) -> list[c.Command]:
        cmds: list[c.Command] = [c.Admit(
            command_id=f"demo-{key}-a", nhs_number=nhs, occurred_at=_t(admitted),
            trust_ods=trust, stay_ref=ref, admitted_at=_t(admitted), legal_status=code,
            residence_before=Address(postcode=area.postcode), gp_practice=area.practice)]
        if discharged:
            cmds.append(c.Discharge(
                command_id=f"demo-{key}-d", nhs_number=nhs, occurred_at=_t(discharged, 15),
                trust_ods=trust, stay_ref=ref, discharged_at=_t(discharged, 15),
                destination=Address(postcode=to.postcode) if to else None))
        return cmds

    nhs = synthetic(0)
    cases.append(Case("Out-of-area placement (L1, L2): detained from Herefordshire, placed in "
                      "Swindon", nhs,
                      stay(nhs, "ooa", "R1A", "H001", hereford, "2024-02-01", "03",
                           "2024-05-10", swindon)))
    nhs = synthetic(1)
    cmds = stay(nhs, "w1", "R1A", "W001", worcester, "2023-01-10", "03", "2023-06-01", swindon)
    cmds.append(c.UpdatePerson(command_id="demo-w-gp", nhs_number=nhs,
                               occurred_at=_t("2023-06-15"), gp_practice=swindon.practice,
                               effective=date(2023, 6, 15)))
    cmds += stay(nhs, "w2", "RV3", "S042", swindon, "2024-03-01", "03", "2024-09-01", swindon)
    cases.append(Case("Worcestershire-style re-detention (L3, N7): placed in Swindon, detained "
                      "again there", nhs, cmds))
    nhs = synthetic(2)
    cases.append(Case("Section 2 only (E1): not entitled", nhs,
                      stay(nhs, "s2", "RXE", "R100", rotherham, "2024-04-01", "02",
                           "2024-04-20")))
    nhs = synthetic(3)
    split = Area(swindon.postcode, swindon.la, gloucester.practice)
    cases.append(Case("2021 detention (N4): commissioning CCG by residence, paying CCG by GP",
                      nhs, stay(nhs, "n4", "RV3", "S021", split, "2021-03-01", "03",
                                "2021-07-01")))
    nhs = synthetic(4)
    cto = stay(nhs, "cto", "RXE", "R200", rotherham, "2024-06-01", "03", None)
    cto.append(c.StartCto(command_id="demo-cto-s", nhs_number=nhs, occurred_at=_t("2024-08-01"),
                          trust_ods="RXE", stay_ref="R200", at=_t("2024-08-01")))
    end = c.EndEntitlement(command_id="demo-cto-end", nhs_number=nhs, entitlement_id="",
                           decision_date=date(2025, 1, 10), la_agreed=True, icb_agreed=True,
                           person_involved=True, reasons=(EndReason.NO_LONGER_NEEDED,),
                           la_agreed_by="Rotherham s117 lead", la_agreed_on=date(2025, 1, 10),
                           icb_agreed_by="South Yorkshire ICB", icb_agreed_on=date(2025, 1, 10))
    cases.append(Case("Community treatment order (E3, D2): entitled, and cannot be ended",
                      nhs, cto, end))
    cases[0].commands.append(_placement_plan(synthetic(0), swindon))
    cases += _ombudsman_cases(hereford, stay)
    cases += flag_cases(hereford, swindon, stay)
    birmingham = _area(areas, "E08000025")
    cases += [Case(title, nhs, cmds) for title, nhs, cmds in timeline_cases(
        hereford, swindon, gloucester, birmingham.practice or "")]
    for case in cases:
        case.commands.insert(0, _named(case))
    return cases


# The named cases the README tells by their first names.
FIRST_NAMES = {synthetic(5): "Sarah", synthetic(6): "Priya"}


def _named(case: Case) -> c.UpdatePerson:
    """A made-up name and an adult's date of birth, known before anything else happened to
    the person, so the pages show the named cases by name as they do everyone else."""
    rng = random.Random(case.nhs_number)
    first = min(cmd.occurred_at for cmd in case.commands if cmd.occurred_at)
    known = first.date() - timedelta(days=1)
    return c.UpdatePerson(
        command_id=f"demo-name-{case.nhs_number}", nhs_number=case.nhs_number,
        occurred_at=_at(known, 8), effective=known,
        date_of_birth=date(known.year - rng.randint(22, 70), rng.randint(1, 12),
                           rng.randint(1, 28)),
        name=PersonName(rng.choice(FAMILY),
                        [FIRST_NAMES.get(case.nhs_number) or rng.choice(GIVEN)]))


def _line(line_id: str, service: str, funders: str, cost: str, **more: object) -> ServiceLine:
    shares = [FundingShare(code, Decimal(pct)) for code, pct in
              (part.split("=") for part in funders.split(";"))]
    return ServiceLine(line_id, ServiceType(service), FundingBasis(more.pop("basis", "s117")),
                       shares, weekly_cost=Decimal(cost), **more)  # type: ignore[arg-type]


def _placement_plan(nhs: str, placed_in: Area) -> c.RecordCarePlan:
    """Split funding for the out-of-area placement: the supported accommodation waits for
    the panel (its weekly cost is over the default threshold)."""
    return c.RecordCarePlan(
        command_id="demo-ooa-plan", nhs_number=nhs, plan_id="demo-ooa-plan",
        entitlement_id=None, status=PlanStatus.ACTIVE, agreed_on=date(2024, 5, 10),
        care_coordinator=CareCoordinator("Dee Patel, community mental health team", "R1A"),
        needs=(AssessedNeed("accommodation", True), AssessedNeed("mental-healthcare", True),
               AssessedNeed("other-area-agencies", True)),
        lines=(_line("home", "supported-accommodation", "E06000019=60;QGH=40", "1450",
                     provider=f"Supported living, {placed_in.postcode}",
                     needs=["accommodation", "other-area-agencies"],
                     starts_on=date(2024, 5, 10)),
               _line("therapy", "psychological-therapy", "QGH=100", "180",
                     needs=["mental-healthcare"], starts_on=date(2024, 5, 10))),
        author="E06000019")


def _ombudsman_cases(hereford: Area, stay) -> list[Case]:  # type: ignore[no-untyped-def]
    """Sarah's and Priya's situations (seed 000), which must show as flags, not silence."""
    sarah, priya = synthetic(5), synthetic(6)
    priya_cmds = stay(priya, "priya", "R1A", "P016", hereford, "2016-02-01", "03",
                      "2016-06-15")
    flat = _line("flat", "supported-accommodation", "E06000019=100", "320",
                 provider="Sheltered housing scheme", needs=["accommodation"])
    plan = c.RecordCarePlan(
        command_id="demo-priya-plan", nhs_number=priya, plan_id="demo-priya-plan",
        entitlement_id=None, status=PlanStatus.ACTIVE, agreed_on=date(2016, 6, 15),
        care_coordinator=CareCoordinator("Hereford community mental health team", "R1A"),
        needs=(AssessedNeed("accommodation", True),), lines=(flat,))
    priya_cmds += [plan, c.RecordPanelDecision(
        command_id="demo-priya-panel", nhs_number=priya, plan_id="demo-priya-plan",
        line_id="flat", outcome=PanelOutcome.APPROVED, decided_on=date(2016, 7, 1),
        members=("E06000019", "05T"))]
    by_housing_benefit = replace(plan, command_id="demo-priya-hb", lines=(replace(
        flat, funders=[FundingShare("E06000019", Decimal(40)),
                       FundingShare(HOUSING_BENEFIT, Decimal(60))]),))
    return [
        Case("Sarah (Ombudsman 19 016 759): discharged with no aftercare plan and no care "
             "coordinator (E2, R1)", sarah,
             stay(sarah, "sarah", "R1A", "S019", hereford, "2025-03-01", "03", "2025-05-02")),
        Case("Priya (Ombudsman 18 O10 781): s117 sheltered accommodation since 2016, never "
             "reviewed (F4, R3)", priya, priya_cmds, by_housing_benefit,
             "attempt to fund it through housing benefit")]


# The demo's named cases for the failures the Ombudsman keeps finding (RULES.md O1-O5): each
# flag raised on its own person, and the refused request to "transfer the package".

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


# --- the holder timeline cases of RULES.md N (December 2026 edition) ----------------------
# Each a named person whose NHS body changes over time the way the law says; the 2026 merger
# case needs the provisional 2026-04-01 succession files, which the demo loads.

NORWICH_PRACTICE, NORFOLK = "Z70001", "E10000020"  # sub-ICB 26A of QMM (fixture epraccur)
TIMELINE_FIRST = 70  # synthetic numbers 70-75: clear of the other named cases (O flags: 60-64)


def _timeline_stay(nhs: str, key: str, area: Area, admitted: str, discharged: str | None, *,
          practice: str | None = None, or_la: str | None = None,
          application: str | None = None) -> list[c.Command]:
    cmds: list[c.Command] = [c.Admit(
        command_id=f"demo-n-{key}-a", nhs_number=nhs, occurred_at=_t(admitted),
        trust_ods="R1A", stay_ref=f"N-{key}", admitted_at=_t(admitted), legal_status="03",
        residence_before=Address(postcode=area.postcode), gp_practice=practice or area.practice,
        or_la=or_la, application_on=date.fromisoformat(application) if application else None)]
    if discharged:
        cmds.append(c.Discharge(
            command_id=f"demo-n-{key}-d", nhs_number=nhs, occurred_at=_t(discharged, 15),
            trust_ods="R1A", stay_ref=f"N-{key}", discharged_at=_t(discharged, 15)))
    return cmds


def _gp_change(nhs: str, key: str, practice: str, day: str) -> c.UpdatePerson:
    """An A31 with EVN-6: the GP registration from that day."""
    return c.UpdatePerson(command_id=f"demo-n-{key}", nhs_number=nhs, occurred_at=_t(day),
                          gp_practice=practice, effective=date.fromisoformat(day),
                          dated_by="EVN-6 (event occurred)")


def timeline_cases(hereford: Area, swindon: Area, gloucester: Area,
                   birmingham_practice: str) -> list[tuple[str, str, list[c.Command]]]:
    """(title, NHS number, commands) for each N-rule case."""
    n = [synthetic(TIMELINE_FIRST + i) for i in range(6)]
    gp_changes = _timeline_stay(n[0], "n2", hereford, "2013-06-03", "2013-09-02")
    gp_changes += [_gp_change(n[0], "n2-gp1", swindon.practice or "", "2014-05-01"),
                   _gp_change(n[0], "n2-gp2", gloucester.practice or "", "2015-02-02")]
    freeze = _timeline_stay(n[1], "n3", hereford, "2015-11-02", "2016-01-15")
    freeze.append(_gp_change(n[1], "n3-gp", swindon.practice or "", "2017-03-01"))
    redetained = _timeline_stay(n[4], "n7a", hereford, "2023-02-01", "2023-05-02")
    redetained.append(_gp_change(n[4], "n7-gp", swindon.practice or "", "2023-06-01"))
    redetained += _timeline_stay(n[4], "n7b", swindon, "2024-06-03", "2024-09-02")
    return [
        ("2013-16 (N2): the CCG follows each GP change; frozen from 2016-04-01 (N3); from "
         "2022-07-01 the ICB of core responsibility then (N5b)", n[0], gp_changes),
        ("The 2016 freeze (N3): in aftercare on 2016-03-31, a 2017 GP move does not move the "
         "CCG; on 2022-07-01 the ICB by the GP then (N5b)", n[1], freeze),
        ("Reg 7(3) (N5b): detained 2018 living in Herefordshire, registered in Birmingham: "
         "QHL from 2022-07-01, not QGH (the successor of the 2018 CCG)", n[2],
         _timeline_stay(n[2], "n5b", hereford, "2018-03-05", "2018-06-01",
               practice=birmingham_practice)),
        ("Reg 6 (N5a): in detention on 2022-07-01", n[3],
         _timeline_stay(n[3], "n5a", swindon, "2022-05-20", "2022-08-10",
                        application="2022-05-19")),
        ("N7 after 2022: detained again from a Swindon placement: the council moves (L3), "
         "the ICB stays", n[4], redetained),
        ("2026 merger (N6): Norfolk and Waveney ICB's duty passes to the Norfolk and Suffolk "
         "ICB on 2026-04-01 (provisional code)", n[5],
         _timeline_stay(n[5], "n6", Area("NR1 1AA", NORFOLK, NORWICH_PRACTICE), "2023-03-01",
               "2023-06-01", or_la=NORFOLK, application="2023-02-28")),
    ]
