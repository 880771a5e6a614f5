"""Bearer tokens (DESIGN.md "Security"): a JWT signed RS256 or ES256 by the region's identity
provider, checked against its JWKS (`S117_JWKS_URL`) or a configured public key
(`S117_JWT_PUBLIC_KEY`), with PyJWT doing the cryptography.

Refused, each with a reason the caller can act on: no token, a malformed one, `alg` none or
any algorithm but RS256/ES256 (so an HS256 token "signed" with the public key is refused
before any key is tried), a bad signature, expired or not yet valid beyond the leeway, the
wrong audience or issuer, and missing or malformed organisation claims."""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from adapter.auth.scopes import Scopes
from register.access import OrgType, Viewer

ALGORITHMS = ["RS256", "ES256"]
REQUIRED = ["exp", "iat", "iss", "aud", "sub", "org", "org_type", "scope"]
# What an organisation code of each kind looks like: a council's ONS GSS code, an ICB's or
# trust's ODS code. An admin's `org` is whatever its operator calls it.
ORG_CODE = {OrgType.LA: re.compile(r"^(?:[EW]0[6-9]|E10)\d{6}$"),
            OrgType.ICB: re.compile(r"^Q[A-Z0-9]{2}$"),
            OrgType.TRUST: re.compile(r"^[A-Z0-9]{3,5}$"),
            OrgType.ADMIN: re.compile(r"^[A-Za-z0-9._-]{1,20}$")}


class TokenRefused(Exception):
    """401: the request carries no token the register accepts."""


class KeysUnavailable(Exception):
    """503: the identity provider's key set could not be fetched, so no token can be
    checked just now (the caller's token may well be good)."""


@dataclass(frozen=True)
class Caller:
    """Who is calling: the organisation (what it may see is register.access), the subject
    within it (a user or a system), and what the token's scopes allow."""

    viewer: Viewer
    subject: str
    scopes: Scopes

    @property
    def org(self) -> str:
        return self.viewer.org


class Verifier:
    """Verifies each distinct token once per process and remembers the caller until the
    token expires (a client sends the same token on every request until it renews it;
    the signature check is most of a read's authentication cost). Only verified tokens are
    remembered, at most `remember` of them, the least recently used forgotten first."""

    def __init__(self, *, audience: str, issuer: str, leeway_seconds: int,
                 public_key_path: str | None = None, jwks_url: str | None = None,
                 remember: int = 10_000) -> None:
        if bool(public_key_path) == bool(jwks_url):
            raise ValueError("S117_AUTH=jwt needs exactly one of S117_JWT_PUBLIC_KEY and "
                             "S117_JWKS_URL")
        self.audience = audience
        self.issuer = issuer
        self.leeway = leeway_seconds
        self.key: Any = None
        self.jwks: jwt.PyJWKClient | None = None
        if public_key_path:
            self.key = _load_public_key(Path(public_key_path))
        else:
            self.jwks = jwt.PyJWKClient(str(jwks_url), cache_keys=True, lifespan=300,
                                        timeout=5)
        self.remember = remember
        self._known: OrderedDict[str, tuple[Caller, float]] = OrderedDict()
        self._known_lock = threading.Lock()

    def _signing_key(self, token: str) -> Any:
        if self.jwks is None:
            return self.key
        try:
            return self.jwks.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientConnectionError as exc:
            raise KeysUnavailable(f"the identity provider's keys could not be fetched "
                                  f"({exc})") from exc
        except (jwt.PyJWKClientError, jwt.DecodeError) as exc:
            raise TokenRefused(f"the token's signing key is not in the key set ({exc})") \
                from exc

    def verify(self, header: str | None) -> Caller:
        token = _bearer(header)
        with self._known_lock:
            known = self._known.get(token)
            if known is not None:
                if time.time() < known[1]:
                    self._known.move_to_end(token)
                    return known[0]
                del self._known[token]
        caller, expires = self._verify(token)
        with self._known_lock:
            self._known[token] = (caller, expires)
            if len(self._known) > self.remember:
                self._known.popitem(last=False)
        return caller

    def _verify(self, token: str) -> tuple[Caller, float]:
        """The caller, and when the token stops being accepted (exp plus the leeway)."""
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
        except jwt.DecodeError as exc:
            raise TokenRefused(f"the bearer token is not a JWT ({exc})") from exc
        if algorithm not in ALGORITHMS:
            raise TokenRefused(f"tokens must be signed with {' or '.join(ALGORITHMS)}, not "
                               f"{algorithm!r}")
        try:
            claims = jwt.decode(token, self._signing_key(token), algorithms=ALGORITHMS,
                                audience=self.audience, issuer=self.issuer,
                                leeway=self.leeway, options={"require": REQUIRED})
        except jwt.ExpiredSignatureError as exc:
            raise TokenRefused("the token has expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise TokenRefused("the token is not valid yet (nbf or iat is in the future)") \
                from exc
        except jwt.InvalidAudienceError as exc:
            raise TokenRefused(f"the token is not for this register (aud must be "
                               f"{self.audience})") from exc
        except jwt.InvalidIssuerError as exc:
            raise TokenRefused(f"the token was not issued by {self.issuer}") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise TokenRefused(f"the token has no {exc.claim!r} claim") from exc
        except jwt.InvalidSignatureError as exc:
            raise TokenRefused("the token's signature does not verify") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenRefused(f"the token is not valid ({exc})") from exc
        except (TypeError, ValueError) as exc:
            # PyJWT raises these, not a JWT error, when the token's algorithm does not fit
            # the key (an ES256 token against an RSA key): a bad token, not a server fault.
            raise TokenRefused(f"the token's algorithm {algorithm} does not fit the "
                               "register's key") from exc
        return caller_of(claims), float(claims["exp"]) + self.leeway


def caller_of(claims: dict[str, Any]) -> Caller:
    try:
        kind = OrgType(str(claims["org_type"]))
    except ValueError:
        raise TokenRefused(f"org_type must be one of {', '.join(t.value for t in OrgType)}, "
                           f"not {claims['org_type']!r}") from None
    org = str(claims["org"])
    if not ORG_CODE[kind].match(org):
        raise TokenRefused(f"org {org!r} is not the code of {kind.value} organisation "
                           "(a council's GSS code, an ICB's or trust's ODS code)")
    scope = claims["scope"]
    if not isinstance(scope, str):
        raise TokenRefused("scope must be a space-separated string")
    return Caller(Viewer(org, kind), str(claims["sub"]), Scopes.parse(scope))


def _bearer(header: str | None) -> str:
    if not header:
        raise TokenRefused("this request needs a bearer token (Authorization: Bearer ...)")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenRefused("the Authorization header must be 'Bearer <token>'")
    return token.strip()


def _load_public_key(path: Path) -> Any:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        return load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ValueError(f"S117_JWT_PUBLIC_KEY {path}: not a PEM public key ({exc})") from exc
