"""Registers that check bearer tokens, for tests that start `s117` processes: a key pair made
once per test session (`s117 token issue` makes them the same way), the environment that
points a register at it, and tokens for an organisation."""

from __future__ import annotations

import tempfile
from functools import cache
from pathlib import Path

from adapter import config
from adapter.auth.issue import ensure_key_pair, mint


@cache
def _keys() -> tuple[Path, Path]:
    private = Path(tempfile.mkdtemp(prefix="s117-keys-")) / "dev-key.pem"
    return private, ensure_key_pair(private)


def checked_env(**extra: str) -> dict[str, str]:
    """S117_ variables of a register that accepts only tokens signed by the test key, MLLP
    from this machine for any trust, and rest-hooks to this machine."""
    private, public = _keys()
    # The tests' rest-hook receivers listen on 127.0.0.1: allow-listed, as an operator
    # would for a subscriber inside the network (docs/outbound.md).
    return {"S117_AUTH": "jwt", "S117_JWT_PUBLIC_KEY": str(public),
            "S117_JWT_PRIVATE_KEY": str(private), "S117_MLLP_SENDERS": "127.0.0.1=*; ::1=*",
            "S117_SUBSCRIPTION_ALLOWED_HOSTS": "127.0.0.1", **extra}


def token(org: str, org_type: str, scope: str = "system/*.cruds", *,
          env: dict[str, str] | None = None, **claims: object) -> str:
    settings = config.from_env(env or {})
    return mint(_keys()[0], org=org, org_type=org_type, scope=scope,
                audience=settings.audience, issuer=settings.jwt_issuer, **claims)


def bearer(org: str, org_type: str, scope: str = "system/*.cruds", **claims: object
           ) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(org, org_type, scope, **claims)}"}
