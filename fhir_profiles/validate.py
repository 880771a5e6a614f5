"""Validate a resource against base FHIR R4 and against this project's profiles.

Base R4: the `fhir.resources.R4B` model of the resource type (unknown elements, malformed
dates, missing required elements), plus what those models let through because they coerce
values: FHIR JSON types (`"active": "yes"` is not a boolean), nulls, empty arrays and objects,
resource ids longer than 64 characters, contained and Bundle resources of unknown types, and
extensions with neither or both of a value and sub-extensions (ext-1).

Profiles are read from the published StructureDefinitions, so the rules live in one place:
cardinality, fixed and pattern values, required bindings to the project's own value sets,
the slices used here (extensions by URL, identifiers by system), each extension's own
definition and allowed context (wherever one of ours appears), and FHIRPath invariants
(evaluated with fhirpathpy). Identifier systems with a check of their own (the NHS number
check digit) are checked where a profile fixes that system. Every issue names the element as
a FHIRPath-like path, e.g. `Patient.identifier[0].value`.

Issue codes: `structure` is reserved for content that is not valid R4 at all (the API answers
400); a valid R4 resource that breaks one of our profiles gets `required`, `value`,
`code-invalid`, `invariant`, `invalid` or `not-found` (the API answers 422).
"""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource as BaseResource
from fhirpathpy import evaluate
from fhirpathpy.models import models
from pydantic import BaseModel, ValidationError

from fhir_profiles import canonical as url
from fhir_profiles import registry
from register.nhs_number import passes_check_digit, problem

Resource = dict[str, Any]
Node = tuple[str, Any]  # (path, JSON value)
UK_CORE = "https://fhir.hl7.org.uk/StructureDefinition/"
HL7_CORE = "http://hl7.org/fhir/StructureDefinition/"


@dataclass(frozen=True)
class Issue:
    severity: str  # error | warning | information
    code: str  # FHIR issue-type: structure, required, value, code-invalid, invariant, ...
    diagnostics: str
    expression: tuple[str, ...] = ()


def validate(resource: Resource, profile: str | None = None) -> list[Issue]:
    """Base R4 first (if that fails, nothing else is checked), then every extension of ours
    wherever it appears, then `profile` or, if none is given, every profile the resource
    claims in meta.profile (and, in a Bundle, every profile its entries claim)."""
    issues = structure(resource)
    if issues:
        return issues
    kind = resource["resourceType"]
    issues = extensions(resource, kind)
    issues += profiles(resource, kind, profile)
    entries = (resource.get("entry") or []) if kind == "Bundle" else []
    for i, item in enumerate(entries):
        if isinstance(item.get("resource"), dict):
            issues += profiles(item["resource"], f"Bundle.entry[{i}].resource")
    return issues


# -- base R4 ----------------------------------------------------------------------------------

def structure(resource: Any) -> list[Issue]:
    """Errors that make the content invalid R4, each with code `structure`."""
    kind = resource.get("resourceType") if isinstance(resource, dict) else None
    model = _resource_model(kind)
    if model is None:
        return [Issue("error", "structure", f"{kind!r} is not an R4 resource type",
                      ("resourceType",))]
    issues, crashed = _model_issues(model, resource, str(kind))
    seen = {i.expression for i in issues}
    issues += [i for i in _json_shape(resource, model, str(kind)) if i.expression not in seen]
    if crashed and not issues:
        issues.append(Issue("error", "structure", f"{kind} could not be read as FHIR R4: "
                            f"{crashed}", (str(kind),)))
    return issues


@cache
def _model(name: str) -> type[BaseModel] | None:
    try:
        return get_fhir_model_class(name)
    except (KeyError, ValueError):
        return None


def _resource_model(kind: Any) -> type[BaseModel] | None:
    model = _model(kind) if isinstance(kind, str) and kind else None
    return model if model is not None and issubclass(model, BaseResource) else None


def _model_issues(model: type[BaseModel], resource: Resource,
                  kind: str) -> tuple[list[Issue], str | None]:
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        return [_pydantic_issue(kind, error) for error in exc.errors()], None
    except Exception as exc:  # noqa: BLE001 - the models crash on some malformed input
        return [], str(exc)
    return [], None


def _location(resource_type: str, loc: tuple[Any, ...]) -> str:
    path = resource_type
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not str(part).startswith(("function-", "model-")):
            path += f".{part}"
    return path


