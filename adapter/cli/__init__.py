"""The `s117` command: every process and tool of the register is a sub-command. Each
command group is a module of this package; `console` holds what they share (the consoles,
the progress bar, refusing bad input)."""

from __future__ import annotations

import os
import sys

import typer

from adapter.cli import (
    audit,
    database,
    demo,
    federation,
    inbound,
    outbound,
    records,
    reports,
    responsibility,
    tokens,
    web,
)

app = typer.Typer(help="Shared regional register of Section 117 aftercare.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
for group, name in ((database.db_app, "db"), (database.refdata_app, "refdata"),
                    (inbound.queues_app, "queues"), (inbound.quarantine_app, "quarantine"),
                    (inbound.mappings_app, "mappings"), (records.import_app, "import"),
                    (records.export_app, "export"), (records.panel_app, "panel"),
                    (records.reviews_app, "reviews"),
                    (outbound.subscriptions_app, "subscriptions"),
                    (tokens.token_app, "token"), (web.pages_app, "pages"),
                    (audit.audit_app, "audit"),
                    (federation.federation_app, "federation")):
    app.add_typer(group, name=name)
for command in (responsibility.responsibility, demo.demo, inbound.mllp, inbound.worker,
                web.serve, outbound.relay, outbound.scheduler, reports.report,
                records.flags):
    app.command()(command)


@app.command(add_help_option=False,
             context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def bench(ctx: typer.Context) -> None:
    """Measure the whole register in one run and print one table (networked and embedded;
    also written as JSON); `s117 bench --help` lists its options. Needs PostgreSQL, RabbitMQ
    and the bench extra (pip install -e '.[bench]')."""
    # The benchmark drives the register from outside (it imports it): it runs as its own
    # program, so nothing in the register imports it.
    os.execv(sys.executable, [sys.executable, "-m", "bench", *ctx.args])


def main() -> None:
    app()
