"""The npm packages the tests run under node (axe-core, FHIR.js, oidc-provider), each in its
own folder with a package-lock.json, installed with `npm ci` on first use (CI starts from a
fresh clone; the npm registry is reachable). Test processes running side by side
(pytest-xdist) take a file lock so only one of them runs `npm ci` in a folder.

Missing node or npm fails the calling test saying what to install: these checks never skip,
because a skipped check would pass CI without having run."""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from pathlib import Path


def installed(folder: Path, package: str) -> str:
    """The path of node, once `folder/node_modules/<package>` exists."""
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, (f"{folder.name} needs node (20 or later) and npm on PATH, e.g. "
                          "`apt-get install nodejs npm`; these tests never skip")
    with (folder / ".npm-ci.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "node_modules" / package).exists():
            done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                                  cwd=folder, capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, f"`npm ci` in {folder} failed:\n{done.stderr[-2000:]}"
    return node
