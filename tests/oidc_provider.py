"""A real OpenID Connect provider for the page tests: npm `oidc-provider` (panva, OpenID
certified) under node, installed with `npm ci` in tests/oidc on first use as tests/browser.py
installs axe-core. Missing node or npm fails the calling test: it never skips."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.npm import installed
from tests.servers import wait_answering

HERE = Path(__file__).with_name("oidc")
CLIENT_ID, CLIENT_SECRET = "s117-pages", "s117-test-client-secret"


@contextmanager
def oidc_provider(port: int, redirect_uri: str, accounts: dict[str, dict[str, Any]],
                  log: Path) -> Iterator[str]:
    """The provider at http://127.0.0.1:<port>, with one confidential client (PKCE
    required; after RP-initiated logout it returns to the register's
    /sign-in/oidc/signed-out) and these accounts (login -> claims; `"userinfo_only": true`
    keeps an account's organisation claims out of its ID token, at the userinfo endpoint
    only); yields its issuer URL."""
    node = installed(HERE, "oidc-provider")
    signed_out = redirect_uri.replace("/sign-in/oidc/callback", "/sign-in/oidc/signed-out")
    env = {**os.environ, "PORT": str(port), "REDIRECT_URI": redirect_uri,
           "POST_LOGOUT_REDIRECT_URI": signed_out,
           "CLIENT_SECRET": CLIENT_SECRET, "ACCOUNTS": json.dumps(accounts)}
    issuer = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        process = subprocess.Popen([node, str(HERE / "provider.mjs")], cwd=HERE, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_answering(f"{issuer}/.well-known/openid-configuration", process, log,
                       "oidc-provider")
        yield issuer
    finally:
        process.terminate()
        process.wait(timeout=30)


def oidc_env(issuer: str) -> dict[str, str]:
    """The register's settings for signing staff in with this provider."""
    return {"S117_OIDC_ISSUER": issuer, "S117_OIDC_CLIENT_ID": CLIENT_ID,
            "S117_OIDC_CLIENT_SECRET": CLIENT_SECRET}
