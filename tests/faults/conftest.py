"""The fault suite's ledger: each scenario's counts, printed as one table at the end of the
run (CI prints it with the test summary), so "lost = 0 for every scenario" is on record."""

from __future__ import annotations

from typing import Any

import pytest

LEDGER: list[dict[str, Any]] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not LEDGER:
        return
    columns = list(LEDGER[0])
    widths = [max(len(c), *(len(str(row[c])) for row in LEDGER)) for c in columns]
    terminalreporter.section("fault suite: counts per scenario")
    terminalreporter.write_line("  ".join(c.rjust(w) for c, w in zip(columns, widths,
                                                                      strict=True)))
    for row in LEDGER:
        terminalreporter.write_line("  ".join(str(row[c]).rjust(w) for c, w in zip(
            columns, widths, strict=True)))
