"""The outbound commands (`s117 relay`, `s117 scheduler`, `s117 subscriptions ...`) and the
embedded register's in-process bus, wired from Settings. The typer functions in cli.py stay
thin; what they do is here."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from adapter import logs
from adapter.bootstrap import Register
from queues.outbound.dispatcher import Dispatcher, build
from queues.outbound.processes import run_until_signalled
from register.store.subscriptions import SubscriptionStore
from register.subscriptions import Subscription


def start_in_process_bus(register: Register) -> Dispatcher | None:
    """Embedded mode only: with a broker, `s117 relay` and `s117 scheduler` do this."""
    if register.settings.amqp_url:
        return None
    return Dispatcher(build(register.settings, register.sessions, register.refdata.name)).start()


# Connections of one `s117 relay` process: its delivery lanes each hold one briefly, and a
# fixed pool avoids PostgreSQL starting a backend for every overflow connection.
RELAY_POOL = 24
log = logging.getLogger("s117.relay")


def relay(register: Register, *, deliver: bool) -> None:
    logs.configure("relay")
    outbound = build(register.settings, register.sessions, register.refdata.name)
    log.info("relay started: outbox -> %s%s", "RabbitMQ s117.events" if
             register.settings.amqp_url else "Subscriptions only",
             ", delivering to Subscriptions" if deliver else "")
    run_until_signalled(outbound.loops(deliver=deliver, schedule=False))


def scheduler(register: Register, *, once: bool, interval: float) -> int:
    logs.configure("scheduler")
    outbound = build(register.settings, register.sessions, register.refdata.name)
    if once:
        return outbound.scheduler.run_once()
    run_until_signalled([lambda stop: outbound.scheduler.run(stop, interval)])
    return 0


def _when(moment: datetime | None) -> str:
    return moment.replace(tzinfo=UTC).isoformat(timespec="seconds") if moment else "-"


def _filters(subscription: Subscription) -> str:
    return " & ".join(f"{name}={','.join(sorted(values))}"
                      for name, values in subscription.criteria.filters) or "(none)"


def _target(subscription: Subscription) -> str:
    return subscription.endpoint or subscription.amqp_queue or "-"


def print_list(console: Console, register: Register) -> int:
    found = SubscriptionStore(register.sessions).all()
    # Fits 100 columns: long values fold rather than being cut.
    table = Table(title=f"{len(found)} subscriptions")
    table.add_column("id / status", overflow="fold", max_width=18)
    table.add_column("topic, filters", overflow="fold", ratio=2)
    table.add_column("channel: endpoint / queue", overflow="fold", ratio=2)
    table.add_column("events (delivered)", overflow="fold", max_width=11)
    table.add_column("last error", overflow="fold", ratio=1)
    for s in found:
        table.add_row(f"{s.id}\n{s.status}", f"{s.criteria.topic.value}\n{_filters(s)}",
                      f"{s.channel}: {_target(s)}",
                      f"{s.events_since_start} ({s.delivered_through})", s.last_error or "")
    console.print(table)
    return len(found)


def print_show(console: Console, register: Register, subscription_id: str,
               attempts: int) -> bool:
    store = SubscriptionStore(register.sessions)
    s = store.get(subscription_id)
    if s is None:
        return False
    facts = Table.grid(padding=(0, 2))
    for name, value in (
            ("id", s.id), ("status", s.status), ("topic", s.criteria.topic.value),
            ("filters", _filters(s)), ("channel", s.channel), ("endpoint / queue", _target(s)),
            ("payload", s.content), ("heartbeat", f"{s.heartbeat_seconds} s"
                                     if s.heartbeat_seconds else "-"),
            ("events since start", str(s.events_since_start)),
            ("delivered through", str(s.delivered_through)),
            ("waiting", str(s.events_since_start - s.delivered_through)),
            ("handshake", _when(s.handshake_at)), ("last sent", _when(s.last_sent_at)),
            ("failing since", _when(s.failing_since)), ("failures in a row", str(s.failures)),
            ("next attempt", _when(s.next_attempt_at)), ("last error", s.last_error or "-")):
        facts.add_row(f"[bold]{name}[/bold]", value)
    console.print(facts)
    total = store.attempt_count(s.id)
    table = Table(title=f"delivery attempts: latest {min(attempts, total)} of {total}")
    for column in ("when (UTC)", "kind", "events", "outcome", "HTTP", "ms", "error"):
        table.add_column(column)
    for a in store.attempts(s.id, attempts):
        events = f"{a.first_event}-{a.last_event}" if a.first_event is not None else "-"
        table.add_row(_when(a.attempted_at), a.kind, events, a.outcome,
                      str(a.http_status or "-"), str(a.duration_ms), a.error or "")
    console.print(table)
    return True
