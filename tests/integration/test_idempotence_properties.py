"""Property tests on the real store (SQLite and PostgreSQL): a command stream applied
twice, or with duplicates anywhere later in the stream, or with a person's discharge
arriving before its admission, leaves the same register (issue 2, Build 8)."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from adapter.synthetic import Generator, fixture_areas
from register import commands as c
from register.service import RegisterService
from register.store.orm import EntitlementRow, OutboxRow, PersonRow
from tests.conftest import empty_register, table_dump

AREAS = fixture_areas()
PROPERTY = settings(max_examples=8, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def stream(seed: int, people: int = 6) -> list[c.Command]:
    return [cmd for _, cmds in Generator(seed, AREAS).people(people) for cmd in cmds]


def register_state(engine: Engine) -> dict[str, object]:
    """What a reader can see: facts and entitlements per person, and the events announced."""
    with Session(engine) as session:
        people = {p.nhs_number: p.facts for p in session.scalars(select(PersonRow))}
        ents = sorted((e.id, e.status, e.responsible_la, e.responsible_icb, e.snapshot)
                      for e in session.scalars(select(EntitlementRow)))
        events = sorted((o.entitlement_id, o.event, o.payload["status"])
                        for o in session.scalars(select(OutboxRow)))
    return {"people": people, "entitlements": ents, "events": events}


def play(service: RegisterService, commands: list[c.Command]) -> None:
    for cmd in commands:
        service.handle(cmd)


@PROPERTY
@given(seed=st.integers(0, 10_000))
def test_replaying_a_stream_changes_nothing(engine, service, seed):
    empty_register(engine)
    commands = stream(seed)
    play(service, commands)
    before = table_dump(engine)
    outcomes = [service.handle(cmd).status for cmd in commands]
    assert set(outcomes) == {"duplicate"}
    assert table_dump(engine) == before


@PROPERTY
@given(seed=st.integers(0, 10_000), dup_seed=st.integers(0, 10_000))
def test_duplicates_anywhere_later_give_the_same_register(engine, service, seed, dup_seed):
    commands = stream(seed)
    empty_register(engine)
    play(service, commands)
    expected = register_state(engine)

    rng = random.Random(dup_seed)
    noisy = list(commands)
    for cmd in rng.sample(commands, k=max(1, len(commands) // 3)):
        noisy.insert(rng.randint(noisy.index(cmd) + 1, len(noisy)), cmd)
    empty_register(engine)
    play(service, noisy)
    assert register_state(engine) == expected


@PROPERTY
@given(seed=st.integers(0, 10_000))
def test_a_discharge_before_its_admission_ends_in_the_same_register(engine, service, seed):
    commands = stream(seed)
    empty_register(engine)
    play(service, commands)
    expected = register_state(engine)

    # Move each discharge to just before its own admission (a PAS resending out of order).
    reordered = list(commands)
    for cmd in commands:
        if isinstance(cmd, c.Discharge):
            reordered.remove(cmd)
            admission = next(i for i, a in enumerate(reordered)
                             if isinstance(a, c.Admit) and a.stay_key == cmd.stay_key)
            reordered.insert(admission, cmd)
    empty_register(engine)
    play(service, reordered)
    got = register_state(engine)
    assert got["people"] == expected["people"]
    assert [e[:4] for e in got["entitlements"]] == [e[:4] for e in expected["entitlements"]]
