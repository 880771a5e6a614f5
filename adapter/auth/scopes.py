"""SMART on FHIR scopes (v2 `system/EpisodeOfCare.rs`, and the v1 forms `.read`, `.write`
and `.*` that identity providers still issue), as the register reads them.

Interactions are SMART v2's letters: c create, r read (read, vread, history of one
resource, operations that read one), u update (and operations that change one), d delete,
s search (and type-level history). The register has no patient-launch context, so `patient/`
scopes grant nothing; `user/` and `system/` grant alike (the token's organisation, not its
context, decides what is visible). A scope with a query (`?category=...`) is not honoured:
granting less than it says is safe, more is not."""

from __future__ import annotations

import re
from dataclasses import dataclass

LETTERS = "cruds"
_SCOPE = re.compile(r"^(system|user|patient)/([A-Za-z]+|\*)\.([a-z*]+)$")
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}


@dataclass(frozen=True)
class Scopes:
    grants: frozenset[tuple[str, str]]  # (resource type or *, interaction letter)
    text: str

    @classmethod
    def parse(cls, text: str) -> Scopes:
        grants: set[tuple[str, str]] = set()
        for scope in text.split():
            found = _SCOPE.match(scope)
            if not found or found.group(1) == "patient":
                continue
            resource, permissions = found.group(2), found.group(3)
            letters = _V1.get(permissions) or (permissions if _v2(permissions) else "")
            grants.update((resource, letter) for letter in letters)
        return cls(frozenset(grants), text)

    def allows(self, resource_type: str, interaction: str) -> bool:
        return (resource_type, interaction) in self.grants or ("*", interaction) in self.grants


def _v2(permissions: str) -> bool:
    """SMART v2 permissions are letters of `cruds`, each once, in that order."""
    positions = [LETTERS.find(letter) for letter in permissions]
    return -1 not in positions and positions == sorted(set(positions))


ALL = Scopes.parse("system/*.cruds")
