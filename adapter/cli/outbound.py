"""The outbound commands: `s117 relay`, `s117 scheduler` and `s117 subscriptions ...`."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from adapter.cli.console import console, fail, settings

if TYPE_CHECKING:
    from adapter.bootstrap import Register
    from register.subscriptions import Subscription

subscriptions_app = typer.Typer(help="FHIR Subscriptions: who hears what, and how delivery "
                                "to them is going.", no_args_is_help=True)
log = logging.getLogger("s117.relay")


def relay(
    deliver: Annotated[bool, typer.Option(help="also deliver to Subscriptions (rest-hook, "
                                                "amqp) from this process")] = True,
) -> None:
    """The outbox relay: publish every committed event to RabbitMQ (s117.events) with
    publisher confirms, in commit order, record it for the Subscriptions it matches, and
    deliver to them. Safe to run on several machines. Runs until SIGTERM."""
    from adapter import logs
    from adapter.bootstrap import RELAY_POOL, build, outbound
    from queues.outbound.processes import run_until_signalled

    register = build(settings(), pool_size=RELAY_POOL, max_overflow=0)
    logs.configure("relay")
    log.info("relay started: outbox -> %s%s", "RabbitMQ s117.events" if
             register.settings.amqp_url else "Subscriptions only",
             ", delivering to Subscriptions" if deliver else "")
    run_until_signalled(outbound(register).loops(deliver=deliver, schedule=False))


def scheduler(
    once: Annotated[bool, typer.Option(help="raise what is due now and exit")] = False,
    interval: Annotated[float, typer.Option(help="seconds between runs")] = 60.0,
) -> None:
    """Raise review-due and review-overdue events (rules R1-R3), once per entitlement and
    due date, however many schedulers run. Runs until SIGTERM unless --once."""
    from adapter import logs
    from adapter.bootstrap import build, outbound
    from queues.outbound.processes import run_until_signalled

    register = build(settings())
    logs.configure("scheduler")
    review_scheduler = outbound(register).scheduler
    if once:
        console.print(f"raised {review_scheduler.run_once()} review events")
        return
    run_until_signalled([lambda stop: review_scheduler.run(stop, interval)])


@subscriptions_app.command("list")
def subscriptions_list() -> None:
    """Every Subscription: status, topic, filters, where it goes, events and delivery."""
    from adapter.bootstrap import build

    print_list(console, build(settings()))


@subscriptions_app.command("show")
def subscriptions_show(
    subscription_id: Annotated[str, typer.Argument(help="the Subscription id")],
    attempts: Annotated[int, typer.Option(help="how many of the latest delivery attempts "
                                               "to list")] = 20,
) -> None:
    """One Subscription: its delivery state and its latest delivery attempts."""
    from adapter.bootstrap import build

    if not print_show(console, build(settings()), subscription_id, attempts):
        fail(f"no Subscription {subscription_id}", code=1)


def _when(moment: datetime | None) -> str:
    return moment.replace(tzinfo=UTC).isoformat(timespec="seconds") if moment else "-"


def _filters(subscription: Subscription) -> str:
    return " & ".join(f"{name}={','.join(sorted(values))}"
                      for name, values in subscription.criteria.filters) or "(none)"


def _target(subscription: Subscription) -> str:
    return subscription.endpoint or subscription.amqp_queue or "-"


def print_list(console: Console, register: Register) -> int:
    from register.store.subscriptions import SubscriptionStore

    found = SubscriptionStore(register.sessions).all()
    table = Table(title=f"{len(found)} subscriptions")
    for column in ("id", "status", "topic", "filters", "channel", "endpoint / queue",
                   "events", "delivered", "last error"):
        table.add_column(column)
    for s in found:
        table.add_row(s.id, s.status, s.criteria.topic.value, _filters(s), s.channel,
                      _target(s), str(s.events_since_start), str(s.delivered_through),
                      s.last_error or "")
    console.print(table)
    return len(found)


def print_show(console: Console, register: Register, subscription_id: str,
               attempts: int) -> bool:
    from register.store.subscriptions import SubscriptionStore

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
