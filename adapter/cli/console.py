"""What every `s117` command shares: the consoles, the progress bar, the settings, and one
way to refuse bad input (a red `error:` line on standard error and exit status 2)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from adapter.bootstrap import Register
    from adapter.config import Settings

console = Console()
errors = Console(stderr=True)


def progress_bar(on: Console | None = None) -> Progress:
    """A progress bar, on stdout unless the command writes its result there."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=on or console, transient=False)


def fail(reason: object, code: int = 2) -> NoReturn:
    """Print why on standard error and stop with `code` (2: the input was refused)."""
    errors.print(f"[red]error:[/red] {reason}")
    raise typer.Exit(code)


def settings() -> Settings:
    """The process's configuration (`S117_` variables); a wrong one stops the command."""
    from adapter import config
    from register.errors import RegisterError

    try:
        return config.from_env()
    except RegisterError as exc:
        fail(exc)


def as_of(on: str | None) -> date:
    """The --date option: YYYY-MM-DD, today when not given."""
    try:
        return date.fromisoformat(on) if on else date.today()
    except ValueError:
        fail(f"--date {on!r} is not YYYY-MM-DD")


def known_body(code: str, register: Register) -> None:
    """Refuse a council or ICB code the reference data does not know."""
    if register.refdata.name(code) is None:
        fail(f"{code!r} is not a known council or ICB code")
