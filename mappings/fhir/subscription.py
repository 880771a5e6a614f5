"""Subscription (R4, Subscriptions R5 Backport IG 1.1 `backport-subscription`) <-> what the
register stores: the topic (`criteria`, a canonical URL), filters (`backport-filter-criteria`
on criteria, e.g. `EpisodeOfCare?responsible-icb=QGH`), the channel (`rest-hook`, or the
custom channel `amqp`: R4 type `message` with `backport-channel-type` coding
s117-channel-type#amqp), the payload content (`backport-payload-content`: empty, id-only,
full-resource) and the heartbeat, timeout and max-count extensions.

Every refusal is an InvalidData naming the element (the API answers 422)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fhir_profiles import canonical as url
from mappings.fhir.common import ext, extension, extensions, instant, is_gss
from mappings.fhir.notification import CONTENTS
from register.errors import InvalidData
from register.nhs_number import is_valid
from register.subscriptions import (
    RESIDENCE_LA,
    RESPONSIBLE_ICB,
    RESPONSIBLE_LA,
    Criteria,
    Subscription,
    Topic,
)

Resource = dict[str, Any]
JSON_PAYLOADS = ("application/fhir+json", "application/json")
MAX_TIMEOUT = 60  # seconds: no single delivery attempt may hold a worker longer
MAX_COUNT = 1000
_HEADER = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+:[ \t]*[^\r\n]*$")
_TEN_DIGITS = re.compile(r"(?<!\d)\d{10}(?!\d)")
MASK = "******"  # what a header's value reads as: bearer tokens are not shown again
# Filters whose values are organisation codes, and the identifier system they may name.
_SYSTEMS = {RESPONSIBLE_ICB: url.ODS_CODE, RESPONSIBLE_LA: url.GSS_CODE,
            RESIDENCE_LA: url.GSS_CODE}
TOPICS = {url.topic(t.value): t for t in Topic}


@dataclass(frozen=True)
class SubscriptionSpec:
    """What a client asked for, checked."""

    status: str  # requested | off
    criteria: Criteria
    channel: str  # rest-hook | amqp
    endpoint: str | None
    headers: tuple[str, ...]
    content: str
    heartbeat_seconds: int | None
    timeout_seconds: int | None
    max_count: int | None
    end_at: datetime | None  # naive UTC
    resource: Resource  # as sent, without the server-managed elements

    def unmasked(self, stored: tuple[str, ...]) -> SubscriptionSpec:
        """Headers sent back as read (`Authorization: ******`) keep their stored values: a
        subscriber's secrets are written, never read back."""
        known = {h.split(":", 1)[0].strip().lower(): h for h in stored}
        headers = []
        for i, header in enumerate(self.headers):
            name, _, value = header.partition(":")
            if value.strip() == MASK:
                if name.strip().lower() not in known:
                    raise _fail(f"header {name.strip()} is masked but has no stored value: "
                                "send its value", f"Subscription.channel.header[{i}]")
                header = known[name.strip().lower()]
            headers.append(header)
        channel = {**self.resource["channel"], "header": headers}
        return replace(self, headers=tuple(headers),
                       resource={**self.resource, "channel": channel})

    def values(self) -> dict[str, Any]:
        """The store's definition columns."""
        return {"status": self.status, "topic": self.criteria.topic.value,
                "filters": self.criteria.as_json(), "channel": self.channel,
                "endpoint": self.endpoint, "headers": list(self.headers),
                "content": self.content, "heartbeat_seconds": self.heartbeat_seconds,
                "timeout_seconds": self.timeout_seconds, "max_count": self.max_count,
                "end_at": self.end_at, "resource": self.resource}


def _fail(message: str, where: str) -> InvalidData:
    return InvalidData(message, field=where)


def _filter(raw: Any, where: str, topic: Topic) -> list[tuple[str, frozenset[str]]]:
    """`EpisodeOfCare?responsible-icb=QGH&event=started,ended` (the resource type may be left
    out): each parameter must hold; a comma means any of these values."""
    if not isinstance(raw, str) or not raw.strip():
        raise _fail("a filter criterion is a search string such as "
                    "EpisodeOfCare?responsible-icb=QGH", where)
    resource, _, query = raw.strip().rpartition("?")
    if resource not in ("", "EpisodeOfCare"):
        raise _fail(f"topic {topic.value} is about EpisodeOfCare, not {resource}", where)
    found = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        if ":" in name:
            raise _fail(f"search modifiers are not supported in filters ({name})", where)
        values = set()
        for item in value.split(","):
            system, bar, code = item.strip().rpartition("|")
            if bar and name in _SYSTEMS and system and system != _SYSTEMS[name]:
                raise _fail(f"{name} takes codes of {_SYSTEMS[name]}, not {system}", where)
            if bar and name not in _SYSTEMS:
                raise _fail(f"{name} takes a plain code, not system|code", where)
            if name in (RESPONSIBLE_LA, RESIDENCE_LA) and code and not is_gss(code):
                raise _fail(f"{name} takes a local authority's ONS GSS code (E06000019), "
                            f"not {code!r}", where)
            if name == RESPONSIBLE_ICB and code and not re.fullmatch(r"[A-Z0-9]{3,5}", code):
                raise _fail(f"{name} takes an ICB's ODS code (QGH), not {code!r}", where)
            values.add(code)
        found.append((name, frozenset(values)))
    if not found:
        raise _fail("the filter names no parameter", where)
    return found


