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
import urllib.parse
from pathlib import Path
from typing import Any

from queues import topology
from register.errors import InvalidData

EXCHANGE = topology.FEDERATION
QUEUE = topology.FEDERATION_IN
POLICY = "s117-federation"
PATTERN = "^" + EXCHANGE.replace(".", "\\.") + "$"  # this exchange only


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


def link_definitions(peers: dict[str, str], vhost: str = topology.VHOST) -> dict[str, Any]:
    """The links in RabbitMQ's definitions format (`parameters`, `policies`), to add to this
    register's definitions file; the peers' URIs without their passwords (a definitions
    file is kept in version control; the broker keeps the real ones)."""
    return {
        "parameters": [{"vhost": vhost, "component": "federation-upstream",
                        "name": upstream_name(peer), "value": upstream_value(masked(uri))}
                       for peer, uri in sorted(peers.items())],
        "policies": [{"vhost": vhost, "name": POLICY, "pattern": PATTERN,
                      "apply-to": "exchanges", "priority": 10,
                      "definition": policy_value()}] if peers else []}


def masked(uri: str) -> str:
    parts = urllib.parse.urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":********@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def write_links(path: Path, peers: dict[str, str], vhost: str) -> None:
    """Add these links to a definitions file (replacing the same upstreams and the policy)."""
    found: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) \
        if path.is_file() else {}
    ours = link_definitions(peers, vhost)
    names = {p["name"] for p in ours["parameters"]}
    found["parameters"] = [p for p in found.get("parameters", [])
                           if p.get("name") not in names] + ours["parameters"]
    found["policies"] = [p for p in found.get("policies", [])
                         if p.get("name") != POLICY] + ours["policies"]
    path.write_text(json.dumps(found, indent=2) + "\n", encoding="utf-8")


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
                 POLICY, PATTERN,
                 json.dumps(policy_value()))


def unlink(vhost: str, peer: str) -> None:
    """Take the link down (the peer's backlog stays queued on its side until it is back)."""
    _rabbitmqctl("clear_parameter", "-p", vhost, "federation-upstream", upstream_name(peer))
