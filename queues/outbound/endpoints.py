"""Where a rest-hook may point (issue 20, SSRF): the register posts patient data to URLs its
subscribers choose, from inside the region's network, so a URL must not turn it into a way
of reaching what only the register can reach (a database port, a cloud metadata service at
169.254.169.254, an admin console on 127.0.0.1).

- `https` only; plain `http` only to hosts the operator allow-lists
  (`S117_SUBSCRIPTION_ALLOWED_HOSTS`, for development and for a subscriber inside the
  network);
- the host must not resolve to a loopback, link-local, private, carrier-grade NAT,
  multicast, reserved or unspecified address, unless the host name or the address is
  allow-listed;
- checked when the Subscription is created or changed, and again at every connection, on
  the address actually connected to (`PinnedSession`), so a name that resolves to a public
  address at creation and to 127.0.0.1 later (DNS rebinding) is still refused.

A refusal, like any failed delivery, is reported to the subscriber as a category
(`failure_category`), never as the socket's own words ("connection refused" against
"HTTP 403" would tell an attacker which internal ports are open)."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class EndpointRefused(Exception):
    """The endpoint may not be posted to. Deliberately not an OSError, so it passes through
    urllib3 and requests unwrapped and is reported as itself."""


class Unresolved(EndpointRefused):
    """The endpoint's host name does not resolve (now)."""


@dataclass(frozen=True)
class AllowList:
    """`S117_SUBSCRIPTION_ALLOWED_HOSTS`: host names and IP addresses or networks, separated
    by commas or spaces (`127.0.0.1, hooks.dev.internal, 10.20.0.0/16`)."""

    names: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> AllowList:
        names, networks = set(), []
        for item in (text or "").replace(",", " ").split():
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                names.add(item.lower().rstrip("."))
        return cls(frozenset(names), tuple(networks))

    def has_name(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.names

    def has_address(self, address: Address) -> bool:
        return any(address in network for network in self.networks)


def _internal(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return (address.is_loopback or address.is_link_local or address.is_private
            or address.is_multicast or address.is_reserved or address.is_unspecified
            or address in ipaddress.ip_network("100.64.0.0/10"))  # carrier-grade NAT


def check_url(url: str, allowed: AllowList) -> tuple[str, int]:
    """The host and port of an endpoint whose scheme and form are acceptable."""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise EndpointRefused("the endpoint's port is not a number from 1 to 65535") from None
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        raise EndpointRefused("a rest-hook needs an https endpoint URL")
    if parts.username or parts.password:
        raise EndpointRefused("the endpoint URL must not carry a user name or password "
                              "(send credentials in a header)")
    if parts.scheme == "http" and not (allowed.has_name(host) or _literal_allowed(host,
                                                                                   allowed)):
        raise EndpointRefused("a rest-hook endpoint must use https (plain http only to hosts "
                              "the operator allow-lists in S117_SUBSCRIPTION_ALLOWED_HOSTS)")
    return host, port


def _literal_allowed(host: str, allowed: AllowList) -> bool:
    try:
        return allowed.has_address(ipaddress.ip_address(host))
    except ValueError:
        return False


def checked_addresses(host: str, port: int, allowed: AllowList) -> list[str]:
    """The host's addresses, resolved now, each one allowed; refused if any is internal
    and neither the name nor the address is allow-listed (an attacker's name may resolve
    to a public and an internal address at once)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Unresolved("the endpoint's host name does not resolve") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    if allowed.has_name(host):
        return addresses
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if _internal(address) and not allowed.has_address(address):
            raise EndpointRefused("the endpoint resolves to an internal address (loopback, "
                                  "link-local, private, multicast or reserved), which the "
                                  "register does not post to unless the operator "
                                  "allow-lists it in S117_SUBSCRIPTION_ALLOWED_HOSTS")
    return addresses


def check(url: str, allowed: AllowList) -> None:
    """Everything about an endpoint that can be known before posting to it. A name that
    does not resolve yet is accepted (the subscriber may be setting it up): every
    connection checks it again."""
    host, port = check_url(url, allowed)
    with contextlib.suppress(Unresolved):
        checked_addresses(host, port, allowed)


# -- at each connection: connect only to an address that was checked just now ----------------

class _Pinned:
    """Mixed into urllib3's connections: resolve and check the host when connecting, and
    connect to the checked address (TLS still verifies the certificate for the host name,
    which urllib3 takes from `host`, not from the address connected to)."""

    allowed: AllowList = AllowList()
    _dns_host: str
    port: int

    def _new_conn(self) -> socket.socket:
        address = checked_addresses(self._dns_host, self.port, self.allowed)[0]
        name = self._dns_host
        self._dns_host = address
        try:
            return super()._new_conn()  # type: ignore[misc]
        finally:
            self._dns_host = name


def _pools(allowed: AllowList) -> dict[str, type]:
    http = type("PinnedHTTPConnection", (_Pinned, HTTPConnection), {"allowed": allowed})
    https = type("PinnedHTTPSConnection", (_Pinned, HTTPSConnection), {"allowed": allowed})
    return {"http": type("PinnedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http}),
            "https": type("PinnedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https})}


def pinned_pools(allowed: AllowList, **kwargs: Any) -> urllib3.PoolManager:
    """A urllib3 PoolManager whose every connection checks its address. It ignores proxy
    environment variables (a proxy would connect on the register's behalf, unchecked)."""
    pools = urllib3.PoolManager(**kwargs)
    pools.pool_classes_by_scheme = _pools(allowed)
    return pools


# -- what a failed delivery is reported as ----------------------------------------------------

def failure_category(error: BaseException) -> str:
    """A failed connection as the subscriber's $status shows it: a category, never the
    socket's message."""
    if isinstance(error, Unresolved):
        return "unreachable: the endpoint's host name does not resolve"
    if isinstance(error, EndpointRefused):
        return f"endpoint-refused: {error}"
    if isinstance(error, urllib3.exceptions.NewConnectionError):
        # (a subclass of ConnectTimeoutError in urllib3 2, for compatibility)
        return "unreachable: no connection could be made to the endpoint"
    if isinstance(error, urllib3.exceptions.TimeoutError):
        return "timeout: the endpoint did not answer in time"
    if isinstance(error, urllib3.exceptions.SSLError):
        return "tls: the endpoint's TLS handshake or certificate was not accepted"
    return "unreachable: no connection could be made to the endpoint"
