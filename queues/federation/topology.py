"""The federation's RabbitMQ objects and links.

Each register has a durable topic exchange `s117.federation` and one quorum queue
`s117.federation.in` (single active consumer: one order), bound by its own region code. A link
from a peer is a **federation upstream** (the `rabbitmq_federation` plugin) to the peer's
broker or virtual host, with a policy that makes `s117.federation` a federated exchange: the
plugin keeps a queue on the peer's side holding whatever the peer published with this
register's region code, and moves it across when the link is up (a link that is down leaves
the backlog queued there, in order). `max-hops` 1: a message crosses one link and never
travels on, so two registers linked both ways make no loop.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

from queues import topology
from register.errors import InvalidData

EXCHANGE = "s117.federation"
QUEUE = "s117.federation.in"
POLICY = "s117-federation"


def upstream_name(region: str) -> str:
    return f"s117-{region}"


def declare(channel: Any, region: str) -> None:
    """This register's end (idempotent): the exchange, its queue, bound by its region."""
    channel.exchange_declare(EXCHANGE, "topic", durable=True)
    channel.exchange_declare(topology.DEAD, "fanout", durable=True)
    channel.queue_declare(QUEUE, durable=True,
                          arguments=topology.quorum_arguments(single_active=True))
    channel.queue_bind(QUEUE, EXCHANGE, region)


def upstream_value(uri: str) -> dict[str, Any]:
    # ack-mode on-confirm: the plugin acknowledges to the peer only after this broker
    # confirmed the message, so a link dropped mid-transfer loses nothing.
    return {"uri": uri, "ack-mode": "on-confirm", "max-hops": 1, "trust-user-id": False}


def policy_value() -> dict[str, Any]:
    return {"federation-upstream-set": "all"}


def definitions(region: str, peers: dict[str, str], vhost: str = topology.VHOST
                ) -> dict[str, Any]:
    """The same in RabbitMQ's definitions format (`parameters`, `policies`, exchange, queue,
    binding), to merge into `queues/definitions.json` for one register."""
    return {
        "exchanges": [{"name": EXCHANGE, "vhost": vhost, "type": "topic", "durable": True,
                       "auto_delete": False, "internal": False, "arguments": {}}],
        "queues": [{"name": QUEUE, "vhost": vhost, "durable": True, "auto_delete": False,
                    "arguments": topology.quorum_arguments(single_active=True)}],
        "bindings": [{"source": EXCHANGE, "vhost": vhost, "destination": QUEUE,
                      "destination_type": "queue", "routing_key": region, "arguments": {}}],
        "parameters": [{"vhost": vhost, "component": "federation-upstream",
                        "name": upstream_name(peer), "value": upstream_value(uri)}
                       for peer, uri in sorted(peers.items())],
        "policies": [{"vhost": vhost, "name": POLICY, "pattern": f"^{EXCHANGE}$",
                      "apply-to": "exchanges", "priority": 10,
                      "definition": policy_value()}] if peers else []}


def _rabbitmqctl(*args: str) -> None:
    done = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True,
                          timeout=60)
    if done.returncode != 0:
        raise InvalidData(f"rabbitmqctl {args[0]} failed: "
                          f"{(done.stderr or done.stdout).strip()[:500]}", field="link")


def link(vhost: str, peer: str, uri: str) -> None:
    """Make (or change) the link from `peer`'s broker to this register's virtual host, with
    `rabbitmqctl` on the broker's host. The URI holds the peer's credentials: it goes to the
    broker's parameter store, never to a log."""
    _rabbitmqctl("set_parameter", "-p", vhost, "federation-upstream", upstream_name(peer),
                 json.dumps(upstream_value(uri)))
    _rabbitmqctl("set_policy", "-p", vhost, "--apply-to", "exchanges", "--priority", "10",
                 POLICY, f"^{EXCHANGE.replace('.', chr(92) + '.')}$",
                 json.dumps(policy_value()))


def unlink(vhost: str, peer: str) -> None:
    """Take the link down (the peer's backlog stays queued on its side until it is back)."""
    _rabbitmqctl("clear_parameter", "-p", vhost, "federation-upstream", upstream_name(peer))
