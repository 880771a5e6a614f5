"""How a review's attendee is written in a FHIR Task input and a council file: `Name (role,
ORG)`, `Name (role)`, `Name (ORG)` or `Name`, ORG an ODS or GSS code in capitals."""

from __future__ import annotations

import re

from register.model import Attendee

_WRITTEN = re.compile(r"^(?P<name>[^()]+?)(?: \((?:(?P<role>[^,()]+?)(?:, )?)?"
                      r"(?P<org>[A-Z][A-Z0-9]{2,8})?\))?$")
_CODE = re.compile(r"[A-Z][A-Z0-9]{2,8}")


def written(attendee: Attendee) -> str:
    detail = ", ".join(p for p in (attendee.role, attendee.organisation) if p)
    return f"{attendee.name} ({detail})" if detail else attendee.name


def read(text: str) -> Attendee | None:
    """The attendee `text` names, or None if it is not written as above."""
    found = _WRITTEN.match(text.strip())
    if not found:
        return None
    role, org = (found["role"] or "").strip(), found["org"]
    if role and not org and _CODE.fullmatch(role):
        role, org = "", role
    return Attendee(found["name"].strip(), role, org)
