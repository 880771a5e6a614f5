"""The work behind `s117 mllp`, `s117 worker`, `s117 quarantine ...` and `s117 mappings check`
(the typer functions in cli.py stay thin)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from adapter.bootstrap import Register, build
from adapter.config import Settings
from mappings.hl7v2 import adt, message, profiles
from mappings.hl7v2.errors import Hl7Problem
from queues.inbound.store import Stored
from register.errors import InvalidData


def check_profile(console: Console, path: Path, sample: Path | None) -> bool:
    """Validate a trust profile file (and map a sample message with it); False if wrong."""
    try:
        profile = profiles.load_file(path)
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
    others = {s: p.name for s, p in profiles.Profiles().all().items()
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
    table.add_column("received (UTC)", overflow="fold", max_width=10)
    table.add_column("sender, channel", overflow="fold", max_width=12)
    table.add_column("kind", overflow="fold", max_width=12)
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


def register_for(settings: Settings) -> Register:
    return build(settings)