PLAIN = {  # pydantic error type -> what it means for a FHIR element
    "missing": "is required but missing",
    "string_type": "must be text (a JSON string)",
    "list_type": "must be a list (a JSON array), even with one item",
    "json_invalid": "must be a JSON object",
    "model_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "decimal_type": "must be a number",
    "decimal_parsing": "must be a number",
    "string_too_short": "must not be empty (leave the element out instead)",
    "date_from_datetime_parsing": "is not a real date (YYYY-MM-DD)",
    "date_parsing": "is not a real date (YYYY-MM-DD)",
}
FORMATS = {  # words in the models' value errors -> the format FHIR wants
    "Instant value": "is not a FHIR instant (e.g. 2024-05-10T12:00:00Z, with a time zone)",
    "DateTime value": "is not a FHIR dateTime (YYYY, YYYY-MM, YYYY-MM-DD, or a date and time "
                      "with a time zone such as 2024-05-10T12:00:00Z)",
    "Date value": "is not a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD)",
    "Time value": "is not a FHIR time (hh:mm:ss)",
    "Decimal value": "must be a number",
}


def _pydantic_issue(kind: str, error: Any) -> Issue:
    where = _location(kind, error["loc"])
    kind_of = error["type"]
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind_of == "extra_forbidden":
        name = where.rsplit(".", 1)[-1]
        text = f"{where}: '{name}' is not an element FHIR R4 has here (check the spelling)"
    elif kind_of in PLAIN:
        text = f"{where} {PLAIN[kind_of]}"
    elif kind_of == "string_pattern_mismatch":
        text = f"{where} is not in the format FHIR R4 requires for this element"
    elif found := next((words for key, words in FORMATS.items() if key in message), None):
        text = f"{where} {found}"
    elif "Any of one field value is expected" in message:
        choices = message.partition("list ")[2].partition("]")[0] + "]"
        text = f"{where} may have only one of {choices}"
    else:
        text = f"{where}: {message}"
    return Issue("error", "structure", text, (where,))


JSON_TYPES: dict[Any, tuple[tuple[type, ...], str]] = {
    bool: ((bool,), "true or false"),
    int: ((int,), "a whole number"),
    Decimal: ((int, float), "a number"),
}


def _shape(annotation: Any) -> tuple[Any, bool, tuple[Any, ...]]:
    """(type, is a list, annotations) of a model field; type None if mixed."""
    many, marks = False, ()
    while True:
        origin = typing.get_origin(annotation)
        args = tuple(a for a in typing.get_args(annotation) if a is not type(None))
        if origin is typing.Annotated:
            annotation, marks = args[0], args[1:]
        elif origin in (typing.Union, types.UnionType):
            if len(args) != 1:
                return None, many, marks
            annotation = args[0]
        elif origin is list:
            many, annotation = True, args[0]
        else:
            return annotation, many, marks


def _json_shape(node: Resource, model: type[BaseModel], path: str) -> Iterator[Issue]:
    """FHIR JSON rules the models do not enforce (they coerce or accept these)."""
    for name, field in model.model_fields.items():
        key = field.alias or name
        if key not in node or name == "fhir_comments":
            continue
        kind, many, marks = _shape(field.annotation)
        value, where = node[key], f"{path}.{key}"
        if value is None:
            yield Issue("error", "structure", f"{where} is null: leave the element out "
                        "instead", (where,))
        elif many and isinstance(value, list):
            if not value:
                yield Issue("error", "structure", f"{where} is an empty list: leave the "
                            "element out instead", (where,))
            for i, item in enumerate(value):
                if item is not None:  # nulls align primitive arrays with their `_name` twin
                    yield from _json_value(kind, marks, item, f"{where}[{i}]")
        elif not many:
            yield from _json_value(kind, marks, value, where)


def _is_model(kind: Any) -> bool:
    return hasattr(kind, "_model_klass")


def _json_value(kind: Any, marks: tuple[Any, ...], value: Any, where: str) -> Iterator[Issue]:
    if kind is None:
        return
    if _is_model(kind):
        if isinstance(value, dict):
            yield from _complex(kind.__name__.removesuffix("Type"), value, where)
        return
    expected, words = JSON_TYPES.get(kind, ((str,), "text (a JSON string)"))
    if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
        yield Issue("error", "structure", f"{where} must be {words} in FHIR JSON, not "
                    f"{json.dumps(value)[:40]}", (where,))
    elif any(type(m).__name__ == "Id" for m in marks) and len(value) > 64:
        yield Issue("error", "structure", f"{where} is longer than the 64 characters FHIR "
                    "allows for an id", (where,))