def _criteria(data: Resource) -> Criteria:
    canonical = data.get("criteria")
    topic = TOPICS.get(str(canonical).partition("|")[0])
    if topic is None:
        raise _fail(f"criteria must be the canonical URL of a topic this register publishes "
                    f"({', '.join(TOPICS)}), not {canonical!r}", "Subscription.criteria")
    filters: list[tuple[str, frozenset[str]]] = []
    for i, item in enumerate((data.get("_criteria") or {}).get("extension") or []):
        if item.get("url") != url.BACKPORT_FILTER_CRITERIA:
            continue
        where = f"Subscription.criteria.extension[{i}]"
        parsed = _filter(item.get("valueString"), where, topic)
        try:
            Criteria(topic, tuple(parsed))
        except InvalidData as exc:
            raise _fail(exc.message, where) from None
        filters += parsed
    return Criteria(topic, tuple(filters))


def _channel_type(channel: Resource) -> str:
    kind = channel.get("type")
    custom = [e.get("valueCoding") or {} for e in extensions(channel.get("_type") or {},
                                                            url.BACKPORT_CHANNEL_TYPE)]
    if custom:
        coding = custom[0]
        if coding.get("system") == url.CS_CHANNEL_TYPE and coding.get("code") == "amqp":
            return "amqp"
        raise _fail(f"the custom channel types offered are {url.CS_CHANNEL_TYPE}|amqp, not "
                    f"{coding.get('system')}|{coding.get('code')}",
                    "Subscription.channel.type.extension")
    if kind == "rest-hook":
        return "rest-hook"
    raise _fail(f"channel type {kind!r} is not offered: use rest-hook, or the custom channel "
                f"amqp (type message with the backport-channel-type extension)",
                "Subscription.channel.type")


def _endpoint(channel: Resource) -> str:
    endpoint = channel.get("endpoint")
    parts = urlsplit(endpoint or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _fail("a rest-hook needs an http(s) endpoint URL", "Subscription.channel.endpoint")
    # The register never adds anything to the URL; it also refuses one that already names a
    # patient, since URLs end up in proxy and gateway logs.
    if any(is_valid(n) for n in _TEN_DIGITS.findall(endpoint or "")):
        raise _fail("the endpoint URL contains what looks like an NHS number: patient "
                    "identifiers must never be in webhook URLs",
                    "Subscription.channel.endpoint")
    return str(endpoint)


# What a subscriber's endpoint may need: its credentials and its own X- headers (issue 20).
# Not the headers that steer proxies and cloud metadata services (Metadata-Flavor: Google,
# X-aws-ec2-metadata-token, X-Forwarded-For), nor those the register sets itself (Host,
# Content-Type, Content-Length, User-Agent).
SAFE_HEADERS = frozenset({"authorization", "api-key", "apikey"})
_UNSAFE_X = ("x-forwarded-", "x-real-ip", "x-original-", "x-aws-", "x-amz-", "x-google-",
             "x-ms-", "x-http-method")


def header_refusal(name: str) -> str | None:
    """Why a subscriber may not set this header, or None if it may."""
    lower = name.strip().lower()
    if lower in SAFE_HEADERS:
        return None
    if lower.startswith("x-") and len(lower) <= 64 and not lower.startswith(_UNSAFE_X):
        return None
    return (f"header {name.strip()!r} may not be set: a subscriber may send Authorization, "
            "Api-Key and its own X- headers (not X-Forwarded-*, X-Real-IP, or cloud "
            "providers' X-Amz-, X-Aws-, X-Google-, X-Ms- headers)")


def _headers(channel: Resource) -> tuple[str, ...]:
    headers = channel.get("header") or []
    for i, header in enumerate(headers):
        if not isinstance(header, str) or not _HEADER.match(header):
            raise _fail("a header is `Name: value` on one line",
                        f"Subscription.channel.header[{i}]")
        if refusal := header_refusal(header.split(":", 1)[0]):
            raise _fail(refusal, f"Subscription.channel.header[{i}]")
    return tuple(headers)


def _content(channel: Resource) -> str:
    payload = channel.get("payload")
    if payload is None:
        return "empty"
    if payload not in JSON_PAYLOADS:
        raise _fail(f"payload must be application/fhir+json, not {payload!r}",
                    "Subscription.channel.payload")
    found = extension(channel.get("_payload") or {}, url.BACKPORT_PAYLOAD_CONTENT)
    content = (found or {}).get("valueCode", "id-only")
    if content not in CONTENTS:
        raise _fail(f"payload content must be one of {', '.join(CONTENTS)}, not {content!r}",
                    "Subscription.channel.payload.extension")
    return content


def _number(channel: Resource, canonical: str, kind: str, low: int, high: int,
            name: str) -> int | None:
    found = extension(channel, canonical)
    if found is None:
        return None
    value = found.get(kind)
    if not isinstance(value, int) or not low <= value <= high:
        raise _fail(f"{name} must be a whole number from {low} to {high}",
                    f"Subscription.channel.extension({name})")
    return value


def _end(data: Resource, now: datetime) -> datetime | None:
    raw = data.get("end")
    if not raw:
        return None
    moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC).replace(tzinfo=None)
    if moment <= now:
        raise _fail("end is in the past", "Subscription.end")
    return moment


