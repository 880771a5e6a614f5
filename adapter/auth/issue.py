"""`s117 token issue`: tokens for development and tests, signed RS256 with a local key pair
made on first use (`S117_JWT_PRIVATE_KEY`, default ./s117-dev-key.pem, and its public half
beside it as .pub.pem), carrying the claims a production identity provider would. A register
that should accept them is started with `S117_JWT_PUBLIC_KEY` pointing at the public half.
Production tokens come from the region's identity provider, never from here."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

KID = "s117-dev"


def public_path(private: Path) -> Path:
    return private.with_name(private.name.removesuffix(".pem") + ".pub.pem")


def ensure_key_pair(private: Path) -> Path:
    """The key pair at `private`, made if missing; the public key's path."""
    public = public_path(private)
    if not private.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private.parent.mkdir(parents=True, exist_ok=True)
        private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                              serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
        private.chmod(0o600)
        public.write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return public


def mint(private: Path, *, org: str, org_type: str, scope: str, audience: str, issuer: str,
         subject: str | None = None, minutes: int = 60, **extra: Any) -> str:
    ensure_key_pair(private)
    now = int(time.time())
    claims = {"iss": issuer, "aud": audience, "sub": subject or f"{org_type}:{org}",
              "iat": now, "nbf": now, "exp": now + minutes * 60, "jti": str(uuid4()),
              "org": org, "org_type": org_type, "scope": scope, **extra}
    key = serialization.load_pem_private_key(private.read_bytes(), password=None)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": KID})  # type: ignore[arg-type]


def jwks(private: Path) -> str:
    """The public key as a JWKS document, for a register configured with S117_JWKS_URL."""
    public = serialization.load_pem_public_key(ensure_key_pair(private).read_bytes())
    key = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public))  # type: ignore[arg-type]
    return json.dumps({"keys": [{**key, "kid": KID, "use": "sig", "alg": "RS256"}]}, indent=2)