def _complex(name: str, value: Resource, where: str) -> Iterator[Issue]:
    if name == "Resource":
        model = _resource_model(value.get("resourceType"))
        if model is None:
            yield Issue("error", "structure", f"{where}.resourceType: "
                        f"{value.get('resourceType')!r} is not an R4 resource type",
                        (f"{where}.resourceType",))
            return
    else:
        model = _model(name)
        if model is None:
            return
    if not value:
        yield Issue("error", "structure", f"{where} is empty: an element needs a value or "
                    "children (ele-1)", (where,))
    if name == "Extension" and any(k.startswith("value") for k in value) == \
            bool(value.get("extension")):
        yield Issue("error", "structure", f"{where} must have either a value or "
                    "sub-extensions, not both or neither (ext-1)", (where,))
    yield from _json_shape(value, model, where)


# -- the register's extensions, wherever they appear ------------------------------------------

def _objects(node: Any, path: str, context: str) -> Iterator[tuple[str, str, Resource]]:
    """Every JSON object with its path and its context (type-rooted path, no indexes)."""
    if not isinstance(node, dict):
        return
    if isinstance(node.get("resourceType"), str):
        context = node["resourceType"]
    yield path, context, node
    for key, value in node.items():
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            where = f"{path}.{key}[{i}]" if isinstance(value, list) else f"{path}.{key}"
            yield from _objects(item, where, f"{context}.{key}")


def extensions(resource: Resource, root_path: str) -> list[Issue]:
    """An extension in this project's namespace must be one it publishes, used where its
    definition allows, and carry what its definition says (value type, sub-extensions)."""
    issues = []
    for path, context, node in _objects(resource, root_path, resource["resourceType"]):
        for key in ("extension", "modifierExtension"):
            for i, item in enumerate(node.get(key) or []):
                if str(item.get("url", "")).startswith(url.BASE):
                    issues += _our_extension(item, f"{path}.{key}[{i}]", context, key)
    return issues


def _our_extension(item: Resource, where: str, context: str, key: str) -> list[Issue]:
    definition = registry.by_url(item["url"])
    if definition is None or definition.get("type") != "Extension":
        return [Issue("error", "invalid", f"{where}: {item['url']} is not an extension this "
                      "register defines", (where,))]
    title = definition.get("title", definition["url"])
    allowed = [c["expression"] for c in definition.get("context", [])]
    issues = []
    if allowed and context not in allowed and not {"Element", "Resource"} & set(allowed):
        issues.append(Issue("error", "invalid", f"{where}: {title} may only be used on "
                            f"{' or '.join(allowed)}, not on {context}", (where,)))
    if key == "modifierExtension" and not _root(definition).get("isModifier"):
        issues.append(Issue("error", "invalid", f"{where}: {title} is not a modifier "
                            "extension; put it in `extension`", (where,)))
    return issues + conforms(item, definition, where)


# -- profiles ---------------------------------------------------------------------------------

def profiles(resource: Resource, root_path: str, profile: str | None = None) -> list[Issue]:
    """Check `resource` against `profile`, or else against each profile it claims."""
    claimed = [(profile, ())] if profile else [
        (p, (f"{root_path}.meta.profile[{i}]",))
        for i, p in enumerate((resource.get("meta") or {}).get("profile") or [])]
    issues = []
    for canonical, where in claimed:
        definition, note = _resolve(canonical, resource.get("resourceType", ""), where)
        if note is not None:
            issues.append(note)
        if definition is not None:
            issues += conforms(resource, definition, root_path)
    return issues


def _resolve(canonical: str, kind: str,
             where: tuple[str, ...]) -> tuple[Resource | None, Issue | None]:
    bare = canonical.partition("|")[0]
    found = registry.by_url(bare)
    if found is not None and found.get("kind") == "resource":
        if found["type"] != kind:
            return None, Issue("error", "invalid", f"profile {bare} is for {found['type']}, "
                               f"not {kind}", where)
        return found, None
    if bare.startswith(url.BASE):
        return None, Issue("error", "not-found", f"profile {bare} is not published here",
                           where)
    if bare == f"{HL7_CORE}{kind}":
        return None, None  # base R4 has been checked
    if bare.startswith(UK_CORE):
        return None, Issue("information", "informational", f"UK Core profile {bare} is not "
                           "checked here (the register's own profiles derive from UK Core)",
                           where)
    return None, Issue("warning", "not-found", f"profile {bare} is not known here and was not "
                       "checked", where)


