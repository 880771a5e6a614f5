"""`s117 serve` and `s117 pages assets`."""

from __future__ import annotations

from typing import Annotated

import typer

from adapter.cli.console import errors, fail, settings

pages_app = typer.Typer(help="The staff web pages.", no_args_is_help=True)


def serve(
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8080,
    workers: Annotated[int, typer.Option(help="gunicorn worker processes")] = 1,
    mllp_port: Annotated[int | None, typer.Option(
        help="also run the MLLP listener on this port (0: off). Default: 2575 in embedded "
             "mode, off in networked mode (run `s117 mllp` there)")] = None,
) -> None:
    """Run the HTTP server (gunicorn): the FHIR API, POST /hl7v2, /healthz; in embedded mode
    also the MLLP listener. On an empty SQLite file the schema is created."""
    from adapter.http.server import run

    config = settings()
    if mllp_port is None:
        mllp_port = 0 if config.amqp_url else 2575
    run(config, host=host, port=port, workers=workers, mllp_port=mllp_port)


@pages_app.command("assets")
def pages_assets(
    version: Annotated[str | None, typer.Option(help="nhsuk-frontend version")] = None,
) -> None:
    """Vendor the NHS.UK frontend's CSS, JavaScript and images into the package with npm
    (they are committed; run this to change version, docs/pages.md)."""
    from adapter.http.pages.assets import VERSION, vendor

    try:
        written = vendor(version or VERSION)
    except RuntimeError as exc:
        fail(exc)
    errors.print(f"wrote {len(written)} files of nhsuk-frontend {version or VERSION}")
