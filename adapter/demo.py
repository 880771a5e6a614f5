"""`s117 demo`: an embedded register for a synthetic region, with the cases the Ombudsman
and the Supreme Court made famous, explained."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal

from rich.console import Console
from rich.table import Table

from adapter import config
from adapter.bootstrap import build
from adapter.demo_timeline import timeline_cases
from adapter.render import print_answer
from adapter.synthetic import Area, Generator, fixture_areas, fixture_path
from register import commands as c
from register.errors import RegisterError
from register.model import (
    HOUSING_BENEFIT,
    Address,
    AssessedNeed,
    CareCoordinator,
    EndReason,
    FundingBasis,
    FundingShare,
    PanelOutcome,
    PlanStatus,
    ServiceLine,
    ServiceType,
)
from register.nhs_number import synthetic
from register.queries import caseload, responsibility
from register.refdata import load
from register.refdata.shipped import PROVISIONAL_2026, data_path
from register.store.casework_views import CaseworkViews
from register.store.views import RegisterViews


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
    birmingham = _area(areas, "E08000025")
    cases += [Case(title, nhs, cmds) for title, nhs, cmds in timeline_cases(
        hereford, swindon, gloucester, birmingham.practice or "")]
    return cases


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


def run_demo(settings: config.Settings, console: Console, *, people: int, seed: int) -> None:
    from adapter.cli import progress_bar

    if not settings.embedded:
        console.print("[yellow]note:[/yellow] the demo writes to S117_DATABASE_URL "
                      f"({settings.database_url.split('@')[-1]})")
    register = build(settings)
    with register.sessions() as session:
        load.load_epraccur(session, fixture_path("epraccur.csv"))
        load.load_postcodes(session, fixture_path("postcodes.csv"))
        # The 2026-04-01 ICB mergers (N6), provisional codes: the demo's merger case.
        succession, parents = (data_path(name) for name in PROVISIONAL_2026)
        load.load_succession(session, succession)
        load.load_sub_icb_parents(session, parents)
        session.commit()
    areas = fixture_areas()
    cases = named_cases(areas)
    generator = Generator(seed, areas, first_number=100)
    outcomes: Counter[str] = Counter()
    with progress_bar() as bar:
        task = bar.add_task("playing histories", total=people + len(cases))
        histories = [case.commands for case in cases] + [
            cmds for _, cmds in generator.people(people)]
        for cmds in histories:
            for cmd in cmds:
                outcomes[register.service.handle(cmd).status] += 1
            bar.advance(task)
    console.print(f"{sum(outcomes.values())} commands: {outcomes['applied']} applied, "
                  f"{outcomes['duplicate']} duplicates ignored, {outcomes['held']} held "
                  "(each command id is applied once: running the demo again changes "
                  "nothing)\n")
    today = date.today()
    for case in cases:
        console.rule(f"[bold]{case.title}")
        answer = responsibility(register.uow(), register.refdata, settings.policy,
                                case.nhs_number, today)
        print_answer(console, answer)
        _print_flags(console, register, case.nhs_number, today)
        if case.refused is not None and answer.entitlement_id:
            attempt = case.refused
            if getattr(attempt, "entitlement_id", None) == "":
                attempt = replace(attempt, entitlement_id=answer.entitlement_id)
            try:
                register.service.handle(attempt)
                console.print(f"[red]{case.attempt}: accepted (unexpected)[/red]")
            except RegisterError as exc:
                console.print(f"[bold]{case.attempt}:[/bold] refused: {exc}")
        console.print(f"try: s117 responsibility {case.nhs_number}\n")
    _summary(console, register)


def _print_flags(console: Console, register, nhs: str,  # type: ignore[no-untyped-def]
                 today: date) -> None:
    views = CaseworkViews(register.sessions, register.settings.policy)
    ids = RegisterViews(register.sessions).person_ids_by_nhs_number((nhs,))
    work = views.person_casework(ids[0]) if ids else None
    active = [a for a in work.casework.alerts if a.active_on(today)] if work else []
    for alert in active:
        console.print(f"[bold magenta]flag[/bold magenta] {alert.code.value}: {alert.reason} "
                      f"(rule {alert.rule_id})")


def _summary(console: Console, register) -> None:  # type: ignore[no-untyped-def]
    rows = caseload(register.uow(), limit=1_000_000)
    by_body: dict[tuple[str, str], dict[str, int]] = {}
    for row in rows:
        key = (row.local_authority or "?", row.icb or "?")
        counts = by_body.setdefault(key, {})
        counts[row.status] = counts.get(row.status, 0) + 1
    table = Table("responsible LA", "ICB", "planned", "active", "ended", "out of area",
                  "needs review", title="the register by responsible bodies")
    for (la, icb), counts in sorted(by_body.items()):
        mine = [r for r in rows if (r.local_authority or "?", r.icb or "?") == (la, icb)]
        name = register.refdata.name(la) or la
        table.add_row(f"{name} ({la})", icb, str(counts.get("planned", 0)),
                      str(counts.get("active", 0)), str(counts.get("ended", 0)),
                      str(sum(1 for r in mine if r.status == "active" and r.residence_la
                              and r.residence_la != r.local_authority)),
                      str(sum(1 for r in mine if r.needs_review)))
    console.print(table)
    swindon = caseload(register.uow(), residence_la="E06000030", out_of_area=True,
                       status="active")
    console.print(f"Swindon hosts {len(swindon)} people placed there by other councils "
                  "(out-of-area query).")