def _index(definition: Resource) -> dict[str, Resource]:
    return {e["id"]: e for e in definition["differential"]["element"]}


def _root(definition: Resource) -> Resource:
    return _index(definition).get(definition["type"], {})


def conforms(node: Resource, definition: Resource, root_path: str) -> list[Issue]:
    """Walk the differential of `definition` over `node` (a resource or an extension)."""
    elements = _index(definition)
    root_name = definition["type"]
    root: Node = (root_path, node)
    issues: list[Issue] = []
    for element_id, element in elements.items():
        if element_id == root_name:
            issues += _invariants(element, [root])
            continue
        parent_id, _, last = element_id.rpartition(".")
        parents = [root] if parent_id == root_name else _select(root, parent_id, elements)
        for parent_path, parent in parents:
            nodes = _walk([(parent_path, parent)], [last], parent_id, elements)
            issues += _cardinality(element, nodes, parent_path, last)
            issues += _value_type(element, nodes)
            issues += [i for path, value in nodes for i in _fixed(element, path, value)]
            issues += _binding(element, nodes)
            issues += _invariants(element, nodes)
            if last == "system":
                issues += _identifier_check(element, parent_path, parent)
    return issues


def _children(node: Any, name: str) -> Iterator[tuple[str, Any]]:
    if not isinstance(node, dict):
        return
    if name.endswith("[x]"):
        stem = name[:-3]
        for key, value in node.items():
            if key.startswith(stem) and key[len(stem):][:1].isupper():
                yield key, value
    elif name in node:
        yield name, node[name]


def _in_slice(item: Any, slice_id: str, elements: dict[str, Resource]) -> bool:
    """Whether a list item belongs to the slice `slice_id` (discriminated by value)."""
    if not isinstance(item, dict):
        return False
    for kind in elements[slice_id].get("type", []):
        for profile in kind.get("profile", []):
            return item.get("url") == profile
    for child in ("system", "url"):
        fixed = elements.get(f"{slice_id}.{child}", {}).get("fixedUri")
        if fixed is not None:
            return item.get(child) == fixed
    return True


def _walk(start: list[Node], segments: list[str], prefix: str,
          elements: dict[str, Resource]) -> list[Node]:
    current, element_id = start, prefix
    for segment in segments:
        name, _, slice_name = segment.partition(":")
        element_id = f"{element_id}.{segment}"
        found: list[Node] = []
        for path, node in current:
            for key, value in _children(node, name):
                items = value if isinstance(value, list) else [value]
                for i, item in enumerate(items):
                    if slice_name and not _in_slice(item, element_id, elements):
                        continue
                    found.append((f"{path}.{key}[{i}]" if isinstance(value, list)
                                  else f"{path}.{key}", item))
        current = found
    return current


def _select(root: Node, element_id: str, elements: dict[str, Resource]) -> list[Node]:
    head, *segments = element_id.split(".")
    return _walk([root], segments, head, elements)


def _cardinality(element: Resource, nodes: list[Node], parent_path: str,
                 last: str) -> list[Issue]:
    low, high = element.get("min"), element.get("max")
    element_name, _, slice_name = last.partition(":")
    name = slice_name or element_name
    where = f"{parent_path}.{element_name}"
    if low is not None and len(nodes) < low:
        return [Issue("error", "required", f"{where}: {name} is required "
                      f"({low}..{high or '*'}), found {len(nodes)}", (where,))]
    if high == "0" and nodes:
        return [Issue("error", "invalid", f"{nodes[0][0]}: {name} is not allowed here",
                      (nodes[0][0],))]
    if high not in (None, "*") and len(nodes) > int(high):
        return [Issue("error", "invalid", f"{where}: {name} may occur at most {high} "
                      f"time(s), found {len(nodes)}", (nodes[int(high)][0],))]
    return []


def _value_type(element: Resource, nodes: list[Node]) -> list[Issue]:
    """A choice element (`value[x]`) must carry one of the types the definition allows."""
    allowed = {t["code"] for t in element.get("type", [])}
    if not element["path"].endswith("[x]") or not allowed:
        return []
    stem = element["path"].rsplit(".", 1)[1][:-3]
    issues = []
    for path, _ in nodes:
        suffix = path.rsplit(".", 1)[1][len(stem):]
        if not any(suffix == code[:1].upper() + code[1:] for code in allowed):
            issues.append(Issue("error", "invalid", f"{path} must be of type "
                                f"{' or '.join(sorted(allowed))}", (path,)))
    return issues


