"""Creating, changing and deleting Subscriptions, with what lives outside the database: an
`amqp` subscriber's queue and its RabbitMQ user. The FHIR API and the CLI both come here."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from uuid import uuid4

from mappings.fhir.subscription import SubscriptionSpec
from queues import topology
from queues.connection import connect
from queues.outbound.credentials import BrokerUsers, new_password, vhost_of
from queues.outbound.endpoints import AllowList, EndpointRefused, check
from register.access import Viewer
from register.errors import InvalidData, NotFound
from register.store.dialect import utcnow
from register.store.subscriptions import SubscriptionStore
from register.subscriptions import (
    RESIDENCE_LA,
    RESPONSIBLE_ICB,
    RESPONSIBLE_LA,
    Criteria,
    Subscription,
    Topic,
)

log = logging.getLogger("s117.subscriptions")
_KINDS = {RESPONSIBLE_ICB: "icb", RESPONSIBLE_LA: "la", RESIDENCE_LA: "la"}


@dataclass(frozen=True)
class Created:
    subscription: Subscription
    password: str | None  # an amqp subscriber's, shown once


class SubscriptionManager:
    def __init__(self, store: SubscriptionStore, *, amqp_url: str | None,
                 users: BrokerUsers | None, kind_of: Callable[[str], str | None],
                 allowed: AllowList | None = None) -> None:
        """`allowed`: the hosts a rest-hook may reach over http or at an internal address
        (S117_SUBSCRIPTION_ALLOWED_HOSTS); none by default."""
        self.store = store
        self.allowed = allowed or AllowList()
        self.amqp_url = amqp_url
        self.users = users
        self.kind_of = kind_of  # organisation code -> "la" | "icb" | ... | None (unknown)

    def _check_codes(self, spec: SubscriptionSpec) -> None:
        """Filters must name bodies the register knows: a typo would otherwise be a
        subscription that silently never hears anything."""
        for name, values in spec.criteria.filters:
            wanted = _KINDS.get(name)
            for code in sorted(values) if wanted else ():
                if self.kind_of(code) != wanted:
                    what = "an ICB" if wanted == "icb" else "a local authority"
                    raise InvalidData(f"{code} is not {what} known to the register",
                                      field=f"{name}={code}")

    def _check_endpoint(self, spec: SubscriptionSpec) -> None:
        """A rest-hook's endpoint is checked now (scheme, and where its name resolves), and
        again at every connection the delivery worker makes."""
        if spec.channel != "rest-hook":
            return
        try:
            check(spec.endpoint or "", self.allowed)
        except EndpointRefused as exc:
            raise InvalidData(str(exc), field="Subscription.channel.endpoint") from None

    def _amqp_ready(self) -> tuple[str, BrokerUsers]:
        if not self.amqp_url:
            raise InvalidData("the amqp channel needs the networked register (S117_AMQP_URL); "
                              "use rest-hook", field="Subscription.channel.type")
        if self.users is None:
            raise InvalidData("the amqp channel is not offered here: the operator has not "
                              "configured S117_AMQP_ADMIN to make subscriber credentials",
                              field="Subscription.channel.type")
        return self.amqp_url, self.users

    def _open_queue(self, subscription_id: str) -> tuple[str, str, str]:
        amqp_url, users = self._amqp_ready()
        connection = connect(amqp_url, "subscriptions", give_up_after=10)
        try:
            queue = topology.declare_subscriber_queue(connection.channel(), subscription_id)
        finally:
            connection.close()
        username, password = f"s117-subscriber-{subscription_id}", new_password()
        users.create(username, password, vhost_of(amqp_url), queue)
        return queue, username, password

    def _close_queue(self, subscription: Subscription) -> None:
        """Best effort: a leftover queue or user is logged, never a failed delete."""
        if subscription.amqp_user and self.users is not None:
            try:
                self.users.delete(subscription.amqp_user)
            except Exception:
                log.exception("could not delete RabbitMQ user %s", subscription.amqp_user)
        if subscription.amqp_queue and self.amqp_url:
            try:
                connection = connect(self.amqp_url, "subscriptions", give_up_after=10)
                with contextlib.closing(connection):
                    connection.channel().queue_delete(subscription.amqp_queue)
            except Exception:
                log.exception("could not delete queue %s", subscription.amqp_queue)

    def create(self, spec: SubscriptionSpec, owner: Viewer | None = None) -> Created:
        """`owner`: the organisation whose view of the register the Subscription carries
        (register.access.hears); None for one made by the register's own operator."""
        self._check_codes(spec)
        self._check_endpoint(spec)
        subscription_id = str(uuid4())
        values: dict[str, object] = {**spec.values(), "owner_org": owner.org if owner else None,
                                     "owner_type": owner.kind.value if owner else None}
        password = None
        if spec.channel == "amqp":
            queue, username, password = self._open_queue(subscription_id)
            values.update(amqp_queue=queue, amqp_user=username)
        try:
            created = self.store.create(subscription_id, values, utcnow())
        except Exception:
            if password is not None:
                self._close_queue(_bare(subscription_id, values))
            raise
        return Created(created, password)

    def replace(self, subscription_id: str, spec: SubscriptionSpec,
                if_version: int | None) -> Created:
        old = self.store.get(subscription_id)
        if old is None:
            raise NotFound(f"Subscription/{subscription_id} is not known", field="id")
        self._check_codes(spec)
        self._check_endpoint(spec)
        spec = spec.unmasked(old.headers)
        values = spec.values()
        moved = (spec.channel, spec.endpoint, spec.headers) != (old.channel, old.endpoint,
                                                                old.headers)
        # Turning it back on, or pointing it somewhere new, starts with a handshake; an edit
        # of the filters of an active subscription does not interrupt it.
        restart = spec.status == "requested" and (old.status != "active" or moved)
        if spec.status == "requested" and not restart:
            values["status"] = old.status
        password = None
        if spec.channel == "amqp" and old.channel != "amqp":
            queue, username, password = self._open_queue(subscription_id)
            values.update(amqp_queue=queue, amqp_user=username)
        elif spec.channel != "amqp":
            values.update(amqp_queue=None, amqp_user=None)
        else:
            values.update(amqp_queue=old.amqp_queue, amqp_user=old.amqp_user)
        updated = self.store.replace(subscription_id, values, utcnow(), if_version=if_version,
                                     restart=restart)
        if old.channel == "amqp" and spec.channel != "amqp":
            self._close_queue(old)
        return Created(updated, password)

    def delete(self, subscription_id: str) -> Subscription | None:
        gone = self.store.delete(subscription_id)
        if gone is not None and gone.channel == "amqp":
            self._close_queue(gone)
        return gone


def _bare(subscription_id: str, values: dict[str, object]) -> Subscription:
    """Just enough of a Subscription to undo its queue and user."""
    return Subscription(id=subscription_id, status="off", criteria=Criteria(Topic(
        str(values["topic"]))), channel="amqp", endpoint=None, headers=(), content="empty",
        heartbeat_seconds=None, timeout_seconds=None, max_count=None, end_at=None,
        resource={}, version=0, updated_at=utcnow(), amqp_queue=str(values["amqp_queue"]),
        amqp_user=str(values["amqp_user"]))
