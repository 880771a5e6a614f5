"""The conformance resources the register publishes, loaded once from the JSON files under
`fhir_profiles/resources/` (data, not code: one file per resource, named `<type>-<id>.json`).
The server serves them as they are; only the CapabilityStatement learns the address it is
served from."""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

Resource = dict[str, Any]
# The conformance resource types the server publishes (readable without a token).
CONFORMANCE_TYPES = ("StructureDefinition", "CodeSystem", "ValueSet", "SearchParameter",
                     "OperationDefinition", "CapabilityStatement")


@cache
def all_resources() -> tuple[Resource, ...]:
    folder = resources.files("fhir_profiles") / "resources"
    found = [json.loads(item.read_text(encoding="utf-8")) for item in sorted(
        folder.iterdir(), key=lambda p: p.name) if item.name.endswith(".json")]
    return tuple(found)


@cache
def _index() -> dict[tuple[str, str], Resource]:
    return {(r["resourceType"], r["id"]): r for r in all_resources()}


@cache
def _by_url() -> dict[str, Resource]:
    return {r["url"]: r for r in all_resources() if "url" in r}


def get(resource_type: str, resource_id: str) -> Resource | None:
    found = _index().get((resource_type, resource_id))
    return copy.deepcopy(found) if found else None


def by_url(canonical: str) -> Resource | None:
    found = _by_url().get(canonical.partition("|")[0])
    return copy.deepcopy(found) if found else None


def search(resource_type: str) -> list[Resource]:
    return [copy.deepcopy(r) for r in all_resources() if r["resourceType"] == resource_type]


def code_system(canonical: str) -> set[str]:
    """Every code of one of the project's CodeSystems (empty if the system is not ours)."""
    found = _by_url().get(canonical)
    if not found or found["resourceType"] != "CodeSystem":
        return set()

    def walk(concepts: list[Resource]) -> set[str]:
        return {c["code"] for c in concepts} | {
            code for c in concepts for code in walk(c.get("concept", []))}

    return walk(found.get("concept", []))


def capability_statement(base_url: str) -> Resource:
    """The published CapabilityStatement with `implementation.url` set to where this server
    answers, so clients that follow it reach this instance and not the canonical host."""
    [statement] = search("CapabilityStatement")
    statement["implementation"] = {**statement.get("implementation", {}), "url": base_url}
    return statement
