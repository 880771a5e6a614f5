"""What the outbound tests share: a real HTTP subscriber (a werkzeug server in a thread that
records every notification and can be taken down, made to fail or made slow), reading
notification Bundles, streams of register changes for people of known ICBs, and waiting for
something to happen (with a deadline that only stops a hung test: no test asserts on time)."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from mappings.fhir import subscription as mapping
from queues.outbound.channels import RestHook
from queues.outbound.delivery import Deliverer, RetryPolicy
from queues.outbound.endpoints import AllowList
from queues.outbound.manage import SubscriptionManager
from queues.outbound.notifications import Notifications
from queues.outbound.relay import Relay
from register import commands as c
from register.model import Address
from register.nhs_number import synthetic
from register.refdata.sql import SqlRefData
from register.service import RegisterService
from register.store import database
from register.store.dialect import utcnow
from register.store.orm import EntitlementRow, OutboxRow
from register.store.subscriptions import SubscriptionStore
from register.store.views import RegisterViews
from register.subscriptions import Subscription

BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition"
TOPIC = "https://fhir.s117-register.uk/SubscriptionTopic/s117-entitlement-change"
EVENT_EXT = "https://fhir.s117-register.uk/StructureDefinition/Extension-S117-EntitlementEvent"
# Where people live and which practice they are registered with decide their ICB (rule N5).
AREAS = {"QGH": ("HR1 1AA", "Z10001"), "QOX": ("SN1 1AA", "Z20001"),
         "QR1": ("GL1 1AA", "Z30001")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


@dataclass(frozen=True)
class Received:
    kind: str  # handshake | heartbeat | event-notification
    status: dict[str, Any]  # the Parameters
    body: dict[str, Any]
    headers: dict[str, str]

    def events(self) -> list[tuple[int, str, str | None]]:
        """(event number, event code, focus reference) of each notification-event."""
        return events_of(self.status)


def parameters(status: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [p for p in status["parameter"] if p["name"] == name]


def events_of(status: dict[str, Any]) -> list[tuple[int, str, str | None]]:
    out = []
    for item in parameters(status, "notification-event"):
        parts = {p["name"]: p for p in item["part"]}
        code = next(sub["valueCoding"]["code"] for e in item["extension"]
                    if e["url"] == EVENT_EXT for sub in e["extension"] if sub["url"] == "code")
        focus = parts.get("focus", {}).get("valueReference", {}).get("reference")
        out.append((int(parts["event-number"]["valueString"]), code, focus))
    return out


@dataclass
class Receiver:
    """A rest-hook endpoint on 127.0.0.1. `answer` is the HTTP status it replies with;
    `hold`, when set, makes it wait until released before answering (a slow subscriber);
    `jitter` up to that many seconds before each answer (subscribers answering at
    different speeds)."""

    port: int = field(default_factory=free_port)
    answer: int = 200
    hold: threading.Event | None = None
    jitter: float = 0.0
    received: list[Received] = field(default_factory=list)
    waiting: threading.Event = field(default_factory=threading.Event)
    _server: BaseWSGIServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/notify"

    def _app(self, environ: dict[str, Any], start: Callable[..., Any]) -> Any:
        request = Request(environ)
        body = json.loads(request.get_data())
        if self.hold is not None:
            self.waiting.set()
            self.hold.wait(60)
        if self.jitter:
            time.sleep(random.uniform(0, self.jitter))
        if self.answer < 300:
            status = body["entry"][0]["resource"]
            kind = parameters(status, "type")[0]["valueCode"]
            with self._lock:
                self.received.append(Received(kind, status, body, dict(request.headers)))
        return Response("", status=self.answer)(environ, start)

    def start(self) -> Receiver:
        self._server = make_server("127.0.0.1", self.port, self._app, threaded=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def of_kind(self, kind: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.kind == kind]

    def events(self) -> list[tuple[int, str, str | None]]:
        return [e for r in self.of_kind("event-notification") for e in r.events()]

    def numbers(self) -> list[int]:
        return [n for n, _, _ in self.events()]


def subscription(endpoint: str | None, filters: list[str], *, content: str = "id-only",
                 heartbeat: int | None = None, headers: list[str] | None = None,
                 amqp: bool = False, topic: str = TOPIC,
                 max_count: int | None = None) -> dict[str, Any]:
    """A backport-subscription as an ICB analyst would write it."""
    channel: dict[str, Any] = {
        "type": "message" if amqp else "rest-hook", "payload": "application/fhir+json",
        "_payload": {"extension": [{"url": f"{BACKPORT}/backport-payload-content",
                                    "valueCode": content}]}}
    if amqp:
        channel["_type"] = {"extension": [{"url": f"{BACKPORT}/backport-channel-type",
                                           "valueCoding": {
                                               "system": "https://fhir.s117-register.uk/"
                                                         "CodeSystem/s117-channel-type",
                                               "code": "amqp"}}]}
    else:
        channel["endpoint"] = endpoint
    if headers:
        channel["header"] = headers
    if heartbeat:
        channel.setdefault("extension", []).append(
            {"url": f"{BACKPORT}/backport-heartbeat-period", "valueUnsignedInt": heartbeat})
    if max_count:
        channel.setdefault("extension", []).append(
            {"url": f"{BACKPORT}/backport-max-count", "valuePositiveInt": max_count})
    return {"resourceType": "Subscription", "status": "requested",
            "meta": {"profile": [f"{BACKPORT}/backport-subscription"]},
            "reason": "entitlement changes for our patients", "criteria": topic,
            "_criteria": {"extension": [{"url": f"{BACKPORT}/backport-filter-criteria",
                                         "valueString": f} for f in filters]},
            "channel": channel}


def t(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00")


def admit(nhs: str, icb: str, ref: str, day: str = "2024-02-01") -> c.Admit:
    postcode, practice = AREAS[icb]
    return c.Admit(command_id=f"adm-{ref}-{nhs}", nhs_number=nhs, occurred_at=t(day),
                   trust_ods="R1A", stay_ref=ref, admitted_at=t(day), legal_status="03",
                   residence_before=Address(postcode=postcode), gp_practice=practice)


def discharge(nhs: str, ref: str, day: str = "2024-05-10", to: str | None = None
              ) -> c.Discharge:
    return c.Discharge(command_id=f"dis-{ref}-{nhs}", nhs_number=nhs, occurred_at=t(day, 15),
                       trust_ods="R1A", stay_ref=ref, discharged_at=t(day, 15),
                       destination=Address(postcode=to) if to else None)


# What one person of `changes` is announced as: planned, started, needs-review (E2: they
# leave hospital with no aftercare plan recorded, Sarah's case) and flag-raised (O1, the same
# failure as the Ombudsman's flag).
EVENTS_PER_PERSON = 4


def changes(people: int, *, start: int = 0, icbs: tuple[str, ...] = ("QGH", "QOX"),
            ) -> Iterator[c.Command]:
    """Detentions and discharges for `people` people, alternating between ICBs; every
    third is discharged to another area (an out-of-area placement)."""
    for i in range(start, start + people):
        nhs, icb = synthetic(5_000 + i), icbs[i % len(icbs)]
        yield admit(nhs, icb, f"S{i}")
        away = AREAS[icbs[(i + 1) % len(icbs)]][0] if i % 3 == 0 else None
        yield discharge(nhs, f"S{i}", to=away)


BASE = "http://register.test"
# The receivers listen on 127.0.0.1: allow-listed, as S117_SUBSCRIPTION_ALLOWED_HOSTS would.
LOCAL = AllowList.parse("127.0.0.1")
FAST = RetryPolicy(give_up_after=timedelta(minutes=5), first_delay=0.05, max_delay=0.4)


class Outbound:
    """The relay and delivery worker of one test, on the test's database."""

    def __init__(self, engine: Engine, policy: RetryPolicy = FAST) -> None:
        self.sessions = database.session_factory(engine)
        self.store = SubscriptionStore(self.sessions)
        refdata = SqlRefData(self.sessions)
        self.manager = SubscriptionManager(
            self.store, amqp_url=None, users=None,
            kind_of=lambda code: o.kind if (o := refdata.orgs.get(code)) else None,
            allowed=LOCAL)
        self.relay = Relay(self.sessions, BASE, poll_seconds=0.02)
        self.deliverer = Deliverer(
            self.store, Notifications(self.store, RegisterViews(self.sessions), refdata.name,
                                      f"{BASE}/fhir"),
            {"rest-hook": RestHook(5, LOCAL)}, policy=policy, threads=8, poll_seconds=0.02)
        self.relay.on_batch = lambda _: self.deliverer.notify()

    def subscribe(self, receiver: Receiver | None, *filters: str, **options: object
                  ) -> Subscription:
        resource = subscription(receiver.url if receiver else "http://127.0.0.1:9/x",
                                list(filters), **options)  # type: ignore[arg-type]
        return self.manager.create(mapping.from_fhir(resource, utcnow())).subscription

    def get(self, sub: Subscription) -> Subscription:
        found = self.store.get(sub.id)
        assert found is not None
        return found

    @contextmanager
    def running(self, *, relay: bool = True) -> Iterator[Outbound]:
        """Its relay (embedded: no broker) and delivery worker; `relay=False` when the test
        runs relays of its own."""
        stop = threading.Event()
        loops = (self.relay.run, self.deliverer.run) if relay else (self.deliverer.run,)
        threads = [threading.Thread(target=loop, args=(stop,), daemon=True) for loop in loops]
        for thread in threads:
            thread.start()
        try:
            yield self
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)

    def outbox(self) -> list[OutboxRow]:
        with self.sessions() as session:
            return list(session.scalars(select(OutboxRow).order_by(OutboxRow.id)))

    def entitlements_of_icb(self, icb: str) -> set[str]:
        with self.sessions() as session:
            return set(session.scalars(select(EntitlementRow.id).where(
                EntitlementRow.responsible_icb == icb)))


def started(receivers: list[Receiver], **options: object) -> Receiver:
    receiver = Receiver(**options).start()  # type: ignore[arg-type]
    receivers.append(receiver)
    return receiver


def apply(service: RegisterService, people: int, start: int = 0, **options: object) -> None:
    for command in changes(people, start=start, **options):  # type: ignore[arg-type]
        service.handle(command)
