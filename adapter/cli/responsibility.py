"""`s117 responsibility`: who is responsible for a person, shown to a person (rich) or a
program (JSON)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from adapter.cli.console import as_of, console, fail, settings

if TYPE_CHECKING:
    from register.queries import ResponsibilityAnswer


def responsibility(
    nhs_number: Annotated[str, typer.Argument(help="10-digit NHS number")],
    on: Annotated[str | None, typer.Option("--date", help="as of YYYY-MM-DD (default today)")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Who is responsible for this person's s117 aftercare, and why (rule ids, citations)."""
    from adapter.bootstrap import build
    from register.errors import RegisterError
    from register.queries import responsibility as query

    day = as_of(on)
    register = build(settings())
    try:
        answer = query(register.uow(), register.refdata, register.settings.policy,
                       nhs_number, day)
    except RegisterError as exc:
        fail(exc)
    if as_json:
        sys.stdout.write(json.dumps(answer_json(answer), indent=2) + "\n")
    else:
        print_answer(console, answer)
    if not answer.known:
        raise typer.Exit(1)


def answer_json(answer: ResponsibilityAnswer) -> dict[str, Any]:
    data = asdict(answer)
    data["as_of"] = answer.as_of.isoformat()
    data["next_review_due"] = answer.next_review_due.isoformat() if answer.next_review_due \
        else None
    data["names"] = dict(answer.names)
    data["timeline"] = [{"from": seg.effective_from.isoformat(),
                         "to": seg.effective_to.isoformat() if seg.effective_to else None,
                         "local_authority": seg.local_authority, "icb": seg.icb,
                         "original_body": seg.original_body, "rule": seg.nhs_rule,
                         "needs_review": list(seg.needs_review)} for seg in answer.timeline]
    return data


def _body(answer: ResponsibilityAnswer, code: str | None) -> str:
    if not code:
        return "[yellow]not determined[/yellow]"
    name = answer.name(code)
    return f"{name} ({code})" if name else code


def print_answer(console: Console, answer: ResponsibilityAnswer) -> None:
    if not answer.known:
        console.print(f"No record in the register for this NHS number (as of {answer.as_of}).")
        return
    head = Table(show_header=False, box=None, pad_edge=False)
    head.add_row("NHS number", answer.nhs_number)
    head.add_row("as of", answer.as_of.isoformat())
    head.add_row("entitled", "yes" if answer.entitled else "no")
    head.add_row("status", answer.status)
    if answer.entitlement_id:
        head.add_row("local authority", _body(answer, answer.local_authority))
        head.add_row("ICB", _body(answer, answer.icb))
        if answer.original_body and answer.original_body != answer.icb:
            head.add_row("body the law named", _body(answer, answer.original_body))
        if answer.paying_body:
            head.add_row("commissioning body", _body(answer, answer.commissioning_body))
            head.add_row("paying body", f"{_body(answer, answer.paying_body)} -> "
                                        f"{_body(answer, answer.paying_icb)}")
        head.add_row("lives in", _body(answer, answer.residence_la)
                     + ("  [cyan](out of area)[/cyan]" if answer.out_of_area else ""))
        due = answer.next_review_due.isoformat() if answer.next_review_due else "-"
        head.add_row("next review due", due + ("  [red]OVERDUE[/red]"
                                               if answer.review_overdue else ""))
        head.add_row("rule set", answer.rule_set or "-")
    console.print(head)
    basis = Table("rule", "reason", "citation", title="why", show_lines=False)
    for step in answer.basis:
        basis.add_row(step.rule_id, step.reason, step.citation)
    console.print(basis)
    if answer.timeline:
        segments = Table("from", "to", "local authority", "NHS body (holder)", "named by law",
                         "rule", title="holder timeline (RULES.md N)")
        for seg in answer.timeline:
            at_date = seg.effective_from <= answer.as_of and (
                seg.effective_to is None or answer.as_of <= seg.effective_to)
            segments.add_row(seg.effective_from.isoformat(),
                             seg.effective_to.isoformat() if seg.effective_to else "open",
                             _body(answer, seg.local_authority), _body(answer, seg.icb),
                             seg.original_body or "-", seg.nhs_rule or "-",
                             style="bold" if at_date else None)
        console.print(segments)
    if answer.flags:
        console.print("[bold magenta]flags:[/bold magenta] " + ", ".join(answer.flags))
    if answer.needs_review:
        console.print("[bold yellow]needs review:[/bold yellow]")
        for reason in answer.needs_review:
            console.print(f"  - {reason}")