def _matches(pattern: Any, value: Any) -> bool:
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(_matches(v, value.get(k))
                                               for k, v in pattern.items())
    if isinstance(pattern, list):
        return isinstance(value, list) and all(any(_matches(p, v) for v in value)
                                               for p in pattern)
    return pattern == value


def _fixed(element: Resource, path: str, value: Any) -> list[Issue]:
    for key, expected in element.items():
        if key.startswith("fixed") and value != expected:
            return [Issue("error", "value", f"{path} must be {json.dumps(expected)}, not "
                          f"{json.dumps(value)}", (path,))]
        if key.startswith("pattern") and not _matches(expected, value):
            return [Issue("error", "value", f"{path} must contain {json.dumps(expected)}",
                          (path,))]
    return []


def _value_set(canonical: str) -> dict[str, set[str]] | None:
    """system -> its codes in one of our ValueSets (an empty set: any code of that system,
    as the register cannot list it); None if the value set is not ours."""
    found = registry.by_url(canonical)
    if found is None or found["resourceType"] != "ValueSet":
        return None
    allowed: dict[str, set[str]] = {}
    for include in found.get("compose", {}).get("include", []):
        codes = {c["code"] for c in include.get("concept", [])} or \
            registry.code_system(include.get("system", ""))
        allowed.setdefault(include.get("system", ""), set()).update(codes)
    return allowed


def _codes(value: Any) -> list[tuple[str | None, str | None]]:
    if isinstance(value, str):
        return [(None, value)]
    if isinstance(value, dict) and "coding" in value:
        return [(c.get("system"), c.get("code")) for c in value["coding"]]
    if isinstance(value, dict):
        return [(value.get("system"), value.get("code"))]
    return []


def _in_value_set(system: str | None, code: str | None, allowed: dict[str, set[str]]) -> bool:
    if system is None:
        return any(code in codes for codes in allowed.values())
    return system in allowed and (not allowed[system] or code in allowed[system])


def _binding(element: Resource, nodes: list[Node]) -> list[Issue]:
    binding = element.get("binding") or {}
    if binding.get("strength") != "required" or not nodes:
        return []
    allowed = _value_set(binding.get("valueSet", ""))
    if allowed is None:
        return []
    choices = ", ".join(sorted(c for codes in allowed.values() for c in codes))
    return [Issue("error", "code-invalid", f"{path} must be a code from {binding['valueSet']}"
                  f" ({choices})", (path,))
            for path, value in nodes
            if not any(_in_value_set(s, c, allowed) for s, c in _codes(value))]


def _invariants(element: Resource, nodes: list[Node]) -> list[Issue]:
    issues = []
    for constraint in element.get("constraint", []):
        for path, node in nodes:
            try:
                # The R4 model lets choice elements (value[x]) resolve by type.
                result = evaluate(node, constraint["expression"], {}, models["r4"])
            except Exception as exc:  # noqa: BLE001 - a broken expression must not pass
                issues.append(Issue("error", "invariant", f"{constraint['key']} could not be "
                                    f"evaluated: {exc}", (path,)))
                continue
            if result and result != [True]:
                issues.append(Issue(constraint.get("severity", "error"), "invariant",
                                    f"{path}: {constraint['human']} ({constraint['key']})",
                                    (path,)))
    return issues


# -- identifier systems with a check of their own ---------------------------------------------

def _nhs_number(value: str) -> str | None:
    if not re.fullmatch(r"[0-9]{10}", value):
        return None  # a wrong length is the profile's invariant, not a check digit problem
    if not passes_check_digit(value):
        return f"NHS number {value} fails the check digit (modulus 11): it was probably " \
            "mistyped"
    return problem(value)  # a number never issued (all one digit)


SYSTEM_CHECKS: dict[str, Callable[[str], str | None]] = {url.NHS_NUMBER: _nhs_number}


def _identifier_check(element: Resource, parent_path: str, parent: Any) -> list[Issue]:
    """Where a profile fixes an identifier system that has a check, check the value."""
    check = SYSTEM_CHECKS.get(element.get("fixedUri", ""))
    value = parent.get("value") if isinstance(parent, dict) else None
    problem = check(value) if check and isinstance(value, str) else None
    where = f"{parent_path}.value"
    return [Issue("error", "value", f"{where}: {problem}", (where,))] if problem else []
