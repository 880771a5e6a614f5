"""Per-subscriber RabbitMQ users through the management HTTP API (what docker-compose's
`rabbitmq:*-management` image offers). The project machine's broker has no management plugin,
so the API is played by a small werkzeug app that checks what RabbitMQ's API checks (basic
auth, JSON bodies, URL-encoded vhost) and records the calls: a stand-in for a service that does
not exist here. The same users made with `rabbitmqctl` on the real broker are tested in
test_amqp_subscriber.py."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from queues.outbound.credentials import ManagementApi, broker_users, read_only
from register.errors import InvalidData
from tests.outbound_support import free_port


@pytest.fixture
def management() -> Iterator[tuple[str, list[tuple[str, str, Any]]]]:
    calls: list[tuple[str, str, Any]] = []
    users: set[str] = set()

    @Request.application
    def app(request: Request) -> Response:
        if request.authorization is None or (request.authorization.username,
                                             request.authorization.password) != ("admin", "pw"):
            return Response(status=401)
        body = json.loads(request.get_data()) if request.get_data() else None
        calls.append((request.method, request.environ["RAW_URI"], body))
        name = request.environ["RAW_URI"].rsplit("/", 1)[1]
        if request.method == "PUT" and request.path.startswith("/api/users/"):
            users.add(name)
        if request.method == "DELETE":
            if name not in users:
                return Response(status=404)
            users.discard(name)
        return Response(status=201 if request.method == "PUT" else 204)

    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://admin:pw@127.0.0.1:{port}", calls
    server.shutdown()


def test_a_subscriber_user_may_read_its_queue_and_nothing_else(management):  # type: ignore[no-untyped-def]
    url, calls = management
    api = broker_users(url)
    assert isinstance(api, ManagementApi)
    api.create("s117-subscriber-1", "secret", "/", "s117.subscription.1")
    assert calls == [
        ("PUT", "/api/users/s117-subscriber-1", {"password": "secret", "tags": ""}),
        ("PUT", "/api/permissions/%2F/s117-subscriber-1",
         {"configure": "^$", "write": "^$", "read": r"^s117\.subscription\.1$"})]
    api.delete("s117-subscriber-1")
    api.delete("s117-subscriber-1")  # already gone: not an error
    assert [c[0] for c in calls[2:]] == ["DELETE", "DELETE"]


def test_wrong_admin_credentials_are_an_error_that_says_so(management):  # type: ignore[no-untyped-def]
    url, _ = management
    with pytest.raises(RuntimeError, match="HTTP 401"):
        ManagementApi(url.replace(":pw@", ":wrong@")).create("u", "p", "/", "q")


def test_the_setting_names_what_it_accepts():
    assert broker_users(None) is None
    assert read_only("a.b")["read"] == r"^a\.b$"
    with pytest.raises(InvalidData, match="S117_AMQP_ADMIN"):
        broker_users("ftp://broker")
