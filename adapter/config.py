"""Configuration from the environment (12-factor). Every variable is prefixed `S117_`;
`VARIABLES` is the single list the README and the docker-compose check read."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from pathlib import Path

import yaml
from marshmallow import Schema, ValidationError, fields, post_load, validate

from register.errors import InvalidData
from register.model import ServiceType
from register.rules.ports import (
    DEFAULT_PANEL_SERVICE_TYPES,
    AppliesTo,
    Commencement,
    LocalityOverride,
    LocalityPolicy,
)
from register.rules.ruleset import SWITCHABLE

VARIABLES: dict[str, str] = {
    "S117_DATABASE_URL": "SQLAlchemy URL; default sqlite:///s117.db (embedded). PostgreSQL: "
                         "postgresql+psycopg://user@host:5432/db",
    "S117_AMQP_URL": "RabbitMQ URL (amqp://guest:guest@127.0.0.1:5672/); unset = in-process bus",
    "S117_AUTH": "jwt or off; off is allowed only with SQLite (default: off on SQLite, "
                 "jwt otherwise)",
    "S117_JWKS_URL": "JWKS URL to verify bearer tokens (with S117_AUTH=jwt)",
    "S117_JWT_PUBLIC_KEY": "path to a PEM public key to verify bearer tokens",
    "S117_JWT_AUDIENCE": "the aud a bearer token must carry (default: S117_BASE_URL + /fhir)",
    "S117_JWT_ISSUER": "the iss a bearer token must carry (default s117-register-dev, the "
                       "issuer of s117 token issue)",
    "S117_JWT_LEEWAY_SECONDS": "clock skew allowed when checking a token's exp, nbf and iat "
                               "(default 30)",
    "S117_JWT_PRIVATE_KEY": "development only: the PEM private key s117 token issue signs "
                            "with, made on first use (default ./s117-dev-key.pem)",
    "S117_MLLP_SENDERS": "which trusts each MLLP client address may send for, e.g. "
                         "'10.1.0.0/16=RLQ,R1A; 127.0.0.1=*'; required with S117_AUTH=jwt",
    "S117_RATE_LIMIT": "requests one client (token subject, or address without one) may make "
                       "to the HTTP API, e.g. '1200/minute' (default); 'off' for none",
    "S117_LOCALITY_POLICY": "path to a YAML/JSON locality policy (review intervals, s17 leave, "
                            "rule sets switched on with their commencement, panel "
                            "thresholds, per-council overrides); default: the national "
                            "defaults",
    "S117_BASE_URL": "public base URL of the server (default http://127.0.0.1:8080)",
    "S117_MAX_BODY_BYTES": "largest request body the HTTP API accepts, in bytes; larger "
                           "bodies get 413 (default 5242880, 5 MB)",
    "S117_MLLP_MAX_BYTES": "largest HL7 v2 message the MLLP listener and POST /hl7v2 take, in "
                           "bytes; larger ones get AR and are quarantined (default 4194304, "
                           "4 MB)",
    "S117_HOLD_SECONDS": "how long a message that arrived before its predecessor (a discharge "
                         "before its admission) is held before it goes to quarantine "
                         "(default 86400, one day)",
    "S117_TRUST_PROFILES": "directory of this site's own trust mapping profiles (YAML), added "
                           "to the shipped mappings/trusts/",
    "S117_DELIVERY_RETRY_SECONDS": "how long a failing subscription notification is retried, "
                                   "with exponential backoff, before the Subscription's "
                                   "status becomes error (default 86400, 24 h)",
    "S117_DELIVERY_TIMEOUT_SECONDS": "longest a rest-hook POST may take before it counts as "
                                     "failed, unless the Subscription asks for less "
                                     "(default 10)",
    "S117_DELIVERY_THREADS": "subscribers delivered to at the same time by one process "
                             "(default 64)",
    "S117_REVIEW_NOTICE_DAYS": "days before a review's due date that the scheduler raises "
                               "review-due (default 14)",
    "S117_AMQP_ADMIN": "how per-subscriber RabbitMQ users are made for the amqp channel: the "
                       "management API URL with admin credentials "
                       "(http://user:pass@rabbitmq:15672), or rabbitmqctl; unset = the amqp "
                       "channel is refused",
    "S117_OIDC_ISSUER": "the staff's OpenID Connect provider (its issuer URL): the pages' "
                        "sign-in (authorization code with PKCE); unset: a pasted token",
    "S117_OIDC_CLIENT_ID": "the register's client id at the OpenID Connect provider",
    "S117_OIDC_CLIENT_SECRET": "the register's client secret at the OpenID Connect provider",
    "S117_OIDC_SCOPE": "scopes the pages ask the provider for (default openid profile s117)",
    "S117_OIDC_SCOPE_CLAIM": "the ID token claim holding the SMART scopes (default "
                             "s117_scope); org and org_type are the API's claims",
    "S117_AUTH_FAILURE_LIMIT": "requests without a valid token one client address may make "
                               "before it is answered 429, checked before the rate limit "
                               "(default 30/minute; off to disable)",
    "S117_SUBSCRIPTION_ALLOWED_HOSTS": "host names and IP addresses or networks a rest-hook "
                                       "may reach over plain http or at an internal (loopback, "
                                       "private, link-local) address, e.g. '127.0.0.1, "
                                       "hooks.dev.internal, 10.20.0.0/16'; unset = https to "
                                       "public addresses only",
    "S117_SECRET_KEY": "key that signs the web pages' session cookie; required for the pages "
                       "with S117_AUTH=jwt (the same on every server); with auth off a random "
                       "key per server is made if unset",
    "S117_REGION": "this register's NHS England region (ODS code, e.g. Y56 London, Y60 "
                   "Midlands): turns on federation with the other regions' registers",
    "S117_FEDERATION_ROUTES": "file of 'code,region' rows overriding which register serves a "
                              "council (GSS) or ICB (ODS); default: by NHS England region",
    "S117_FEDERATION_PEERS": "the regions whose registers this one exchanges with, e.g. "
                             "'Y56,Y61'; a message from any other is quarantined "
                             "(unknown-register); default: every other region",
    "S117_SESSION_COOKIE_SECURE": "true to send the pages' session cookie over HTTPS only; "
                                  "default true when S117_BASE_URL is https://",
}

DEFAULT_DATABASE_URL = "sqlite:///s117.db"


SERVICE_TYPES = fields.List(fields.String(validate=validate.OneOf([t.value
                                                                    for t in ServiceType])))


class LocalityOverrideSchema(Schema):
    """What one council (by GSS code) sets differently; anything left out is inherited."""

    first_review_days = fields.Integer(validate=validate.Range(1, 366))
    review_interval_months = fields.Integer(validate=validate.Range(1, 24))
    panel_weekly_cost = fields.Decimal(validate=validate.Range(min=0))
    panel_service_types = SERVICE_TYPES

    @post_load
    def make(self, data: dict[str, object], **_: object) -> LocalityOverride:
        if "panel_service_types" in data:
            data["panel_service_types"] = frozenset(data["panel_service_types"])  # type: ignore[arg-type]
        return LocalityOverride(**data)  # type: ignore[arg-type]


class CommencementSchema(Schema):
    """A switchable rule set switched on (RULES.md L6): its commencement date and the
    transitional choice, both required because the law has not fixed them yet."""

    on = fields.Date(required=True, data_key="from")
    applies_to = fields.String(required=True, validate=validate.OneOf(
        [a.value for a in AppliesTo]))

    @post_load
    def make(self, data: dict[str, object], **_: object) -> Commencement:
        return Commencement(data["on"], AppliesTo(data["applies_to"]))  # type: ignore[arg-type]


class LocalityPolicySchema(Schema):
    first_review_days = fields.Integer(load_default=42, validate=validate.Range(1, 366))
    review_interval_months = fields.Integer(load_default=12, validate=validate.Range(1, 24))
    s17_leave_with_plan_starts_entitlement = fields.Boolean(load_default=False)
    rule_sets = fields.Dict(keys=fields.String(validate=validate.OneOf(
        [rs.id for rs in SWITCHABLE])), values=fields.Nested(CommencementSchema),
        load_default=dict)
    panel_weekly_cost = fields.Decimal(load_default=LocalityPolicy.panel_weekly_cost,
                                       validate=validate.Range(min=0))
    panel_service_types = fields.List(SERVICE_TYPES.inner,
                                      load_default=lambda: sorted(DEFAULT_PANEL_SERVICE_TYPES))
    localities = fields.Dict(keys=fields.String(validate=validate.Regexp(
        r"^[EW]0[6-9]\d{6}$|^E10\d{6}$", error="is not a council GSS code")),
        values=fields.Nested(LocalityOverrideSchema), load_default=dict)

    @post_load
    def make(self, data: dict[str, object], **_: object) -> LocalityPolicy:
        data["panel_service_types"] = frozenset(data["panel_service_types"])  # type: ignore[arg-type]
        return LocalityPolicy(**data)  # type: ignore[arg-type]


def load_policy(path: str | None) -> LocalityPolicy:
    if not path:
        return LocalityPolicy()
    text = Path(path).read_text(encoding="utf-8")
    raw = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    try:
        return LocalityPolicySchema().load(raw or {})
    except ValidationError as exc:
        raise InvalidData(f"locality policy {path}: {exc.messages}",
                          field="S117_LOCALITY_POLICY") from exc


@dataclass(frozen=True)
class Senders:
    """S117_MLLP_SENDERS: the trusts (MSH-4) each client network may send for; `*` for an
    integration engine that relays for many trusts."""

    networks: tuple[tuple[IPv4Network | IPv6Network, frozenset[str]], ...]

    @classmethod
    def parse(cls, raw: str) -> Senders:
        found = []
        for i, part in enumerate(p for p in raw.replace("\n", ";").split(";") if p.strip()):
            where, _, codes = part.partition("=")
            try:
                network = ip_network(where.strip(), strict=False)
            except ValueError:
                raise InvalidData(f"S117_MLLP_SENDERS entry {i + 1}: {where.strip()!r} is not "
                                  "an IP address or network", field="S117_MLLP_SENDERS") \
                    from None
            trusts = frozenset(c.strip().upper() for c in codes.split(",") if c.strip())
            if not trusts:
                raise InvalidData(f"S117_MLLP_SENDERS entry {i + 1}: name the trusts (ODS "
                                  "codes, or *) after '='", field="S117_MLLP_SENDERS")
            found.append((network, trusts))
        return cls(tuple(found))

    def trusts_for(self, address: str) -> frozenset[str]:
        """What a client at this address may send for (empty: nothing)."""
        try:
            ip = ip_address(address)
        except ValueError:
            return frozenset()
        return frozenset().union(*(trusts for network, trusts in self.networks
                                   if ip.version == network.version and ip in network))


@dataclass(frozen=True)
class Settings:
    database_url: str
    amqp_url: str | None
    auth: str
    jwks_url: str | None
    jwt_public_key: str | None
    policy: LocalityPolicy
    base_url: str
    max_body_bytes: int = 5 * 1024 * 1024
    mllp_max_bytes: int = 4 * 1024 * 1024
    hold_seconds: int = 86400
    trust_profiles: str | None = None
    delivery_retry_seconds: int = 24 * 3600
    delivery_timeout_seconds: int = 10
    delivery_threads: int = 64
    review_notice_days: int = 14
    amqp_admin: str | None = None
    jwt_audience: str | None = None  # None: base_url + "/fhir"
    jwt_issuer: str = "s117-register-dev"
    jwt_leeway_seconds: int = 30
    jwt_private_key: str = "s117-dev-key.pem"
    mllp_senders: Senders | None = None
    rate_limit: str | None = "1200/minute"
    secret_key: str | None = None  # None: the pages are off (auth on) or use a random key
    session_cookie_secure: bool = True
    subscription_allowed_hosts: str | None = None  # queues.outbound.endpoints.AllowList
    auth_failure_limit: str | None = "30/minute"  # adapter/auth/failures.py
    region: str | None = None  # None: no federation
    federation_routes: str | None = None
    federation_peers: tuple[str, ...] | None = None  # None: every other region
    # Staff sign-in to the pages with the organisation's OpenID Connect provider.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_scope: str = "openid profile s117"
    oidc_scope_claim: str = "s117_scope"

    @property
    def audience(self) -> str:
        return self.jwt_audience or self.base_url.rstrip("/") + "/fhir"

    @property
    def embedded(self) -> bool:
        return self.database_url.startswith("sqlite")


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    url = env.get("S117_DATABASE_URL") or DEFAULT_DATABASE_URL
    sqlite = url.startswith("sqlite")
    auth = env.get("S117_AUTH") or ("off" if sqlite else "jwt")
    if auth not in ("jwt", "off"):
        raise InvalidData(f"S117_AUTH must be jwt or off, not {auth!r}", field="S117_AUTH")
    if auth == "off" and not sqlite:
        raise InvalidData("S117_AUTH=off is allowed only with SQLite", field="S117_AUTH")
    return Settings(
        database_url=url, amqp_url=env.get("S117_AMQP_URL") or None, auth=auth,
        jwks_url=env.get("S117_JWKS_URL") or None,
        jwt_public_key=env.get("S117_JWT_PUBLIC_KEY") or None,
        policy=load_policy(env.get("S117_LOCALITY_POLICY")),
        base_url=env.get("S117_BASE_URL") or "http://127.0.0.1:8080",
        max_body_bytes=_positive(env, "S117_MAX_BODY_BYTES", 5 * 1024 * 1024),
        mllp_max_bytes=_positive(env, "S117_MLLP_MAX_BYTES", 4 * 1024 * 1024),
        hold_seconds=_positive(env, "S117_HOLD_SECONDS", 86400),
        trust_profiles=env.get("S117_TRUST_PROFILES") or None,
        delivery_retry_seconds=_positive(env, "S117_DELIVERY_RETRY_SECONDS", 24 * 3600),
        delivery_timeout_seconds=_positive(env, "S117_DELIVERY_TIMEOUT_SECONDS", 10),
        delivery_threads=_positive(env, "S117_DELIVERY_THREADS", 64),
        review_notice_days=_whole(env, "S117_REVIEW_NOTICE_DAYS", 14),
        amqp_admin=env.get("S117_AMQP_ADMIN") or None,
        jwt_audience=env.get("S117_JWT_AUDIENCE") or None,
        jwt_issuer=env.get("S117_JWT_ISSUER") or "s117-register-dev",
        jwt_leeway_seconds=_whole(env, "S117_JWT_LEEWAY_SECONDS", 30),
        jwt_private_key=env.get("S117_JWT_PRIVATE_KEY") or "s117-dev-key.pem",
        mllp_senders=Senders.parse(env["S117_MLLP_SENDERS"])
        if env.get("S117_MLLP_SENDERS") else None,
        rate_limit=_rate(env.get("S117_RATE_LIMIT")),
        secret_key=env.get("S117_SECRET_KEY") or None,
        subscription_allowed_hosts=env.get("S117_SUBSCRIPTION_ALLOWED_HOSTS") or None,
        auth_failure_limit=_rate(env.get("S117_AUTH_FAILURE_LIMIT"), "30/minute",
                                 "S117_AUTH_FAILURE_LIMIT"),
        region=env.get("S117_REGION") or None,
        federation_routes=env.get("S117_FEDERATION_ROUTES") or None,
        federation_peers=tuple(p.strip() for p in env["S117_FEDERATION_PEERS"].split(",")
                               if p.strip()) if env.get("S117_FEDERATION_PEERS") else None,
        session_cookie_secure=_flag(env, "S117_SESSION_COOKIE_SECURE", (
            env.get("S117_BASE_URL") or "").startswith("https://")),
        oidc_issuer=(env.get("S117_OIDC_ISSUER") or "").rstrip("/") or None,
        oidc_client_id=env.get("S117_OIDC_CLIENT_ID") or None,
        oidc_client_secret=env.get("S117_OIDC_CLIENT_SECRET") or None,
        oidc_scope=env.get("S117_OIDC_SCOPE") or "openid profile s117",
        oidc_scope_claim=env.get("S117_OIDC_SCOPE_CLAIM") or "s117_scope")


def _rate(raw: str | None, default: str = "1200/minute",
          name: str = "S117_RATE_LIMIT") -> str | None:
    if not raw:
        return default
    if raw.strip().lower() == "off":
        return None
    from limits import parse_many

    try:
        parse_many(raw)
    except ValueError:
        raise InvalidData(f"{name} must read like '1200/minute' or "
                          f"'20/second;1000/hour', not {raw!r}", field=name) from None
    return raw


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) == 0:
        raise InvalidData(f"{name} must be a positive whole number, not {raw!r}", field=name)
    return int(raw)


def _whole(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()):
        raise InvalidData(f"{name} must be a whole number, not {raw!r}", field=name)
    return int(raw)


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw not in ("true", "false"):
        raise InvalidData(f"{name} must be true or false, not {raw!r}", field=name)
    return raw == "true"
