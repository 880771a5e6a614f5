"""Validate a resource against base FHIR R4 and against this project's profiles.

Base R4: the `fhir.resources.R4B` model of the resource type (unknown elements, wrong types,
malformed dates). Profiles: read from the published StructureDefinitions, so the rules live in
one place: cardinality, fixed and pattern values, required bindings to the project's own code
systems, the slices used here (extensions by URL, identifiers by system), each extension's own
definition, and FHIRPath invariants (evaluated with fhirpathpy). Every issue names the element
as a FHIRPath-like path, e.g. `Patient.identifier[0].value`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource as BaseResource
from fhirpathpy import evaluate
from fhirpathpy.models import models
from pydantic import ValidationError

from fhir_profiles import canonical as url
from fhir_profiles import registry
from register.nhs_number import is_valid

Node = tuple[str, Any]  # (path, JSON value)
Resource = dict[str, Any]


@dataclass(frozen=True)
class Issue:
    severity: str  # error | warning | information
    code: str  # FHIR issue-type: structure, required, value, code-invalid, invariant, ...
    diagnostics: str
    expression: tuple[str, ...] = ()


def validate(resource: Resource, profile: str | None = None) -> list[Issue]:
    """Base R4 first (structure issues stop there), then `profile` or, if none is given,
    every profile the resource claims in meta.profile."""
    issues = structure(resource)
    if issues:
        return issues
    claimed = [profile] if profile else (resource.get("meta") or {}).get("profile") or []
    for canonical in claimed:
        definition = registry.by_url(canonical)
        if definition is None:
            ours = canonical.startswith(url.BASE)
            said = "not published here" if ours else "not one of ours and was not checked"
            issues.append(Issue("error" if ours else "information",
                                "not-found" if ours else "informational",
                                f"profile {canonical} is {said}", ("meta.profile",)))
            continue
        issues += _check(resource, definition, resource["resourceType"])
        issues += [Issue("error", "value", message, (path,))
                   for check in EXTRA_CHECKS.get(canonical, ())
                   for path, message in check(resource)]
    return issues


# -- base R4 ---------------------------------------------------------------------------------

def _location(resource_type: str, loc: tuple[Any, ...]) -> str:
    path = resource_type
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not str(part).startswith(("function-", "model-")):
            path += f".{part}"
    return path


def structure(resource: Resource) -> list[Issue]:
    kind = resource.get("resourceType")
    try:
        model = get_fhir_model_class(str(kind))
    except (KeyError, ValueError):
        model = None
    if model is None or not issubclass(model, BaseResource):
        return [Issue("error", "structure", f"{kind!r} is not an R4 resource type",
                      ("resourceType",))]
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        out = []
        for error in exc.errors():
            where = _location(str(kind), error["loc"])
            if error["type"] == "extra_forbidden":
                message = f"{where} is not an element of {kind} in FHIR R4"
            else:
                message = f"{where}: {error['msg']}"
            out.append(Issue("error", "structure", message, (where,)))
        return out
    return []


# -- profiles ---------------------------------------------------------------------------------

def _index(definition: Resource) -> dict[str, Resource]:
    return {e["id"]: e for e in definition["differential"]["element"]}


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
    element = elements[slice_id]
    for kind in element.get("type", []):
        for profile in kind.get("profile", []):
            return isinstance(item, dict) and item.get("url") == profile
    for child in ("system", "url"):
        fixed = elements.get(f"{slice_id}.{child}", {}).get("fixedUri")
        if fixed is not None:
            return isinstance(item, dict) and item.get(child) == fixed
    return True


def _walk(start: list[Node], segments: list[str], prefix: str,
          elements: dict[str, Resource]) -> list[Node]:
    current = start
    element_id = prefix
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


def _matches(pattern: Any, value: Any) -> bool:
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(_matches(v, value.get(k))
                                               for k, v in pattern.items())
    if isinstance(pattern, list):
        return isinstance(value, list) and all(any(_matches(p, v) for v in value)
                                               for p in pattern)
    return pattern == value


def _codes(value: Any) -> list[tuple[str | None, str | None]]:
    if isinstance(value, str):
        return [(None, value)]
    if isinstance(value, dict) and "coding" in value:
        return [(c.get("system"), c.get("code")) for c in value["coding"]]
    if isinstance(value, dict):
        return [(value.get("system"), value.get("code"))]
    return []


def _binding(element: Resource, nodes: list[Node]) -> list[Issue]:
    binding = element.get("binding") or {}
    value_set = binding.get("valueSet", "")
    if binding.get("strength") != "required" or not value_set.startswith(url.BASE):
        return []
    system = url.cs(value_set.rsplit("/", 1)[1])
    allowed = registry.code_system(system)
    issues = []
    for path, value in nodes:
        codes = [code for sys, code in _codes(value) if sys in (None, system)]
        if not codes or any(code not in allowed for code in codes):
            issues.append(Issue("error", "code-invalid", f"{path} must be a code from {system} "
                                f"({', '.join(sorted(allowed))})", (path,)))
    return issues


def _value_type(element: Resource, nodes: list[Node]) -> list[Issue]:
    """A choice element (`value[x]`) must carry one of the types the definition allows."""
    allowed = {t["code"] for t in element.get("type", [])}
    if not element["path"].endswith("[x]") or not allowed:
        return []
    stem = element["path"].rsplit(".", 1)[1][:-3]
    issues = []
    for path, _ in nodes:
        suffix = path.rsplit(".", 1)[1][len(stem):]
        if not any(suffix in (code, code[:1].upper() + code[1:]) for code in allowed):
            issues.append(Issue("error", "structure", f"{path} must be of type "
                                f"{' or '.join(sorted(allowed))}", (path,)))
    return issues


def _check(resource: Resource, definition: Resource, root_path: str) -> list[Issue]:
    elements = _index(definition)
    root_name = definition["type"]
    root: Node = (root_path, resource)
    issues: list[Issue] = []
    for element_id, element in elements.items():
        if element_id == root_name:
            issues += _invariants(resource, element, root_path)
            continue
        parent_id, _, last = element_id.rpartition(".")
        for parent_path, parent in _select(root, parent_id, elements) \
                if parent_id != root_name else [root]:
            nodes = _walk([(parent_path, parent)], [last], parent_id, elements)
            issues += _cardinality(element, nodes, parent_path, last)
            issues += _value_type(element, nodes)
            for path, value in nodes:
                issues += _fixed(element, path, value)
            issues += _binding(element, nodes)
            for kind in element.get("type", []):
                for profile in kind.get("profile", []):
                    extension_definition = registry.by_url(profile)
                    if extension_definition is not None:
                        for path, value in nodes:
                            issues += _check(value, extension_definition, path)
    return issues + _unknown_extensions(resource, root_path)


def _cardinality(element: Resource, nodes: list[Node], parent_path: str,
                 last: str) -> list[Issue]:
    low, high = element.get("min"), element.get("max")
    name = last.partition(":")[2] or last
    where = f"{parent_path}.{last.partition(':')[0]}"
    if low is not None and len(nodes) < low:
        return [Issue("error", "required", f"{where}: {name} is required "
                      f"({low}..{high or '*'}), found {len(nodes)}", (where,))]
    if high not in (None, "*") and len(nodes) > int(high):
        return [Issue("error", "structure", f"{where}: {name} may occur at most {high} "
                      f"time(s), found {len(nodes)}", (nodes[int(high)][0],))]
    return []


def _fixed(element: Resource, path: str, value: Any) -> list[Issue]:
    for key, expected in element.items():
        if key.startswith("fixed") and value != expected:
            return [Issue("error", "value", f"{path} must be {expected!r}, not {value!r}",
                          (path,))]
        if key.startswith("pattern") and not _matches(expected, value):
            return [Issue("error", "value", f"{path} must match {expected}", (path,))]
    return []


def _invariants(resource: Resource, element: Resource, root_path: str) -> list[Issue]:
    issues = []
    for constraint in element.get("constraint", []):
        try:
            # The R4 model lets choice elements (value[x]) resolve by type, as the spec says.
            result = evaluate(resource, constraint["expression"], {}, models["r4"])
        except Exception as exc:  # noqa: BLE001 - a broken expression must not pass silently
            issues.append(Issue("error", "invariant", f"{constraint['key']} could not be "
                                f"evaluated: {exc}", (root_path,)))
            continue
        if result and result != [True]:
            issues.append(Issue("error", "invariant",
                                f"{constraint['key']}: {constraint['human']}", (root_path,)))
    return issues


def _unknown_extensions(resource: Resource, root_path: str) -> list[Issue]:
    """An extension that claims this project's namespace must be one it publishes."""
    return [Issue("error", "structure", f"{root_path}.extension[{i}]: {e.get('url')} is not "
                  "an extension this register defines", (f"{root_path}.extension[{i}]",))
            for i, e in enumerate(resource.get("extension") or [])
            if str(e.get("url", "")).startswith(url.BASE) and registry.by_url(e["url"]) is None]


# -- checks FHIRPath cannot express ------------------------------------------------------------

def _nhs_check_digits(resource: Resource) -> list[tuple[str, str]]:
    return [(f"Patient.identifier[{i}].value", f"NHS number {i_['value']!r} fails the "
             "check digit (modulus 11)")
            for i, i_ in enumerate(resource.get("identifier") or [])
            if i_.get("system") == url.NHS_NUMBER and "value" in i_
            and not is_valid(str(i_["value"]))]


EXTRA_CHECKS: dict[str, tuple[Callable[[Resource], list[tuple[str, str]]], ...]] = {
    url.PATIENT: (_nhs_check_digits,),
}
