"""RabbitMQ users for subscribers on the `amqp` channel: one user per Subscription, allowed to
read its own queue and nothing else (no configure, no write, no other queue), made when the
Subscription is created and removed when it is deleted.

`S117_AMQP_ADMIN` says how: the management HTTP API (`http://admin:pass@rabbitmq:15672`, what
docker-compose's management image offers), or `rabbitmqctl` when the register runs on the
broker's host. The password is generated here, handed to the subscriber once, and kept by
nobody but RabbitMQ (which stores a salted hash)."""

from __future__ import annotations

import re
import secrets
import subprocess
from typing import Protocol
from urllib.parse import quote, urlsplit, urlunsplit

import pika
import requests

from register.errors import InvalidData


class BrokerUsers(Protocol):
    def create(self, username: str, password: str, vhost: str, queue: str) -> None: ...
    def delete(self, username: str) -> None: ...


def read_only(queue: str) -> dict[str, str]:
    """RabbitMQ permissions (regular expressions on resource names): read this queue only."""
    return {"configure": "^$", "write": "^$", "read": f"^{re.escape(queue)}$"}


class ManagementApi:
    """The RabbitMQ management plugin's HTTP API."""

    def __init__(self, url: str, timeout: float = 10) -> None:
        parts = urlsplit(url)
        self.auth = (parts.username or "", parts.password or "")
        self.base = urlunsplit((parts.scheme, parts.hostname + (f":{parts.port}" if parts.port
                                                                  else ""),
                                parts.path.rstrip("/"), "", ""))
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict[str, str] | None = None) -> None:
        answer = requests.request(method, f"{self.base}/api/{path}", json=body,
                                  auth=self.auth, timeout=self.timeout)
        if answer.status_code >= 400 and not (method == "DELETE" and answer.status_code == 404):
            raise RuntimeError(f"RabbitMQ management API {method} {path}: HTTP "
                               f"{answer.status_code} {answer.text[:200]}")

    def create(self, username: str, password: str, vhost: str, queue: str) -> None:
        user = quote(username, safe="")
        self._call("PUT", f"users/{user}", {"password": password, "tags": ""})
        self._call("PUT", f"permissions/{quote(vhost, safe='')}/{user}", read_only(queue))

    def delete(self, username: str) -> None:
        self._call("DELETE", f"users/{quote(username, safe='')}")


class RabbitmqCtl:
    """`rabbitmqctl` on the broker's host (the password goes on stdin, never argv)."""

    def _run(self, *args: str, stdin: str | None = None) -> None:
        subprocess.run(["rabbitmqctl", "-q", *args], input=stdin, text=True, check=True,
                       capture_output=True, timeout=60)

    def create(self, username: str, password: str, vhost: str, queue: str) -> None:
        self._run("add_user", username, stdin=password + "\n")
        rights = read_only(queue)
        self._run("set_permissions", "-p", vhost, username, rights["configure"],
                  rights["write"], rights["read"])

    def delete(self, username: str) -> None:
        try:
            self._run("delete_user", username)
        except subprocess.CalledProcessError as error:
            if "does not exist" not in (error.stderr or "") + (error.stdout or ""):
                raise


def broker_users(setting: str | None) -> BrokerUsers | None:
    if not setting:
        return None
    if setting == "rabbitmqctl":
        return RabbitmqCtl()
    if setting.startswith(("http://", "https://")):
        return ManagementApi(setting)
    raise InvalidData("S117_AMQP_ADMIN must be the management API URL "
                      "(http://user:pass@host:15672) or rabbitmqctl", field="S117_AMQP_ADMIN")


def new_password() -> str:
    return secrets.token_urlsafe(24)


def vhost_of(amqp_url: str) -> str:
    return pika.URLParameters(amqp_url).virtual_host


def public_endpoint(amqp_url: str) -> str:
    """The broker's address for a subscriber: the register's own URL without its
    credentials."""
    parts = urlsplit(amqp_url)
    host = parts.hostname or ""
    return urlunsplit((parts.scheme, host + (f":{parts.port}" if parts.port else ""),
                       parts.path or "/", "", ""))
