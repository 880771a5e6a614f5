"""Notification Bundles with their resources: the delivery workers and `$events` build them
here, so a subscriber gets the same Bundle whether it was pushed or fetched."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mappings.fhir import entitlement, notification
from mappings.fhir.common import NameOf
from register.store.subscriptions import SubscriptionStore
from register.store.views import RegisterViews
from register.subscriptions import RecordedEvent, Subscription


class Notifications:
    def __init__(self, store: SubscriptionStore, views: RegisterViews, name_of: NameOf,
                 base: str) -> None:
        self.store = store
        self.views = views
        self.name_of = name_of
        self.base = base.rstrip("/")

    def resource_at(self, recorded: RecordedEvent) -> dict[str, Any] | None:
        """The EpisodeOfCare as the event left it (not as it is now)."""
        version = self.store.entitlement_version(recorded)
        stored = self.views.entitlement_version(recorded.event.entitlement_id, version) \
            if version else None
        return entitlement.to_json(stored, self.name_of) if stored else None

    def bundle(self, subscription: Subscription, kind: str,
               events: Sequence[RecordedEvent] = (), *, content: str | None = None,
               errors: Sequence[str] = ()) -> dict[str, Any]:
        return notification.bundle(subscription, kind, self.base, events=events,
                                   content=content, resource_at=self.resource_at,
                                   errors=errors)
