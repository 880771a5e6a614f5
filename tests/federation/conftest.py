"""Two regional registers on this machine, and the federation ledger.

Each register has its own PostgreSQL database and RabbitMQ virtual host (made here, dropped
after), its `s117 serve`, `worker`, `relay` and `federation run` processes, and a federation
link from the other's virtual host by the real `rabbitmq_federation` plugin. The ledger
prints each scenario's counts at the end of the run, as tests/faults does."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.auth_support import checked_env
from tests.conftest import PG_ADMIN, prepared_engine, service_unavailable
from tests.e2e.test_cli import run
from tests.processes import Service, free_port, wait_for

LEDGER: list[dict[str, Any]] = []
AMQP = "amqp://guest:guest@127.0.0.1:5672"
LONDON, MIDLANDS = "Y56", "Y60"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not LEDGER:
        return
    terminalreporter.section("federation: counts per scenario")
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in LEDGER:  # one table per kind of scenario (their columns differ)
        shapes.setdefault(tuple(row), []).append(row)
    for columns, rows in shapes.items():
        widths = [max(len(c), *(len(str(row[c])) for row in rows)) for c in columns]
        terminalreporter.write_line("  ".join(c.rjust(w) for c, w in zip(columns, widths,
                                                                          strict=True)))
        for row in rows:
            terminalreporter.write_line("  ".join(str(row[c]).rjust(w) for c, w in zip(
                columns, widths, strict=True)))


def rabbitmqctl(*args: str, stdin: str | None = None) -> str:
    """rabbitmqctl, tried again a few times: on a busy broker a command just after
    `add_vhost` can find the virtual host not there yet."""
    for attempt in range(5):
        done = subprocess.run(["rabbitmqctl", "-q", *args], input=stdin, capture_output=True,
                              text=True, timeout=60)
        if done.returncode == 0:
            return done.stdout
        time.sleep(1 + attempt)
    raise AssertionError(f"rabbitmqctl {' '.join(args[:3])}: {done.stderr or done.stdout}")


@dataclass
class Region:
    code: str
    cwd: Path
    database_url: str
    vhost: str
    link_user: str = ""
    link_password: str = ""
    processes: dict[str, Service] = field(default_factory=dict)
    base: str = ""
    peers: str = ""  # S117_FEDERATION_PEERS: the registers this one exchanges with

    @property
    def link_url(self) -> str:
        """What a peer's federation upstream connects to, to read this register's sends."""
        return (f"amqp://{self.link_user}:{self.link_password}@127.0.0.1:5672/"
                f"{urllib.parse.quote(self.vhost, safe='')}")

    def let_links_in(self) -> None:
        rabbitmqctl("set_permissions", "-p", self.vhost, self.link_user, ".*", ".*", ".*")

    def shut_links_out(self) -> None:
        """A partition: the peers' links lose their connection and cannot come back; what
        this register sends them waits in the plugin's queue on this side."""
        rabbitmqctl("clear_permissions", "-p", self.vhost, self.link_user)
        rabbitmqctl("close_all_user_connections", self.link_user, "partition (test)")

    @property
    def amqp_url(self) -> str:
        return f"{AMQP}/{urllib.parse.quote(self.vhost, safe='')}"

    @property
    def env(self) -> dict[str, str]:
        return checked_env(S117_DATABASE_URL=self.database_url, S117_AMQP_URL=self.amqp_url,
                           S117_REGION=self.code, S117_AMQP_ADMIN="rabbitmqctl",
                           S117_FEDERATION_PEERS=self.peers)

    def s117(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run(*args, cwd=self.cwd, env=self.env)

    def start(self, name: str) -> Service:
        args = {"serve": ["serve", "--port", str(self.port)], "worker": ["worker"],
                "relay": ["relay"], "federation": ["federation", "run"]}[name]
        self.processes[name] = Service(args, self.env, self.cwd, f"{name}-{self.code}").start()
        return self.processes[name]

    def stop(self, name: str) -> None:
        self.processes[name].stop()

    port: int = 0

    def serving(self) -> None:
        self.port = free_port()
        self.start("serve")
        self.base = f"http://127.0.0.1:{self.port}/fhir"

        def up() -> bool:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz",
                                       timeout=2).close()
                return True
            except OSError:
                assert self.processes["serve"].running, self.processes["serve"].output()
                return False
        wait_for(up, 180, f"s117 serve of {self.code}")


def _database() -> str:
    name = f"s117_fed_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return f"{base}/{name}"


def _drop(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# SW1A 1AA is Westminster's (E09000033): the shipped fixtures have no London postcode.
LONDON_POSTCODES = "pcds,laua\nSW1A 1AA,E09000033\n"


@pytest.fixture(scope="module")
def regions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Region]]:
    if shutil.which("rabbitmqctl") is None:
        service_unavailable("rabbitmqctl", FileNotFoundError("rabbitmqctl"))
    try:
        psycopg.connect(PG_ADMIN, connect_timeout=5).close()
    except psycopg.OperationalError as error:
        service_unavailable("PostgreSQL at 127.0.0.1:5432", error)
    subprocess.run(["rabbitmq-plugins", "enable", "rabbitmq_federation"], check=True,
                   capture_output=True, timeout=120)
    made: dict[str, Region] = {}
    try:
        for code in (LONDON, MIDLANDS):
            vhost = f"s117_fed_{code}_{uuid.uuid4().hex[:8]}"
            rabbitmqctl("add_vhost", vhost)
            rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
            region = Region(code, tmp_path_factory.mktemp(code), _database(), vhost,
                            link_user=f"{vhost}_link", link_password=uuid.uuid4().hex,
                            peers=MIDLANDS if code == LONDON else LONDON)
            # The peers' links read this register's virtual host as their own user, so an
            # outage can be made by shutting that user out (as a firewall would).
            rabbitmqctl("add_user", region.link_user, stdin=region.link_password)
            region.let_links_in()
            made[code] = region
            prepared_engine(region.database_url)
            postcodes = region.cwd / "london-postcodes.csv"
            postcodes.write_text(LONDON_POSTCODES)
            for args in (("refdata", "load", "postcodes", str(postcodes)),
                         ("queues", "declare", "--definitions", str(region.cwd / "d.json"))):
                done = region.s117(*args)
                assert done.returncode == 0, done.stderr + done.stdout
        for code, region in made.items():
            for peer_code, peer in made.items():
                if peer_code != code:
                    done = region.s117("federation", "link", peer_code, peer.link_url)
                    assert done.returncode == 0, done.stderr + done.stdout
        for region in made.values():
            region.serving()
            for name in ("worker", "relay", "federation"):
                region.start(name)
        wait_for(lambda: all(_links_running(r.vhost) for r in made.values()), 180,
                 "the federation links to be running")
        yield made
    finally:
        for region in made.values():
            for process in region.processes.values():
                process.stop()
        for region in made.values():
            subprocess.run(["rabbitmqctl", "-q", "delete_vhost", region.vhost],
                           capture_output=True, timeout=60)
            subprocess.run(["rabbitmqctl", "-q", "delete_user", region.link_user],
                           capture_output=True, timeout=60)
            _drop(region.database_url)


def links(vhost: str) -> list[dict[str, Any]]:
    """The plugin's own view of the federation links into `vhost`."""
    found = json.loads(rabbitmqctl("federation_status", "--formatter", "json") or "[]")
    return [link for link in found if link.get("vhost") == vhost]


def _links_running(vhost: str) -> bool:
    return any(link.get("status") == "running" for link in links(vhost))
