"""FHIR.js (the npm package `fhir`), an R4 validator written independently of the Python
models, run from the tests on what the register publishes and emits. `npm ci` runs once when
`tests/fhirjs/node_modules` is missing (CI starts from a fresh clone; npm is reachable).

Without node and npm the calling test fails with a message saying so: it is never skipped,
because a skipped check would pass CI without having run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.npm import installed

HERE = Path(__file__).with_name("fhirjs")


def validate_with_fhirjs(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One result per resource, in order: {source, resourceType, id, valid, messages}."""
    done = subprocess.run([installed(HERE, "fhir"), str(HERE / "validate.js")],
                          input=json.dumps(resources), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, f"FHIR.js (validate.js) failed:\n{done.stderr[-2000:]}"
    results: list[dict[str, Any]] = json.loads(done.stdout)
    assert len(results) == len(resources), "FHIR.js returned one result per resource"
    return results


def _at(resource: Any, location: str) -> Any:
    """The element at a FHIR.js location such as `Task.input[7].value[x]` (its parent for
    a choice element), or None."""
    node = resource
    for step in location.split(".")[1:-1]:
        name, _, index = step.partition("[")
        node = node.get(name) if isinstance(node, dict) else None
        if index and isinstance(node, list):
            position = int(index.rstrip("]"))
            node = node[position] if position < len(node) else None
    return node


def _falsy_choice(resources: list[dict[str, Any]], location: str) -> bool:
    """FHIR.js reports a required choice element whose value is `false` or `0` (e.g.
    `Task.input.valueBoolean: false`) as "Missing property": it tests the value for truth.
    Such a message is FHIR.js's mistake when the element is there with that value."""
    kind = location.split(".", 1)[0]
    candidates = [r for r in resources if r.get("resourceType") == kind]
    candidates += [e.get("resource", {}) for r in resources if r.get("resourceType") == "Bundle"
                   for e in r.get("entry", []) if e.get("resource", {}).get("resourceType")
                   == kind]
    for resource in candidates:
        parent = _at(resource, location)
        if isinstance(parent, dict) and any(k.startswith("value") and v in (False, 0)
                                            and v is not None for k, v in parent.items()):
            return True
    return False


def errors(results: list[dict[str, Any]],
           resources: list[dict[str, Any]] | None = None) -> list[str]:
    """Every error-level message, as `Type/id location: message`, and every invalid result;
    given the resources, FHIR.js's false "Missing property" on a `false`/`0` choice value is
    left out (and a result invalid only because of it is not reported)."""
    out = []
    for r in results:
        found = [m for m in r["messages"] if m.get("severity") == "error"]
        if resources is not None:
            found = [m for m in found if not (
                m.get("message") == "Missing property"
                and str(m.get("location", "")).endswith("value[x]")
                and _falsy_choice(resources, m["location"]))]
        out += [f"{r['resourceType']}/{r.get('id')} {m.get('location')}: {m.get('message')}"
                for m in found]
        if not r["valid"] and (found or resources is None):
            out.append(f"{r['resourceType']}/{r.get('id')} invalid")
    return out
