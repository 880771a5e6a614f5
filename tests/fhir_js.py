"""FHIR.js (the npm package `fhir`), an R4 validator written independently of the Python
models, run from the tests on what the register publishes and emits. `npm ci` runs once when
`tests/fhirjs/node_modules` is missing (CI starts from a fresh clone; npm is reachable).

Without node and npm the calling test fails with a message saying so: it is never skipped,
because a skipped check would pass CI without having run."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

HERE = Path(__file__).with_name("fhirjs")


def _install() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, ("FHIR.js needs node (20 or later) and npm on PATH, e.g. "
                          "`apt-get install nodejs npm`; the FHIR.js tests never skip")
    if not (HERE / "node_modules" / "fhir").exists():
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                              cwd=HERE, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"`npm ci` in {HERE} failed:\n{done.stderr[-2000:]}"
    return node


def validate_with_fhirjs(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One result per resource, in order: {source, resourceType, id, valid, messages}."""
    done = subprocess.run([_install(), str(HERE / "validate.js")], input=json.dumps(resources),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"FHIR.js (validate.js) failed:\n{done.stderr[-2000:]}"
    results: list[dict[str, Any]] = json.loads(done.stdout)
    assert len(results) == len(resources), "FHIR.js returned one result per resource"
    return results


def errors(results: list[dict[str, Any]]) -> list[str]:
    """Every error-level message, as `Type/id location: message`, and every invalid result."""
    return [f"{r['resourceType']}/{r.get('id')} {m.get('location')}: {m.get('message')}"
            for r in results for m in r["messages"] if m.get("severity") == "error"] + \
        [f"{r['resourceType']}/{r.get('id')} invalid" for r in results if not r["valid"]]
