"""Reading a resource a client sent: content type, JSON, nesting depth, resourceType, then
the register's validator (base R4 and the declared profile). Every refusal names the element.

Status codes follow HAPI FHIR: a body that cannot be parsed as the resource is 400; a
well-formed resource that breaks one of our profiles is 422."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import request

from adapter.http.fhir.errors import FhirError, Issue
from fhir_profiles import canonical as url
from fhir_profiles import validate
from register.nhs_number import normalise

MAX_DEPTH = 48  # deeper than any resource here needs; stops stack-exhausting payloads
JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")
# FHIR's integer is 32-bit and its decimal has at most 18 significant digits: a longer
# number is no FHIR value, and Python refuses to convert one of over 4,300 digits anyway.
MAX_NUMBER_DIGITS = 40


class NumberTooLong(ValueError):
    pass


def _number(text: str, kind: type) -> Any:
    if len(text) > MAX_NUMBER_DIGITS:
        raise NumberTooLong(f"a number in the body has {len(text):,} characters, more than "
                            f"the {MAX_NUMBER_DIGITS} any FHIR value has")
    return kind(text)


def loads(raw: bytes | str) -> Any:
    """JSON as FHIR takes it: numbers of any length are refused by `NumberTooLong` (a
    ValueError) rather than converted."""
    return json.loads(raw, parse_int=lambda t: _number(t, int),
                      parse_float=lambda t: _number(t, float))


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else item \
            if isinstance(item, list) else ()
        stack.extend((child, level + 1) for child in children
                     if isinstance(child, dict | list))
    return deepest


def _normalise_nhs_numbers(data: Any) -> None:
    """NHS numbers as people type them (`999 000 0018`, `999-000-0018`) become the ten digits
    the register keeps, in every Identifier of the body (a Patient, a message's Patient, a
    batch entry's), before the profile's ten-digit invariant is checked."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("system") == url.NHS_NUMBER and isinstance(item.get("value"), str):
                item["value"] = normalise(item["value"])
            stack.extend(v for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, dict | list))


def body(*expected: str) -> dict[str, Any]:
    """The request body as a resource of one of the `expected` types (any type if none)."""
    mimetype = request.mimetype or ""
    if mimetype not in JSON_TYPES:
        raise FhirError(415, Issue("error", "not-supported",
                                   f"send application/fhir+json, not {mimetype or 'no type'}"))
    raw = request.get_data(cache=True)
    try:
        data = loads(raw)
    except NumberTooLong as exc:
        raise FhirError(400, Issue("error", "too-costly", str(exc))) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f" at line {exc.lineno} column {exc.colno}" \
            if isinstance(exc, json.JSONDecodeError) else ""
        raise FhirError(400, Issue("error", "structure",
                                   f"the body is not valid JSON{where}")) from None
    except RecursionError:
        raise FhirError(400, Issue("error", "too-costly", "the body is nested more than "
                                   f"{MAX_DEPTH} levels deep")) from None
    if not isinstance(data, dict):
        raise FhirError(400, Issue("error", "structure", "the body must be a JSON object"))
    if _depth(data) > MAX_DEPTH:
        raise FhirError(400, Issue("error", "too-costly",
                                   f"the body is nested more than {MAX_DEPTH} levels deep"))
    _normalise_nhs_numbers(data)
    kind = data.get("resourceType")
    if expected and kind not in expected:
        raise FhirError(400, Issue("error", "invalid",
                                   f"expected resourceType {' or '.join(expected)}, "
                                   f"got {kind!r}", ["resourceType"]))
    return data


# Profile invariants that state a rule of RULES.md: a breach names the rule, as the register
# does when it refuses a command.
INVARIANT_RULES = {"s117-cp-1": "F2", "s117-cov-1": "F1"}
_KEY = re.compile(r"\((s117-[a-z]+-\d+)\)$")


def _issue(found: validate.Issue) -> Issue:
    issue = Issue(found.severity, found.code, found.diagnostics, list(found.expression))
    key = _KEY.search(found.diagnostics) if found.code == "invariant" else None
    if key and key.group(1) in INVARIANT_RULES:
        issue.details = {"coding": [{"system": url.CS_RULE,
                                     "code": INVARIANT_RULES[key.group(1)]}],
                         "text": found.diagnostics}
    return issue


def checked(data: dict[str, Any], profile: str | None = None) -> dict[str, Any]:
    """Refuse the resource if it breaks base R4 (400) or the profile it must meet (422);
    warnings are not refusals."""
    issues = [i for i in validate.validate(data, profile) if i.severity in ("error", "fatal")]
    if not issues:
        return data
    status = 400 if any(i.code == "structure" for i in issues) else 422
    raise FhirError(status, *(_issue(i) for i in issues))
