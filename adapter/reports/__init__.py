"""The monitoring reports of register/reports for one reader: the people it may see,
gathered from the store (`source`), and drawn as SVG or PNG charts, CSV and HTML tables
(`render`). The pages (/reports/NAME) and `s117 report NAME` both come here."""

from __future__ import annotations

from datetime import date

from adapter.bootstrap import Register
from adapter.reports.source import cases
from register.access import Viewer
from register.reports import Inputs, Report
from register.reports.catalogue import REPORTS, build


def report(register: Register, name: str, viewer: Viewer, on: date,
           period: str = "month") -> Report:
    """KeyError for an unknown name."""
    if name not in REPORTS:  # before gathering anyone
        raise KeyError(name)
    inputs = Inputs(cases(register, viewer), on, register.settings.policy,
                    register.refdata.name, period)
    return build(name, inputs)
