"""Issue 21: the CLI's wide tables (`s117 panel agenda`, `quarantine list`,
`subscriptions list`) fit a 100-column terminal, and an NHS number is never cut or wrapped.
Printed by the commands' own functions to a recording rich Console of that width."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from rich.console import Console

from adapter.cli.inbound import quarantine_table
from adapter.cli.records import print_agenda
from queues.inbound.store import Stored
from register.nhs_number import synthetic
from register.store.casework_views import AgendaRow


def printed(render) -> list[str]:  # type: ignore[no-untyped-def]
    console = Console(width=100, record=True, color_system=None)
    render(console)
    return console.export_text().splitlines()


def test_the_panel_agenda_fits_100_columns_and_keeps_nhs_numbers_whole():
    rows = [AgendaRow(date(2026, 10, 1), 66, synthetic(i), "E06000019", "QGH",
                      "CP-2024-0117-long-plan-name", "L1", "supported-accommodation",
                      "Riverside Supported Living", Decimal("1450"), "E06000019 60%; QGH 40%",
                      "pending", "supported-accommodation is considered by the panel "
                      "(locality policy)", "Mohammed Underwood-Fletcher") for i in range(3)]
    lines = printed(lambda console: print_agenda(console, rows))
    assert max(len(line) for line in lines) <= 100
    text = "\n".join(lines)
    for row in rows:
        assert row.nhs_number in text, "each NHS number is shown whole on one line"
    assert "Mohammed" in text and "Underwood" in text, "the name beside it, folded"



def test_the_quarantine_list_fits_100_columns():
    at = datetime(2026, 12, 1, 9, 30)
    rows = [Stored(i, f"hl7v2:RLQ:{i}", "mllp", "hl7v2.RLQ", "RLQ", "quarantined",
                   "ADT^A01", "PID-3: the NHS number is not valid: it must be 10 digits with "
                   "a correct Modulus 11 check digit", 900, 3, at, at, b"", [])
            for i in range(3)]
    lines = printed(lambda console: console.print(quarantine_table(rows)))
    assert max(len(line) for line in lines) <= 100
    assert "Modulus" in "\n".join(lines), "the reason folds rather than being cut"
