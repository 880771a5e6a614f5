"""`s117 report NAME`: a monitoring report offline."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from adapter.cli.console import errors, fail, settings


def report(
    name: Annotated[str, typer.Argument(help="review-compliance | overdue-reviews | "
                                        "entitlement-flows | entitled-by-body | out-of-area "
                                        "| spend")],
    fmt: Annotated[str, typer.Option("--format", help="png | svg | csv")] = "csv",
    out: Annotated[Path | None, typer.Option("--out", help="file to write (csv: default "
                                             "standard output)")] = None,
    la: Annotated[str | None, typer.Option("--la", help="as this council sees it (GSS)")]
    = None,
    icb: Annotated[str | None, typer.Option("--icb", help="as this ICB sees it (ODS)")] = None,
    on: Annotated[str | None, typer.Option("--date", help="as of YYYY-MM-DD (default today)")]
    = None,
    period: Annotated[str, typer.Option(help="month | quarter (review-compliance)")]
    = "month",
) -> None:
    """A monitoring report offline, as the pages show it (/reports/NAME): the chart (PNG or
    SVG) or its figures (CSV)."""
    from adapter.bootstrap import build
    from adapter.reports import render
    from adapter.reports import report as build_report
    from register.access import EVERYONE, OrgType, Viewer
    from register.reports.catalogue import PERIODS, REPORTS

    problems = [] if name in REPORTS else [f"NAME must be one of {', '.join(REPORTS)}"]
    problems += ["--format must be png, svg or csv"] if fmt not in ("png", "svg", "csv") else []
    problems += ["--period must be month or quarter"] if period not in PERIODS else []
    problems += ["give --la or --icb, not both"] if la and icb else []
    problems += [f"--format {fmt} needs --out FILE"] if fmt == "png" and out is None else []
    try:
        as_of = date.fromisoformat(on) if on else date.today()
    except ValueError:
        problems.append(f"--date {on!r} is not YYYY-MM-DD")
    if problems:
        fail("; ".join(problems))
    viewer = Viewer(la, OrgType.LA) if la else Viewer(icb, OrgType.ICB) if icb else EVERYONE
    built = build_report(build(settings()), name, viewer, as_of, period)
    if fmt == "png":
        assert out is not None
        out.write_bytes(render.png(built))
    else:
        text = render.svg(built) if fmt == "svg" else render.csv_text(built)
        if out is None:
            sys.stdout.write(text)
        else:
            out.write_text(text, encoding="utf-8")
    if out is not None:
        errors.print(f"wrote {built.title} ({len(built.rows)} rows) to {out}")
