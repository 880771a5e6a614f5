"""Two regional registers linked by the RabbitMQ federation plugin (issue 23): how fast the
owner's changes cross the link, how far behind the peer is with the link up, and how long the
peer takes to catch up after an outage.

London (Y56) owns the people (its trust's admissions and discharges, applied through the
register service on its database: the relay and `s117 federation run` take them from there);
the Midlands register (Y60) keeps the replicas (Herefordshire residents, ICB QGH). Each has its
own PostgreSQL database and RabbitMQ virtual host; `s117 relay` and `s117 federation run` run
as processes. Measured from the two databases: owner commit time (outbox) -> peer applied time
(inbox) per event, both naive UTC on this one machine.

1. steady: `--rate` people a second for `--seconds`: lag p50/p99;
2. outage: the link's user shut out of London's virtual host for `--outage` seconds (and at
   least `--burst` people) while London goes on working; catch-up time from the link's
   return until the peer has it all, and the backlog over that time: events/s across the
   link.

    python -m bench.federation [--rate 20 --seconds 30 --burst 500 --outage 60]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console

from bench.core import AMQP, PG_ADMIN, percentile, prepare
from register import commands as c
from register.model import Address
from register.nhs_number import synthetic

S117 = str(Path(sys.executable).parent / "s117")
LONDON, MIDLANDS = "Y56", "Y60"


def rabbitmqctl(*args: str, stdin: str | None = None) -> None:
    """rabbitmqctl, tried again a few times (a busy broker can refuse a command just after
    `add_vhost`)."""
    for attempt in range(5):
        done = subprocess.run(["rabbitmqctl", "-q", *args], input=stdin, text=True,
                              capture_output=True, timeout=60)
        if done.returncode == 0:
            return
        time.sleep(1 + attempt)
    raise RuntimeError(f"rabbitmqctl {args[0]}: {done.stderr or done.stdout}")


@dataclass
class Register:
    """One regional register: a database, a virtual host, a link user, its processes."""

    code: str
    tmp: Path

    def __post_init__(self) -> None:
        self.name = f"s117_bench_{self.code}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.name}"')
        self.url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://",
                                                      "postgresql+psycopg://") + f"/{self.name}"
        rabbitmqctl("add_vhost", self.name)
        rabbitmqctl("set_permissions", "-p", self.name, "guest", ".*", ".*", ".*")
        self.link_user, self.link_password = f"{self.name}_link", uuid.uuid4().hex
        rabbitmqctl("add_user", self.link_user, stdin=self.link_password)
        self.let_links_in()
        self.amqp = f"{AMQP}/{urllib.parse.quote(self.name, safe='')}"
        self.service, self.sessions, _ = prepare(self.url)
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("S117_")},
                    "S117_DATABASE_URL": self.url, "S117_AMQP_URL": self.amqp,
                    "S117_REGION": self.code}
        self.processes: list[subprocess.Popen[bytes]] = []
        self.s117("queues", "declare", "--definitions", str(self.tmp / f"{self.code}.json"))

    @property
    def link_url(self) -> str:
        return (f"amqp://{self.link_user}:{self.link_password}@127.0.0.1:5672/"
                f"{urllib.parse.quote(self.name, safe='')}")

    def s117(self, *args: str) -> None:
        subprocess.run([S117, *args], env=self.env, cwd=self.tmp, check=True,
                       capture_output=True, timeout=120)

    def start(self, *args: str) -> None:
        with (self.tmp / f"{self.code}-{args[0]}.log").open("ab") as log:
            self.processes.append(subprocess.Popen([S117, *args], env=self.env, cwd=self.tmp,
                                                   stdout=log, stderr=subprocess.STDOUT))

    def let_links_in(self) -> None:
        rabbitmqctl("set_permissions", "-p", self.name, self.link_user, ".*", ".*", ".*")

    def shut_links_out(self) -> None:
        rabbitmqctl("clear_permissions", "-p", self.name, self.link_user)
        rabbitmqctl("close_all_user_connections", self.link_user, "outage (bench)")

    def query(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url.replace("+psycopg", "")) as conn:
            return conn.execute(sql, args).fetchall()

    def close(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=30)
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", self.name], check=False,
                       capture_output=True)
        subprocess.run(["rabbitmqctl", "-q", "delete_user", self.link_user], check=False,
                       capture_output=True)


def detain(owner: Register, n: int) -> None:
    """A London trust's admission and discharge of a Herefordshire resident (ICB QGH)."""
    nhs = synthetic(200_000 + n)
    day = datetime(2025, 1, 10, 10)
    owner.service.handle(c.Admit(
        command_id=f"bench-adm-{n}", nhs_number=nhs, occurred_at=day, trust_ods="RRP",
        stay_ref=f"V{n}", admitted_at=day, legal_status="03",
        residence_before=Address(postcode="HR1 1AA"), gp_practice="Z10001"))
    out = datetime(2025, 3, 1, 12)
    owner.service.handle(c.Discharge(command_id=f"bench-dis-{n}", nhs_number=nhs,
                                     occurred_at=out, trust_ods="RRP", stay_ref=f"V{n}",
                                     discharged_at=out))


