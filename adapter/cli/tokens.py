"""`s117 token ...`: development bearer tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from adapter.cli.console import errors, fail, settings

token_app = typer.Typer(help="Bearer tokens for development and tests (production tokens "
                        "come from the region's identity provider).", no_args_is_help=True)


@token_app.command("issue")
def token_issue(
    org: Annotated[str, typer.Option(help="the organisation: a council's GSS code, an ICB's "
                                          "or trust's ODS code")],
    org_type: Annotated[str, typer.Option(help="trust | la | icb | admin")],
    scope: Annotated[str, typer.Option(help="SMART scopes, space-separated")]
    = "system/*.cruds",
    sub: Annotated[str | None, typer.Option(help="the subject (a user or system); default "
                                                 "<org-type>:<org>")] = None,
    minutes: Annotated[int, typer.Option(help="lifetime")] = 60,
) -> None:
    """Print a signed token (RS256) for this organisation. The key pair is S117_JWT_PRIVATE_KEY
    (made on first use) and its .pub.pem; start the register with S117_JWT_PUBLIC_KEY set to
    the public key to accept these tokens."""
    from adapter.auth.issue import mint, public_path
    from adapter.auth.tokens import Caller, TokenRefused, caller_of

    config = settings()
    try:
        checked: Caller = caller_of({"org": org, "org_type": org_type, "scope": scope,
                                     "sub": sub or org})
    except TokenRefused as exc:
        fail(exc)
    private = Path(config.jwt_private_key)
    token = mint(private, org=org, org_type=checked.viewer.kind.value, scope=scope,
                 audience=config.audience, issuer=config.jwt_issuer, subject=sub,
                 minutes=minutes)
    print(token)
    errors.print(f"verify with S117_JWT_PUBLIC_KEY={public_path(private).resolve()} "
                 f"(aud {config.audience}, iss {config.jwt_issuer})")


@token_app.command("jwks")
def token_jwks() -> None:
    """Print the development key as a JWKS document (to serve for S117_JWKS_URL)."""
    from adapter.auth.issue import jwks

    print(jwks(Path(settings().jwt_private_key)))