SERVER_MANAGED = ("id", "meta", "status", "error", "text")


def from_fhir(data: Resource, now: datetime) -> SubscriptionSpec:
    """Check a Subscription a client sent (already valid base R4) and say what it asks for."""
    status = data.get("status")
    if status not in ("requested", "active", "off"):
        raise _fail(f"status {status!r} is the server's to set: send requested (or off)",
                    "Subscription.status")
    criteria = _criteria(data)
    channel = data.get("channel") or {}
    kind = _channel_type(channel)
    endpoint = _endpoint(channel) if kind == "rest-hook" else None
    headers = _headers(channel) if kind == "rest-hook" else ()
    content = _content(channel)
    kept = {k: v for k, v in data.items() if k not in SERVER_MANAGED}
    if kind == "amqp":  # where the queue is, and who may read it, is the register's to say
        kept["channel"] = {k: v for k, v in channel.items() if k != "endpoint"}
        kept["channel"]["extension"] = [e for e in channel.get("extension") or []
                                        if e.get("url") != url.EXT_AMQP_CHANNEL]
        if not kept["channel"]["extension"]:
            del kept["channel"]["extension"]
    return SubscriptionSpec(
        status="off" if status == "off" else "requested", criteria=criteria, channel=kind,
        endpoint=endpoint, headers=headers, content=content,
        heartbeat_seconds=_number(channel, url.BACKPORT_HEARTBEAT, "valueUnsignedInt", 1,
                                  86400, "heartbeatPeriod"),
        timeout_seconds=_number(channel, url.BACKPORT_TIMEOUT, "valueUnsignedInt", 1,
                                MAX_TIMEOUT, "timeout"),
        max_count=_number(channel, url.BACKPORT_MAX_COUNT, "valuePositiveInt", 1, MAX_COUNT,
                          "maxCount"),
        end_at=_end(data, now), resource=kept)


def amqp_channel(queue: str, username: str | None, password: str | None) -> Resource:
    """Where an `amqp` subscriber reads, and (once, in the answer to the create that made
    them) its credentials."""
    parts = [ext("queue", valueString=queue)]
    if username:
        parts.append(ext("username", valueString=username))
    if password:
        parts.append(ext("password", valueString=password))
    return ext(url.EXT_AMQP_CHANNEL, extension=parts)


def to_fhir(subscription: Subscription, *, amqp_endpoint: str | None = None,
            password: str | None = None) -> Resource:
    """The Subscription as the client sent it, with the server's id, version, status, last
    error and, for `amqp`, where to read."""
    out: Resource = {"resourceType": "Subscription", "id": subscription.id,
                     "meta": {"versionId": str(subscription.version),
                              "lastUpdated": instant(subscription.updated_at),
                              "profile": [url.BACKPORT_SUBSCRIPTION]},
                     **{k: v for k, v in subscription.resource.items()
                        if k not in SERVER_MANAGED},
                     "status": subscription.status}
    if subscription.headers:
        out["channel"] = {**out["channel"], "header": [
            f"{h.split(':', 1)[0].strip()}: {MASK}" for h in subscription.headers]}
    if subscription.last_error and subscription.status in ("error", "active", "requested"):
        out["error"] = subscription.last_error
    if subscription.channel == "amqp" and subscription.amqp_queue:
        channel = dict(out["channel"])
        if amqp_endpoint:
            channel["endpoint"] = amqp_endpoint
        channel["extension"] = [*channel.get("extension", []),
                                amqp_channel(subscription.amqp_queue, subscription.amqp_user,
                                             password)]
        out["channel"] = channel
    return out
