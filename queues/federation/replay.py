"""`s117 quarantine replay` for the federation's quarantined messages (channel `federation`):
a message from a register that was not a peer yet, or one this register refused, put through
again once the cause is fixed (the peer configured, the missing update applied).

The message goes back on this register's own `s117.federation.in` queue with the headers it
came with (kept in its routing key, which names no patient: `federation.<origin>.<kind>.<event
number>`) and the quarantine row's id, so the one federation consumer applies it in its turn,
once (by event number or command id, as always), and marks the row resolved; refused again, it
stays quarantined with the new reason."""

from __future__ import annotations

import re
from typing import Any

import pika
from sqlalchemy.orm import Session, sessionmaker

from queues.connection import connect
from queues.federation import topology as links
from queues.inbound import store
from register.store.inbound_tables import QUARANTINED, REPLAYING

CHANNEL = "federation"
REPLAY_OF = "s117-replay-of"
_SAFE = re.compile(r"[^A-Za-z0-9-]")


def routing_key(origin: str, kind: str, event_number: object) -> str:
    """What the quarantine keeps of a message's headers (the sender's own words, made safe
    to show: letters, digits and hyphens only)."""
    number = str(event_number) if isinstance(event_number, int) else "-"
    return ".".join((CHANNEL, _SAFE.sub("", origin)[:20] or "unknown",
                     _SAFE.sub("", kind)[:20] or "-", number))


def headers_of(key: str) -> dict[str, Any]:
    parts = key.split(".")
    origin, kind, number = (parts + ["", "", ""])[1:4]
    found: dict[str, Any] = {"origin": origin, "kind": kind}
    if number.isdigit():
        found["event-number"] = int(number)
    return found


def message_id_of(row: store.Stored) -> str:
    """The message id it came with (the quarantine key is `federation:<origin>:<id>`), so a
    message refused again updates the same row."""
    return row.message_key.split(":", 2)[2] if row.message_key.count(":") >= 2 else ""


def replay(sessions: sessionmaker[Session], amqp_url: str, region: str,
           ids: list[int]) -> list[int]:
    """Publish these quarantined federation messages to this register's federation queue;
    the ids published (those not quarantined federation messages are skipped)."""
    rows = [r for r in (store.find(sessions, i) for i in ids)
            if r is not None and r.channel == CHANNEL and r.state in (QUARANTINED, REPLAYING)]
    if not rows:
        return []
    connection = connect(amqp_url, "federation-replay", give_up_after=10)
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        links.declare(channel, region)
        for row in rows:
            store.set_state(sessions, row.id, REPLAYING)
            headers = {**headers_of(row.routing_key), REPLAY_OF: row.id}
            channel.basic_publish(links.EXCHANGE, region, row.raw, pika.BasicProperties(
                delivery_mode=2, message_id=message_id_of(row), headers=headers,
                type=headers["kind"], app_id="s117-register"))
    finally:
        if connection.is_open:
            connection.close()
    return [r.id for r in rows]
