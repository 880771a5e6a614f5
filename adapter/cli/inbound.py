"""The inbound commands: `s117 mllp`, `s117 worker`, `s117 quarantine ...`, `s117 mappings
check` and `s117 queues declare`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from adapter.cli.console import console, fail, progress_bar, settings

if TYPE_CHECKING:
    from adapter.bootstrap import Register
    from adapter.config import Settings
    from queues.inbound.store import Stored

queues_app = typer.Typer(help="RabbitMQ topology (networked mode).", no_args_is_help=True)
quarantine_app = typer.Typer(help="Inbound messages that could not be applied: list, show, "
                             "replay; apply or reject what is held for review.",
                             no_args_is_help=True)
mappings_app = typer.Typer(help="Per-trust HL7 v2 mapping profiles.", no_args_is_help=True)


def mllp(
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 2575,
) -> None:
    """The HL7 v2 MLLP listener: ACK AA once a message is durable (RabbitMQ confirm, or
    committed in embedded mode), AE/AR with an ERR segment otherwise."""
    from adapter.mllp.server import run

    run(settings(), host=host, port=port)


def worker(
    index: Annotated[int, typer.Option(help="this worker's number, 0 to --of minus 1")] = 0,
    of: Annotated[int, typer.Option("--of", help="how many workers share the partitions")]
    = 1,
    prefetch: Annotated[int, typer.Option(help="unacknowledged messages per partition")]
    = 50,
    batch: Annotated[int, typer.Option(help="waiting messages applied per transaction")]
    = 100,
) -> None:
    """Consume the inbound partition queues and apply each message once, in order per
    person (networked mode)."""
    from adapter import logs
    from adapter.bootstrap import worker as build_worker

    config = settings()
    if not config.amqp_url:
        fail("S117_AMQP_URL is not set: in embedded mode `s117 serve` and `s117 mllp` apply "
             "messages themselves")
    if not 0 <= index < of or prefetch < 2 or batch < 1:
        fail("--index must be 0 to --of minus 1, --prefetch at least 2, --batch at least 1")
    logs.configure("worker")
    build_worker(config, index=index, count=of, prefetch=prefetch, batch=batch).run()


@queues_app.command("declare")
def queues_declare(
    definitions: Annotated[Path, typer.Option(help="where to write the RabbitMQ definitions")]
    = Path("queues/definitions.json"),
) -> None:
    """Declare the exchanges, queues and bindings on S117_AMQP_URL (idempotent) and write
    them as a RabbitMQ definitions file."""
    from queues import topology
    from queues.connection import connect

    config = settings()
    if not config.amqp_url:
        fail("S117_AMQP_URL is not set: the embedded register has no broker to declare on")
    connection = connect(config.amqp_url, "queues declare", give_up_after=30)
    try:
        declared = topology.declare(connection.channel(), region=config.region)
    finally:
        connection.close()
    topology.write(definitions, region=config.region)
    console.print(f"declared {len(declared['exchanges'])} exchanges, "
                  f"{len(declared['queues'])} queues and {len(declared['bindings'])} "
                  f"bindings; wrote {definitions}")


@quarantine_app.command("list")
def quarantine_list(
    state: Annotated[str, typer.Option(
        help="quarantined | held | replaying | resolved | rejected | all")] = "quarantined",
    limit: Annotated[int, typer.Option(help="at most this many rows")] = 100,
) -> None:
    """Inbound messages by state (default: quarantined), oldest first."""
    from adapter.bootstrap import build
    from queues.inbound import holds, store

    if state not in ("quarantined", "held", "replaying", "resolved", "rejected", "all"):
        fail(f"--state {state!r}: quarantined, held, replaying, resolved, rejected or all")
    config = settings()
    register = build(config)
    if not config.amqp_url:  # networked: the workers sweep (and dead-letter) expired holds
        holds.sweep(register.service, register.sessions, config.hold_seconds)
    rows = store.listing(register.sessions, None if state == "all" else state, limit)
    console.print(quarantine_table(rows))
    console.print(f"{len(rows)} message(s)")


@quarantine_app.command("show")
def quarantine_show(message_id: Annotated[int, typer.Argument(help="the id in the list")]
                    ) -> None:
    """One inbound message: sender, reason, times, and the raw message."""
    from adapter.bootstrap import build
    from queues.inbound import store

    row = store.find(build(settings()).sessions, message_id)
    if row is None:
        fail(f"no inbound message {message_id}", code=1)
    show_row(console, row)


def _review(ids: list[int], apply: bool) -> None:
    from adapter.bootstrap import build
    from adapter.bootstrap import inbound as build_inbound
    from queues.inbound import quarantine
    from queues.inbound.amqp import Unavailable

    config = settings()
    register = build(config)
    inbound = build_inbound(config, "quarantine review", register)
    failed = False
    try:
        for row_id in ids:
            if not apply:
                done = quarantine.reject(register.sessions, row_id)
                console.print(f"{row_id}: rejected" if done else
                              f"{row_id}: [red]not a message waiting for review[/red]")
                failed |= not done
                continue
            found = quarantine.approve(inbound, register.sessions, row_id)
            if found is None:
                console.print(f"{row_id}: [red]not a message waiting for review[/red]")
                failed = True
            elif found.result is None:
                console.print(f"{row_id}: approved and published; s117 worker applies it")
            elif found.result.status == "quarantined":
                console.print(f"{row_id}: [red]still refused[/red]: {found.result.reason}")
                failed = True
            else:
                console.print(f"{row_id}: applied ({found.result.status})")
    except Unavailable as exc:
        fail(exc, code=1)
    finally:
        inbound.bus.close()
    if failed:
        raise typer.Exit(1)


@quarantine_app.command("apply")
def quarantine_apply(ids: Annotated[list[int], typer.Argument(help="ids to apply")]) -> None:
    """Apply messages held for review (`needs-review`: a trust's update or merge beyond its
    own patients, docs/security.md) as an administrator who has checked them."""
    _review(ids, apply=True)


@quarantine_app.command("reject")
def quarantine_reject(ids: Annotated[list[int], typer.Argument(help="ids to reject")]) -> None:
    """Refuse messages held for review: they are kept (state rejected), never applied."""
    _review(ids, apply=False)


@quarantine_app.command("replay")
def quarantine_replay(
    ids: Annotated[list[int] | None, typer.Argument(help="ids to replay")] = None,
    every: Annotated[bool, typer.Option("--all", help="replay every quarantined message")]
    = False,
) -> None:
    """Put quarantined messages through again (after a mapping fix, or once the missing
    message has been sent). Each is applied once."""
    from adapter.bootstrap import build, inbound
    from queues.inbound import quarantine
    from queues.inbound.amqp import Unavailable

    if bool(ids) == every:
        fail("give message ids or --all (not both)")
    config = settings()
    register = build(config)
    chosen = quarantine.all_ids(register.sessions) if every else list(ids or [])
    federated = _replay_federation(config, register, chosen)
    chosen = [i for i in chosen if i not in federated]
    replaying = inbound(config, "quarantine replay", register)
    try:
        with progress_bar() as bar:
            task = bar.add_task("replaying", total=len(chosen))
            done = []
            for row_id in chosen:
                done += quarantine.replay(replaying, register.sessions, [row_id])
                bar.advance(task)
    except Unavailable as exc:
        fail(exc, code=1)
    finally:
        replaying.bus.close()
    skipped = sorted(set(chosen) - {r.id for r in done})
    for r in done:
        if r.result is None:
            console.print(f"{r.id}: published; s117 worker applies it")
        elif r.result.status == "quarantined":
            console.print(f"{r.id}: [red]still quarantined[/red]: {r.result.reason}")
        else:
            console.print(f"{r.id}: [green]{r.result.status}[/green]")
    if skipped:
        console.print(f"not quarantined (nothing to replay): {', '.join(map(str, skipped))}")
    if any(r.result is not None and r.result.status == "quarantined" for r in done):
        raise typer.Exit(1)


def _replay_federation(config: Settings, register: Register, ids: list[int]) -> set[int]:
    """The federation's quarantined messages among `ids` go back to `s117 federation run`
    (queues/federation/replay.py); the ids published."""
    from queues.federation import replay
    from queues.inbound import store

    mine = [i for i in ids if (row := store.find(register.sessions, i)) is not None
            and row.channel == replay.CHANNEL]
    if not mine:
        return set()
    if not config.amqp_url or not config.region:
        fail("federation messages are replayed over RabbitMQ: set S117_AMQP_URL and "
             "S117_REGION", code=1)
    published = replay.replay(register.sessions, config.amqp_url, config.region, mine)
    for row_id in published:
        console.print(f"{row_id}: published; s117 federation run applies it")
    if skipped := sorted(set(mine) - set(published)):
        console.print(f"not quarantined (nothing to replay): {', '.join(map(str, skipped))}")
    return set(mine)


@mappings_app.command("check")
def mappings_check(
    file: Annotated[Path, typer.Argument(help="a trust profile (YAML)")],
    sample: Annotated[Path | None, typer.Option(help="an HL7 v2 message to map with it")]
    = None,
) -> None:
    """Validate a per-trust mapping profile against the schema (docs/inbound.md, "Trust
    profiles"), and optionally map a sample message with it."""
    for path in (file, sample):
        if path is not None and not path.is_file():
            fail(f"{path} is not a file")
    if not check_profile(console, file, sample):
        raise typer.Exit(1)


def check_profile(console: Console, path: Path, sample: Path | None) -> bool:
    """Validate a trust profile file (and map a sample message with it); False if wrong."""
    from mappings.hl7v2 import adt, message
    from mappings.hl7v2.errors import Hl7Problem
    from queues.inbound import trust_profiles
    from register.errors import InvalidData

    try:
        profile = trust_profiles.load_file(path)
    except InvalidData as exc:
        for line in exc.message.split("; "):
            console.print(f"[red]error:[/red] {line}")
        return False
    table = Table(title=f"{path.name}: {profile.name}", show_header=False)
    table.add_row("senders (MSH-4)", ", ".join(profile.senders))
    table.add_row("NHS number", f"PID-3 with assigning authority "
                  f"{' or '.join(profile.assigning_authorities)}, type "
                  f"{' / '.join(profile.identifier_types) or 'any'} or none")
    table.add_row("stay (visit number)", str(profile.stay_id))
    sources = [f"{s.name} (code {s.code}, start {s.start}, end {s.end}, event {s.event})"
               for s in profile.segments]
    sources += ["ZU5 (ITK)"] if profile.zu5 else []
    sources += [f"OBX-3 {o.observation} (start {o.start})" for o in profile.obx]
    table.add_row("legal status from", "; ".join(sources) or "nowhere")
    if profile.codes:
        table.add_row("local codes", ", ".join(f"{k} -> {v}" for k, v in profile.codes.items()))
    if profile.events:
        table.add_row("local events",
                      ", ".join(f"{k} -> {v}" for k, v in profile.events.items()))
    table.add_row("processing ids (MSH-11)", ", ".join(profile.processing_ids))
    console.print(table)
    others = {s: p.name for s, p in trust_profiles.Profiles().all().items()
              if s in profile.senders and p != profile}
    for sender, name in others.items():
        console.print(f"[yellow]warning:[/yellow] sender {sender} is also mapped by the "
                      f"shipped profile {name!r}")
    if sample is None:
        return True
    try:
        decoded = adt.decode(message.read(sample.read_bytes()), profile)
    except Hl7Problem as problem:
        console.print(f"[red]{sample.name}: {problem.ack}[/red] {problem}")
        return False
    console.print(f"{sample.name}: {decoded.event} from {decoded.sender} -> "
                  f"{len(decoded.commands)} command(s)")
    for cmd in decoded.commands:
        console.print(f"  {type(cmd).__name__}  {cmd.command_id}")
    return True


def quarantine_table(rows: list[Stored]) -> Table:
    # Fits 100 columns: the reason folds; the short columns never wrap.
    table = Table(title="inbound messages")
    for column in ("id", "state"):
        table.add_column(column, no_wrap=True)
    table.add_column("received (UTC)", overflow="fold", min_width=10)
    table.add_column("sender, channel", overflow="fold")
    table.add_column("kind", overflow="fold")
    table.add_column("tries", no_wrap=True)
    table.add_column("reason", overflow="fold", ratio=1)
    for r in rows:
        table.add_row(str(r.id), r.state, r.received_at.strftime("%Y-%m-%d %H:%M:%S"),
                      f"{r.sender} {r.channel}", r.kind, str(r.attempts), r.reason[:200])
    return table


def show_row(console: Console, row: Stored) -> None:
    table = Table(show_header=False, title=f"inbound message {row.id}")
    for name, value in (("state", row.state), ("message", row.message_key),
                        ("sender", row.sender), ("routing key", row.routing_key),
                        ("received (UTC)", row.received_at.isoformat(sep=" ")),
                        ("updated (UTC)", row.updated_at.isoformat(sep=" ")),
                        ("kind", row.kind), ("reason", row.reason),
                        ("size", f"{row.size:,} bytes" + (f" (first {len(row.raw):,} kept)"
                                                          if row.size > len(row.raw) else "")),
                        ("attempts", str(row.attempts)),
                        ("held commands", ", ".join(row.command_ids) or "-")):
        table.add_row(name, value)
    console.print(table)
    text = row.raw.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    console.print(text, markup=False, highlight=False, soft_wrap=True)
