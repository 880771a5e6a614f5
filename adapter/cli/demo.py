"""`s117 demo`: an embedded register for a synthetic region, with the cases the Ombudsman
and the Supreme Court made famous, explained."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import date, timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from adapter.cli.console import console, progress_bar, settings
from adapter.cli.responsibility import print_answer

if TYPE_CHECKING:
    from adapter.bootstrap import Register


def demo(
    people: Annotated[int, typer.Option(help="background people in the synthetic region")]
    = 300,
    seed: Annotated[int, typer.Option(help="random seed")] = 117,
) -> None:
    """Build an embedded register for a synthetic region, play realistic histories through
    the service, and print the register with the named cases explained."""
    from adapter import demo_casework
    from adapter.bootstrap import build
    from adapter.synthetic import Generator, fixture_areas, fixture_path, named_cases
    from register.errors import RegisterError
    from register.queries import responsibility
    from register.refdata import load
    from register.refdata.shipped import PROVISIONAL_2026, data_path

    config = settings()
    if not config.embedded:
        console.print("[yellow]note:[/yellow] the demo writes to S117_DATABASE_URL "
                      f"({config.database_url.split('@')[-1]})")
    register = build(config)
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
    today = date.today()
    # Histories up to a month ago, so this year's reports have aftercare beginning too.
    generator = Generator(seed, areas, first_number=100, end=today - timedelta(days=30))
    outcomes: Counter[str] = Counter()
    generated = list(generator.people(people))
    with progress_bar() as bar:
        task = bar.add_task("playing histories", total=people + len(cases))
        histories = [case.commands for case in cases] + [cmds for _, cmds in generated]
        for cmds in histories:
            for cmd in cmds:
                outcomes[register.service.handle(cmd).status] += 1
            bar.advance(task)
        done = bar.add_task("recording casework", total=len(generated))
        casework = demo_casework.play(register, [nhs for nhs, _ in generated], today,
                                      lambda: bar.advance(done))
    console.print(f"{sum(outcomes.values())} commands: {outcomes['applied']} applied, "
                  f"{outcomes['duplicate']} duplicates ignored, {outcomes['held']} held "
                  "(each command id is applied once: running the demo again changes "
                  "nothing)")
    console.print(f"casework (plans, reviews, panel decisions, ends, a dispute): "
                  f"{casework['applied']} applied, {casework['duplicate']} duplicates "
                  f"ignored, {casework['refused']} refused by the rules\n")
    for case in cases:
        console.rule(f"[bold]{case.title}")
        answer = responsibility(register.uow(), register.refdata, config.policy,
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


def _print_flags(console: Console, register: Register, nhs: str, today: date) -> None:
    from register.store.views import RegisterViews

    ids = RegisterViews(register.sessions).person_ids_by_nhs_number((nhs,))
    work = register.casework().person_casework(ids[0]) if ids else None
    active = [a for a in work.casework.alerts if a.active_on(today)] if work else []
    for alert in active:
        console.print(f"[bold magenta]flag[/bold magenta] {alert.code.value}: {alert.reason} "
                      f"(rule {alert.rule_id})")


def _summary(console: Console, register: Register) -> None:
    from register.queries import caseload

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
