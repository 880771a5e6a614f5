"""Bearer token checks (issue 7, Authentication): what the register accepts, and each attack
it refuses with a reason (expired, not yet valid, wrong audience or issuer, alg none, HS256
signed with the public key, another key's signature, missing or malformed claims), with the
leeway at its boundary; a JWKS served over HTTP; SMART scopes."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from adapter.auth.issue import ensure_key_pair, jwks, mint
from adapter.auth.scopes import Scopes
from adapter.auth.tokens import KeysUnavailable, TokenRefused, Verifier
from register.access import OrgType, Viewer

AUD, ISS = "http://127.0.0.1:8080/fhir", "s117-register-dev"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    private = tmp_path_factory.mktemp("keys") / "dev.pem"
    return private, ensure_key_pair(private)


@pytest.fixture(scope="module")
def verifier(keys: tuple[Path, Path]) -> Verifier:
    return Verifier(audience=AUD, issuer=ISS, leeway_seconds=30,
                    public_key_path=str(keys[1]))


def good(keys: tuple[Path, Path], **claims: Any) -> str:
    return mint(keys[0], org="E06000019", org_type="la", scope="system/EpisodeOfCare.rs",
                audience=AUD, issuer=ISS, **claims)


def raw_claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": ISS, "aud": AUD, "sub": "la:E06000019", "iat": now, "exp": now + 300,
              "org": "E06000019", "org_type": "la", "scope": "system/*.rs"}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def signed(keys: tuple[Path, Path], claims: dict[str, Any]) -> str:
    key = serialization.load_pem_private_key(keys[0].read_bytes(), password=None)
    return jwt.encode(claims, key, algorithm="RS256")  # type: ignore[arg-type]


def refused(verifier: Verifier, token: str) -> str:
    with pytest.raises(TokenRefused) as caught:
        verifier.verify(f"Bearer {token}")
    return str(caught.value)


def test_a_good_token_names_the_organisation_subject_and_scopes(keys, verifier):
    caller = verifier.verify(f"Bearer {good(keys, subject='jo.bloggs')}")
    assert caller.viewer == Viewer("E06000019", OrgType.LA)
    assert caller.subject == "jo.bloggs"
    assert caller.scopes.allows("EpisodeOfCare", "r")
    assert not caller.scopes.allows("EpisodeOfCare", "u")
    assert not caller.scopes.allows("Patient", "r")


def test_no_token_or_not_a_bearer_is_refused(verifier):
    for header in (None, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer    "):
        with pytest.raises(TokenRefused):
            verifier.verify(header)
    assert "not a JWT" in refused(verifier, "not.a.jwt")


def test_expiry_and_not_before_are_checked_with_a_small_leeway(keys, verifier):
    now = int(time.time())
    # Inside the 30 s leeway: accepted; beyond it: refused.
    verifier.verify(f"Bearer {signed(keys, raw_claims(exp=now - 10, iat=now - 100))}")
    assert "expired" in refused(verifier, signed(keys, raw_claims(exp=now - 60,
                                                                  iat=now - 100)))
    verifier.verify(f"Bearer {signed(keys, raw_claims(nbf=now + 10))}")
    assert "not valid yet" in refused(verifier, signed(keys, raw_claims(nbf=now + 120)))
    assert "not valid yet" in refused(verifier, signed(keys, raw_claims(iat=now + 120)))


def test_the_wrong_audience_or_issuer_is_refused(keys, verifier):
    assert "not for this register" in refused(verifier, signed(keys, raw_claims(
        aud="https://other.example/fhir")))
    assert "not issued by" in refused(verifier, signed(keys, raw_claims(iss="evil-idp")))


def test_alg_none_and_hs256_with_the_public_key_are_refused(keys, verifier):
    def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
        part = [base64.urlsafe_b64encode(json.dumps(x).encode()).rstrip(b"=").decode()
                for x in (header, claims)]
        return f"{part[0]}.{part[1]}."

    assert "'none'" in refused(verifier, unsigned({"alg": "none", "typ": "JWT"},
                                                  raw_claims()))
    # Algorithm confusion: an HS256 "signature" made with the public key as the secret.
    import hashlib
    import hmac

    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()
                                      ).rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(raw_claims()).encode()).rstrip(b"=")
    mac = hmac.new(keys[1].read_bytes(), header + b"." + body, hashlib.sha256).digest()
    forged = b".".join([header, body, base64.urlsafe_b64encode(mac).rstrip(b"=")]).decode()
    assert "'HS256'" in refused(verifier, forged)


def test_another_keys_signature_is_refused(tmp_path: Path, verifier):
    other = tmp_path / "other.pem"
    forged = mint(other, org="E06000019", org_type="la", scope="system/*.rs", audience=AUD,
                  issuer=ISS)
    assert "signature" in refused(verifier, forged)
    # And a token whose payload was edited after signing (another organisation).
    header, body, signature = forged.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["org"] = "E06000030"
    edited = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert "signature" in refused(verifier, f"{header}.{edited}.{signature}")


@pytest.mark.parametrize("claim", ["org", "org_type", "scope", "sub", "exp", "aud", "iss"])
def test_every_required_claim_must_be_there(keys, verifier, claim):
    assert claim in refused(verifier, signed(keys, raw_claims(**{claim: None})))


@pytest.mark.parametrize(("org", "org_type", "why"), [
    ("E06000019", "council", "org_type must be one of"),
    ("QGH", "la", "is not the code of la"),
    ("E06000019", "icb", "is not the code of icb"),
    ("rlq; drop", "trust", "is not the code of trust"),
])
def test_malformed_organisation_claims_are_refused(keys, verifier, org, org_type, why):
    assert why in refused(verifier, signed(keys, raw_claims(org=org, org_type=org_type)))


def test_an_es256_token_is_accepted_with_its_public_key(tmp_path: Path):
    key = ec.generate_private_key(ec.SECP256R1())
    public = tmp_path / "ec.pub.pem"
    public.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    verifier = Verifier(audience=AUD, issuer=ISS, leeway_seconds=30,
                        public_key_path=str(public))
    token = jwt.encode(raw_claims(org="QGH", org_type="icb"), key, algorithm="ES256")
    assert verifier.verify(f"Bearer {token}").viewer == Viewer("QGH", OrgType.ICB)


@pytest.fixture
def jwks_server(keys: tuple[Path, Path]) -> Iterator[str]:
    document = jwks(keys[0])
    server = make_server("127.0.0.1", 0, lambda environ, start: Response(
        document, content_type="application/json")(environ, start))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/jwks.json"
    server.shutdown()


def test_a_jwks_url_verifies_tokens_by_key_id(keys, jwks_server):
    verifier = Verifier(audience=AUD, issuer=ISS, leeway_seconds=30, jwks_url=jwks_server)
    assert verifier.verify(f"Bearer {good(keys)}").org == "E06000019"
    # A token signed by a key that is not in the set (no kid, or another kid) is refused.
    assert "key set" in refused(verifier, signed(keys, raw_claims()))


def test_an_unreachable_jwks_is_unavailable_not_a_bad_token(keys):
    verifier = Verifier(audience=AUD, issuer=ISS, leeway_seconds=30,
                        jwks_url="http://127.0.0.1:9/jwks.json")
    with pytest.raises(KeysUnavailable):
        verifier.verify(f"Bearer {good(keys)}")


def test_exactly_one_way_of_checking_keys_is_configured(keys):
    with pytest.raises(ValueError, match="exactly one"):
        Verifier(audience=AUD, issuer=ISS, leeway_seconds=30)
    with pytest.raises(ValueError, match="exactly one"):
        Verifier(audience=AUD, issuer=ISS, leeway_seconds=30, public_key_path=str(keys[1]),
                 jwks_url="http://x")


@pytest.mark.parametrize(("text", "allowed", "denied"), [
    ("system/EpisodeOfCare.rs", [("EpisodeOfCare", "r"), ("EpisodeOfCare", "s")],
     [("EpisodeOfCare", "u"), ("Patient", "r")]),
    ("system/*.cruds", [("Patient", "c"), ("Task", "d")], []),
    ("user/Patient.read", [("Patient", "r"), ("Patient", "s")], [("Patient", "c")]),
    ("system/CarePlan.write", [("CarePlan", "c"), ("CarePlan", "u")], [("CarePlan", "r")]),
    ("patient/*.cruds", [], [("Patient", "r")]),  # no patient launch context here
    ("system/EpisodeOfCare.sr", [], [("EpisodeOfCare", "r")]),  # v2 letters out of order
    ("system/EpisodeOfCare.rs?status=active", [], [("EpisodeOfCare", "r")]),
    ("openid fhirUser", [], [("Patient", "r")]),
])
def test_smart_scopes(text, allowed, denied):
    scopes = Scopes.parse(text)
    assert all(scopes.allows(*a) for a in allowed)
    assert not any(scopes.allows(*d) for d in denied)


def test_a_token_is_verified_once_until_it_expires(  # type: ignore[no-untyped-def]
        keys: tuple[Path, Path], monkeypatch) -> None:
    """Issue 22, Build 4: the signature of a token seen before is not checked again while the
    token is valid; once exp (plus the leeway) has passed it is refused as expired."""
    from adapter.auth import tokens
    verifier = Verifier(audience=AUD, issuer=ISS, leeway_seconds=0,
                        public_key_path=str(keys[1]))
    decoded: list[str] = []
    real_decode = jwt.decode
    monkeypatch.setattr(tokens.jwt, "decode", lambda token, *a, **k: (
        decoded.append(token), real_decode(token, *a, **k))[1])
    token = signed(keys, raw_claims(exp=int(time.time()) + 2))
    first = verifier.verify(f"Bearer {token}")
    assert verifier.verify(f"Bearer {token}") == first
    assert decoded == [token]
    other = signed(keys, raw_claims(sub="la:E06000019:user-2"))
    assert verifier.verify(f"Bearer {other}").subject == "la:E06000019:user-2"
    assert decoded == [token, other]
    time.sleep(3)
    assert "expired" in refused(verifier, token)
