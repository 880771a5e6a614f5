"""Load for `bench.fhir`: the three reads councils and ICBs make most, weighted as a caseload
screen makes them. The ids to read come from files `bench.fhir` writes (environment
BENCH_FHIR_IDS): one JSON object with `entitlements`, `nhs_numbers` and `las`."""

from __future__ import annotations

import json
import os
import random

from locust import FastHttpUser, constant, task

with open(os.environ["BENCH_FHIR_IDS"], encoding="utf-8") as ids_file:
    IDS = json.load(ids_file)
NHS = "https://fhir.nhs.uk/Id/nhs-number"
# Every request carries a bearer token (bench.fhir starts the server with S117_AUTH=jwt).
ADMIN = {"Authorization": f"Bearer {IDS['admin']}"}


class Council(FastHttpUser):
    wait_time = constant(0)

    @task(6)
    def read(self) -> None:
        self.client.get(f"/fhir/EpisodeOfCare/{random.choice(IDS['entitlements'])}",
                        name="read EpisodeOfCare", headers=ADMIN)

    @task(3)
    def responsibility(self) -> None:
        self.client.get("/fhir/Patient/$s117-responsibility",
                        params={"identifier": f"{NHS}|{random.choice(IDS['nhs_numbers'])}"},
                        name="$s117-responsibility", headers=ADMIN)

    @task(1)
    def caseload(self) -> None:
        council = random.choice(IDS["las"])
        self.client.get("/fhir/EpisodeOfCare",
                        params={"responsible-la": council, "_count": "50"},
                        name="search responsible-la _count=50",
                        headers={"Authorization": f"Bearer {IDS['councils'][council]}"})


class Reads(FastHttpUser):
    """Reads only, for the comparison with the bare read of the same rows (bench.limits)."""

    wait_time = constant(0)

    @task
    def read(self) -> None:
        self.client.get(f"/fhir/EpisodeOfCare/{random.choice(IDS['entitlements'])}",
                        name="read EpisodeOfCare", headers=ADMIN)
