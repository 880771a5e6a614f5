"""Notification Bundles with their resources: the delivery workers and `$events` build them
here, so a subscriber gets the same Bundle whether it was pushed or fetched.

What a notification says about an event apart from its per-subscription number (its
`notification-event` parts, and for `full-resource` the EpisodeOfCare as the event left it)
is the same for every subscriber, so it is built once per event and kept in a small cache:
with fifty subscribers taking every event, building it per event-subscriber pair was most of
the delivery worker's time. An event never changes once committed, so nothing goes stale."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from mappings.fhir import entitlement, notification
from mappings.fhir.common import NameOf
from register.store.subscriptions import SubscriptionStore
from register.store.views import RegisterViews
from register.subscriptions import RecordedEvent, Subscription

CACHED_EVENTS = 20_000  # a few relay batches' worth for many subscribers


class Notifications:
    def __init__(self, store: SubscriptionStore, views: RegisterViews, name_of: NameOf,
                 base: str) -> None:
        self.store = store
        self.views = views
        self.name_of = name_of
        self.base = base.rstrip("/")
        self._parts: dict[tuple[int, str], dict[str, Any]] = {}
        self._resources: dict[int, dict[str, Any] | None] = {}

    def _cached(self, cache: dict[Any, Any], key: object, build: Callable[[], Any]) -> Any:
        if key not in cache:
            if len(cache) >= CACHED_EVENTS:  # oldest first: delivery moves forward
                del cache[next(iter(cache))]
            cache[key] = build()
        return cache[key]

    def parts(self, recorded: RecordedEvent, content: str) -> dict[str, Any]:
        return self._cached(self._parts, (recorded.outbox_id, content != "empty"),
                            lambda: notification.event_parts(recorded, self.base, content))

    def resource_at(self, recorded: RecordedEvent) -> dict[str, Any] | None:
        """The EpisodeOfCare as the event left it (not as it is now)."""
        return self._cached(self._resources, recorded.outbox_id,
                            lambda: self._resource_at(recorded))

    def _resource_at(self, recorded: RecordedEvent) -> dict[str, Any] | None:
        version = self.store.entitlement_version(recorded)
        stored = self.views.entitlement_version(recorded.event.entitlement_id, version) \
            if version else None
        return entitlement.to_json(stored, self.name_of) if stored else None

    def bundle(self, subscription: Subscription, kind: str,
               events: Sequence[RecordedEvent] = (), *, content: str | None = None,
               errors: Sequence[str] = ()) -> dict[str, Any]:
        return notification.bundle(subscription, kind, self.base, events=events,
                                   content=content, resource_at=self.resource_at,
                                   errors=errors, parts=self.parts)
