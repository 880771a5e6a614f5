"""`s117 federation ...`: the routing table, the links and the process that runs them, wired
from Settings (docs/federation.md)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from adapter import logs
from adapter.bootstrap import Register
from adapter.config import Settings
from queues.federation.consumer import Consumer
from queues.federation.publisher import Publisher, Sender
from queues.outbound.credentials import vhost_of
from queues.outbound.processes import run_until_signalled
from register.errors import InvalidData
from register.federation.routing import RoutingTable
from register.refdata.regions import routing_table
from register.store import federation as store

log = logging.getLogger("s117.federation")


def routes(settings: Settings) -> RoutingTable:
    return routing_table(settings.federation_routes)


def home(settings: Settings, table: RoutingTable) -> str:
    """This register's region, checked against the table."""
    if not settings.region:
        raise InvalidData("S117_REGION is not set: name this register's NHS England region "
                          f"({', '.join(sorted(table.regions))})", field="S117_REGION")
    if not table.known(settings.region):
        raise InvalidData(f"S117_REGION {settings.region} is not an NHS England region "
                          f"({', '.join(sorted(table.regions))})", field="S117_REGION")
    return settings.region


def peers(settings: Settings, table: RoutingTable, region: str) -> frozenset[str]:
    """The registers this one exchanges with: `S117_FEDERATION_PEERS`, checked against the
    table, or every other region."""
    others = frozenset(table.regions) - {region}
    if settings.federation_peers is None:
        return others
    wrong = [p for p in settings.federation_peers if p not in others]
    if wrong:
        raise InvalidData(f"S117_FEDERATION_PEERS: {', '.join(wrong)} is not another NHS "
                          f"England region's register ({', '.join(sorted(others))})",
                          field="S117_FEDERATION_PEERS")
    return frozenset(settings.federation_peers)


def print_peers(console: Console, settings: Settings) -> None:
    table = routes(settings)
    region = settings.region
    out = Table(title="regional registers (federation routing table)")
    for column in ("region", "name", "councils", "ICBs", "this register"):
        out.add_column(column)
    for code, found in sorted(table.regions.items()):
        las, icbs = table.served(code)
        out.add_row(code, found.name, str(len(las)), ", ".join(icbs),
                    "yes" if code == region else "")
    console.print(out)
    if table.overridden:
        console.print(f"{len(table.overridden)} codes overridden by "
                      f"{settings.federation_routes}")


def run(register: Register) -> None:
    """Publish this register's events to its peers and apply what they send, until SIGTERM."""
    settings = register.settings
    if not settings.amqp_url:
        raise InvalidData("S117_AMQP_URL is not set: federation runs over RabbitMQ",
                          field="S117_AMQP_URL")
    logs.configure("federation")
    table = routes(settings)
    region = home(settings, table)
    linked = peers(settings, table, region)
    publisher = Publisher(register.sessions, Sender(settings.amqp_url, region,
                                                    "federation-publisher"),
                          table, region, settings.base_url, peers=linked)
    consumer = Consumer(register.sessions, register.service,
                        Sender(settings.amqp_url, region, "federation-answers"), linked,
                        region, settings.amqp_url)
    log.info("federation started: region %s, peers %s", region, ",".join(sorted(linked)))
    run_until_signalled([publisher.run, consumer.run])


def link(settings: Settings, peer: str, uri: str) -> str:
    """Declare this register's end and the federation upstream from `peer`."""
    from queues.connection import connect
    from queues.federation import topology as links

    table = routes(settings)
    region = home(settings, table)
    if not table.known(peer) or peer == region:
        raise InvalidData(f"{peer} is not another NHS England region's register",
                          field="peer")
    if not settings.amqp_url:
        raise InvalidData("S117_AMQP_URL is not set", field="S117_AMQP_URL")
    connection = connect(settings.amqp_url, "federation-link", give_up_after=10)
    try:
        links.declare(connection.channel(), region)
    finally:
        if connection.is_open:
            connection.close()
    vhost = vhost_of(settings.amqp_url)
    links.link(vhost, peer, uri)
    return vhost


def statuses(register: Register) -> list[store.LinkStatus]:
    """Each peer this register has exchanged anything with."""
    table = routes(register.settings)
    region = home(register.settings, table)
    peers = sorted(r for r in table.regions if r != region)
    with register.sessions() as session:
        return [s for s in store.link_status(session, peers)
                if s.sent or s.received_event or s.replicas or s.commands_waiting
                or s.handovers_waiting]


def print_status(console: Console, register: Register) -> None:
    region = register.settings.region
    found = statuses(register)
    out = Table(title=f"federation links of register {region}")
    for column in ("peer", "events sent", "applied by peer", "lag (events)", "lag (s)",
                   "last received", "received at (UTC)", "replicas held",
                   "commands waiting", "handovers waiting"):
        out.add_column(column)
    for s in found:
        out.add_row(s.region, str(s.sent), str(s.acked_event), str(s.lag_events),
                    f"{s.lag_seconds:.1f}", str(s.received_event),
                    _when(s.received_at), str(s.replicas), str(s.commands_waiting),
                    str(s.handovers_waiting))
    console.print(out)


def print_commands(console: Console, register: Register, limit: int) -> None:
    with register.sessions() as session:
        rows = store.recent_commands(session, limit)
    out = Table(title=f"casework forwarded to owning registers (latest {len(rows)})")
    for column in ("command", "kind", "owner", "state", "rule", "detail", "sent (UTC)",
                   "answered (UTC)"):
        out.add_column(column)
    for r in rows:
        out.add_row(r.command_id, r.kind, r.owner_region, r.state, r.rule or "", r.detail,
                    _when(r.sent_at), _when(r.answered_at))
    console.print(out)


def print_handovers(console: Console, register: Register, limit: int) -> None:
    with register.sessions() as session:
        rows = store.handovers(session, limit)
    out = Table(title=f"ownership moves (latest {len(rows)})")
    for column in ("#", "direction", "peer", "rule", "state", "event", "detail",
                   "at (UTC)", "answered (UTC)"):
        out.add_column(column)
    for r in rows:
        out.add_row(str(r.id), "handed to" if r.direction == "out" else "taken from", r.peer,
                    r.rule, r.state, str(r.event_number or "-"), r.detail,
                    _when(r.created_at), _when(r.answered_at))
    console.print(out)


def _when(moment: datetime | None) -> str:
    return moment.replace(tzinfo=UTC).isoformat(timespec="seconds") if moment else "-"
