"""The storage the service needs, as protocols; `register.store` implements them with
SQLAlchemy. Tests of the service logic can use the same SQL store on SQLite."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from register.casework import Casework, PlanState
from register.commands import Command
from register.events import EntitlementEvent
from register.model import Entitlement, PersonFacts


@dataclass
class PersonRecord:
    """The aggregate as loaded: facts plus the entitlements as last stored."""

    facts: PersonFacts
    entitlements: list[Entitlement] = field(default_factory=list)
    residence_la: str | None = None
    next_review_due: dict[str, date | None] = field(default_factory=dict)
    id: int | None = None
    held: int = 0  # commands held for this person, so most commands skip the held lookup
    version: int = 0  # stored version of the person (0: not stored yet)
    entitlement_versions: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class HeldCommand:
    command: Command
    reason: str
    received_at: datetime


@dataclass(frozen=True)
class EntitlementSummary:
    """One row of a caseload list (what the queries return)."""

    entitlement_id: str
    nhs_number: str
    status: str
    planned_on: date
    started_on: date | None
    ended_on: date | None
    local_authority: str | None
    icb: str | None
    residence_la: str | None
    next_review_due: date | None
    needs_review: bool


@dataclass(frozen=True)
class StoredPerson:
    """A person as stored, with the version that FHIR reads expose."""

    id: int
    version: int
    updated_at: datetime
    facts: PersonFacts


@dataclass(frozen=True)
class StoredEntitlement:
    """An entitlement as stored, with its version and what was derived alongside it."""

    entitlement: Entitlement
    person_id: int
    version: int
    updated_at: datetime
    residence_la: str | None
    next_review_due: date | None


@dataclass(frozen=True)
class StoredPlan:
    """An aftercare plan as shown, as stored, with its version."""

    state: PlanState
    person_id: int
    version: int
    updated_at: datetime
    responsible_la: str | None = None
    responsible_icb: str | None = None


class People(Protocol):
    def get(self, nhs_number: str) -> PersonRecord | None: ...
    def preload(self, nhs_numbers: list[str]) -> None:
        """Read these people ahead, together (a batch is about them)."""
    def add(self, record: PersonRecord) -> None: ...
    def save(self, record: PersonRecord, events: list[EntitlementEvent],
             command_id: str) -> None: ...
    def find_entitlement(self, entitlement_id: str) -> str | None:
        """NHS number of the person holding an entitlement."""
        ...

    def search(self, *, local_authority: str | None = None, icb: str | None = None,
               residence_la: str | None = None, out_of_area: bool = False,
               status: str | None = None, review_due_before: date | None = None,
               limit: int = 1000) -> list[EntitlementSummary]: ...


class Inbox(Protocol):
    def claim(self, command_id: str, kind: str) -> str | None:
        """Record the id as applied; if it was already recorded, return its outcome."""

    def preclaim(self, commands: list[tuple[str, str]]) -> None:
        """Claim the ids (id, kind) of a batch applied all or nothing, together."""

    def record(self, command_id: str, kind: str, outcome: str, detail: str = "") -> None: ...

    def forget(self, command_id: str) -> None:
        """Drop the id, so the same command can be applied when it is sent again."""

    def outcome_of(self, command_id: str) -> str | None:
        """What became of this id here (applied, held, forwarded ...); None: not seen."""


class Outbox(Protocol):
    def add(self, events: list[EntitlementEvent]) -> None: ...


class ProvenanceLog(Protocol):
    def add(self, command: Command) -> None:
        """Record who asked for this applied command (its `agent`)."""


class Held(Protocol):
    def add(self, nhs_number: str, command: Command, reason: str) -> None: ...
    def for_person(self, nhs_number: str) -> list[HeldCommand]: ...
    def find(self, command_id: str) -> tuple[str, HeldCommand] | None:
        """The NHS number a held command is filed under, and the command; None if not held."""
    def remove(self, command_id: str) -> None: ...
    def rekey(self, old_nhs_number: str, new_nhs_number: str) -> None: ...


class CaseworkStore(Protocol):
    """The derived casework of each person (plans as shown, tasks, alerts), kept beside the
    facts in the same transaction so that searches across people can find it."""

    def save(self, record: PersonRecord, casework: Casework, command_id: str) -> None: ...
    def plan_version(self, plan_id: str) -> int:
        """Stored version of an aftercare plan (0: not stored)."""
        ...


class Replicas(Protocol):
    """People whose record another regional register owns (register.federation)."""

    def owner_of(self, person_id: int | None) -> tuple[str, int] | None:
        """The owning region and its last event applied here; None: this register owns it."""
    def save(self, person_id: int, owner: str, event_number: int) -> None: ...
    def forward(self, owner: str, command: Command, reply_to: str | None = None) -> None:
        """Keep a command written here on a replica, for the link to take to its owner;
        `reply_to`: the register it was written on, when it only passes through here."""
    def hand_over(self, person_id: int, to: str, rule: str, detail: str) -> None:
        """This register gives the record to `to`: it holds a replica from now on, and the
        link offers the record to `to` once this register's events before it have gone."""
    def take_over(self, person_id: int, origin: str, event_number: int, rule: str,
                  detail: str) -> None:
        """This register owns the record `origin` handed over (its event `event_number`)."""


class UnitOfWork(Protocol):
    people: People
    replicas: Replicas
    inbox: Inbox
    outbox: Outbox
    held: Held
    casework: CaseworkStore
    provenance: ProvenanceLog

    def __enter__(self) -> UnitOfWork: ...
    def __exit__(self, *args: object) -> None: ...
    def commit(self) -> None: ...
    def savepoint(self) -> AbstractContextManager[None]: ...
    def rollback(self) -> None: ...