def sent_events(owner: Register) -> dict[int, datetime]:
    return dict(owner.query("SELECT f.outbox_id, o.created_at FROM federation_sent f "
                            "JOIN outbox o ON o.id = f.outbox_id WHERE f.region = %s",
                            MIDLANDS))


def applied(peer: Register) -> dict[int, datetime]:
    return {int(k.rsplit(":", 1)[1]): at for k, at in peer.query(
        "SELECT command_id, received_at FROM inbox WHERE command_id LIKE %s",
        f"federation:{LONDON}:%")}


def owner_events(owner: Register) -> int:
    """Events of London's that name a Midlands body (every one, here)."""
    return owner.query("SELECT count(*) FROM outbox")[0][0]


def wait_all(owner: Register, peer: Register, timeout: float) -> float:
    """Seconds until the peer has applied every event the owner committed."""
    started = time.monotonic()
    while True:
        if len(applied(peer)) >= owner_events(owner):
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"the peer has {len(applied(peer))} of "
                               f"{owner_events(owner)} events after {timeout} s")
        time.sleep(0.2)


def paced(owner: Register, first: int, people: int, rate: float) -> None:
    started = time.monotonic()
    for i in range(people):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        detain(owner, first + i)


def run(rate: float, seconds: float, burst: int, outage: float,
        console: Console | None = None) -> dict[str, float]:
    console = console or Console()
    with tempfile.TemporaryDirectory() as tmp:
        london, midlands = Register(LONDON, Path(tmp)), Register(MIDLANDS, Path(tmp))
        try:
            london.s117("federation", "link", MIDLANDS, midlands.link_url)
            midlands.s117("federation", "link", LONDON, london.link_url)
            london.start("relay", "--no-deliver")
            london.start("federation", "run")
            midlands.start("federation", "run")
            steady = int(rate * seconds)
            console.print(f"steady: {steady} people at {rate}/s")
            started = time.monotonic()
            paced(london, 0, steady, rate)
            console.print(f"  applied at London in {time.monotonic() - started:.1f} s")
            wait_all(london, midlands, 300)
            lags = [(applied(midlands)[n] - at).total_seconds()
                    for n, at in sent_events(london).items()]
            console.print(f"outage: {outage} s")
            before = len(applied(midlands))
            london.shut_links_out()
            down = time.monotonic()
            people = 0
            while time.monotonic() - down < outage or people < burst:
                detain(london, steady + people)
                people += 1
            backlog = owner_events(london) - before
            london.let_links_in()
            catch_up = wait_all(london, midlands, 900)
            return {"events": float(len(applied(midlands))),
                    "lag p50 ms": percentile(lags, 50), "lag p99 ms": percentile(lags, 99),
                    "outage s": time.monotonic() - down - catch_up,
                    "backlog events": float(backlog), "catch-up s": catch_up,
                    "events/s across the link": backlog / catch_up}
        finally:
            london.close()
            midlands.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.federation",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=20, help="people a second (steady)")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--burst", type=int, default=200,
                        help="people London takes at least while the link is down")
    parser.add_argument("--outage", type=float, default=60)
    args = parser.parse_args(argv)
    console = Console()
    for name, value in run(args.rate, args.seconds, args.burst, args.outage, console).items():
        console.print(f"{name}: {value:,.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])
