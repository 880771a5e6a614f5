"""`s117 federation ...`: regional registers kept in step (docs/federation.md); the work is in
adapter/federation.py."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from adapter.cli.console import console, fail, settings
from register.errors import RegisterError

federation_app = typer.Typer(help="Regional registers kept in step over RabbitMQ federation: "
                             "who serves whom, links, the link process, status.",
                             no_args_is_help=True)


@federation_app.command("peers")
def peers() -> None:
    """The routing table: which register (NHS England region) serves which councils and
    ICBs, and which one is this register (S117_REGION)."""
    from adapter import federation

    try:
        federation.print_peers(console, settings())
    except RegisterError as exc:
        fail(exc)


@federation_app.command("link")
def link(
    peer: Annotated[str, typer.Argument(help="the peer register's region code, e.g. Y56")],
    uri: Annotated[str, typer.Argument(help="AMQP URI of the peer's broker and virtual host")],
    definitions: Annotated[Path | None, typer.Option(
        help="also add the link to this RabbitMQ definitions file (password masked)")] = None,
) -> None:
    """Link this register to a peer: declare s117.federation and its queue here, and a
    federation upstream to the peer's broker with the policy that federates the exchange
    (rabbitmqctl on the broker's host). Run it on both registers for a two-way link."""
    from adapter import federation

    try:
        vhost = federation.link(settings(), peer, uri)
    except RegisterError as exc:
        fail(exc)
    if definitions is not None:
        from queues.federation.topology import write_links

        write_links(definitions, {peer: uri}, vhost)
    console.print(f"linked: {peer} -> virtual host {vhost} (federation upstream s117-{peer})")


@federation_app.command("run")
def run() -> None:
    """The link process: publish this register's events to the registers that serve the
    bodies they name, apply what peers send (replicas, forwarded casework, results).
    Runs until SIGTERM."""
    from adapter import federation
    from adapter.bootstrap import build

    try:
        federation.run(build(settings(), pool_size=4, max_overflow=0))
    except RegisterError as exc:
        fail(exc)


@federation_app.command("status")
def status(
    as_json: Annotated[bool, typer.Option("--json", help="as JSON")] = False,
) -> None:
    """Each link's lag (events sent and not yet applied by the peer, and the age of the
    oldest of them), what was last received, replicas held, forwarded commands waiting."""
    from adapter import federation
    from adapter.bootstrap import build

    try:
        config = settings()
        federation.home(config, federation.routes(config))  # before touching a database
        register = build(config, pool_size=1, max_overflow=0)
        if as_json:
            print(json.dumps([asdict(s) for s in federation.statuses(register)],
                             default=str))
        else:
            federation.print_status(console, register)
    except RegisterError as exc:
        fail(exc)


@federation_app.command("commands")
def commands(
    limit: Annotated[int, typer.Option(help="how many, latest first")] = 50,
) -> None:
    """Casework written here on replicas and forwarded to the owning register, with the
    owner's answer (applied, or refused with the rule)."""
    from adapter import federation
    from adapter.bootstrap import build

    federation.print_commands(console, build(settings(), pool_size=1, max_overflow=0),
                              limit)


@federation_app.command("handovers")
def handovers(
    limit: Annotated[int, typer.Option(help="how many, latest first")] = 50,
) -> None:
    """Records whose owning register moved (L3, N6): handed to another register (offered,
    accepted or refused) or taken over from one."""
    from adapter import federation
    from adapter.bootstrap import build

    federation.print_handovers(console, build(settings(), pool_size=1, max_overflow=0),
                               limit)
