"""JSON (de)serialisation of domain dataclasses for the document columns, via pydantic
TypeAdapters so the domain stays plain dataclasses."""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

from pydantic import TypeAdapter

from register import commands as c
from register.events import EntitlementEvent
from register.model import Entitlement, PersonFacts

T = TypeVar("T")


@cache
def _adapter(cls: type) -> TypeAdapter[Any]:
    return TypeAdapter(cls)


def dump(value: object) -> Any:
    return _adapter(type(value)).dump_python(value, mode="json")


def load(cls: type[T], data: Any) -> T:
    return _adapter(cls).validate_python(data)


def load_facts(data: dict[str, Any]) -> PersonFacts:
    return _adapter(PersonFacts).validate_python(data)


def load_event(data: dict[str, Any]) -> EntitlementEvent:
    """An outbox payload; older rows lack the fields added since, which take their defaults."""
    return _adapter(EntitlementEvent).validate_python(data)


def load_entitlement(data: dict[str, Any]) -> Entitlement:
    return _adapter(Entitlement).validate_python(data)


def _command_types() -> dict[str, type[c.Command]]:
    found: dict[str, type[c.Command]] = {}
    pending: list[type[c.Command]] = [c.Command]
    while pending:
        cls = pending.pop()
        found[cls.__name__] = cls
        pending += cls.__subclasses__()
    return found


COMMAND_TYPES = _command_types()


def load_command(kind: str, data: dict[str, Any]) -> c.Command:
    return _adapter(COMMAND_TYPES[kind]).validate_python(data)
