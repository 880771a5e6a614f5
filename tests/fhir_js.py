"""FHIR.js (the npm package `fhir`), an R4 validator written independently of the Python
models, run from the tests on what the register publishes and emits. `npm ci` runs once when
`tests/fhirjs/node_modules` is missing (CI starts from a fresh clone; npm is reachable)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

HERE = Path(__file__).with_name("fhirjs")


def _install() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "node and npm are needed to run FHIR.js (apt-get install nodejs npm)"
    if not (HERE / "node_modules" / "fhir").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE,
                       check=True, capture_output=True, timeout=600)
    return node


def validate_with_fhirjs(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One result per resource: {resourceType, id, valid, messages}."""
    done = subprocess.run([_install(), str(HERE / "validate.js")], input=json.dumps(resources),
                          capture_output=True, text=True, check=True, timeout=300)
    return json.loads(done.stdout)


def errors(results: list[dict[str, Any]]) -> list[str]:
    """Every error-level message, as `Type/id location: message`."""
    return [f"{r['resourceType']}/{r.get('id')} {m.get('location')}: {m.get('message')}"
            for r in results for m in r["messages"] if m.get("severity") == "error"] + \
        [f"{r['resourceType']}/{r.get('id')} invalid" for r in results if not r["valid"]]
