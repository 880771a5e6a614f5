"""Every page is in the access policy's page table or public by decision, like the API's
routes (tests/unit/test_access.py), and a page the table misses is for admins only."""

from __future__ import annotations

from adapter import config
from adapter.http import policy
from adapter.http.app import create_app
from register.access import OrgType


def test_every_page_is_public_by_decision_or_in_the_policy(tmp_path):
    app = create_app(config.from_env({"S117_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}))
    pages = [r.endpoint for r in app.url_map.iter_rules()
             if r.endpoint.startswith(f"{policy.PAGES_BLUEPRINT}.")]
    assert "pages.person" in pages and "pages.static" in pages
    for endpoint in pages:
        need = policy.page_need(endpoint)
        if endpoint in policy.PUBLIC_PAGES:
            assert need is None
        else:
            assert need in policy.PAGES.values(), f"{endpoint} is not in policy.PAGES"
    assert policy.page_need("pages.something_new").kinds == frozenset({OrgType.ADMIN})
    assert policy.PAGES["pages.quarantine"].kinds == frozenset({OrgType.TRUST, OrgType.ADMIN})


def test_with_auth_on_and_no_secret_key_the_pages_are_off_and_the_api_is_not(tmp_path):
    from adapter.auth.issue import ensure_key_pair

    public = ensure_key_pair(tmp_path / "key.pem")
    app = create_app(config.from_env({"S117_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
                                      "S117_AUTH": "jwt", "S117_JWT_PUBLIC_KEY": str(public)}))
    client = app.test_client()
    assert client.get("/").status_code == 503
    assert client.get("/fhir/metadata").status_code == 200
    assert client.get("/fhir/Patient").status_code == 401
