"""Issue 21 "Done when": every README example runs as written.

The README marks each example a reader can run after `s117 demo` with an HTML comment just
above its ```sh block, `<!-- example: NAME "expected" "output" -->`, naming what its output
must contain. This test runs those blocks in order, each by bash with `set -e -o pipefail`
(so every command in it must succeed), in one temporary folder holding a demo register,
with no S117_ variable but those the blocks themselves export: the servers they start
(`s117 serve ... &`, with its MLLP listener) are real and stay up for the blocks after them,
as in a reader's terminal. Only the TCP ports are changed, to free ones, so the test never
collides with another process on the machine. One demo (no background people: the README's
named cases are all there), the servers the blocks start (two: the second has tokens on).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.test_cli import run
from tests.outbound_support import free_port

README = Path(__file__).parents[2] / "README.md"
MARKED = re.compile(r'<!-- example: (?P<name>[\w-]+)(?P<expect>(?: "[^"]*")*) -->\n'
                    r"```sh\n(?P<body>.*?)\n```", re.S)
PORTS = ("8080", "8081", "2575", "2576")  # the README's ports, each mapped to a free one


@dataclass(frozen=True)
class Example:
    name: str
    expect: tuple[str, ...]
    body: str


def examples() -> list[Example]:
    return [Example(m["name"], tuple(re.findall(r'"([^"]*)"', m["expect"])), m["body"])
            for m in MARKED.finditer(README.read_text(encoding="utf-8"))]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A demo register, as the README's set-up makes it; the background servers the
    examples start are stopped afterwards (their process groups)."""
    path = tmp_path_factory.mktemp("readme")
    # The README is followed from the repository root: its examples/ folder is at hand.
    (path / "examples").symlink_to(README.parent / "examples")
    built = run("demo", "--people", "0", cwd=path)
    assert built.returncode == 0, built.stderr
    yield path
    pids = path / "background.pids"
    for pid in pids.read_text().split() if pids.exists() else ():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(pid), signal.SIGTERM)


def test_the_readme_marks_its_runnable_examples():
    names = [e.name for e in examples()]
    assert names == ["responsibility", "casework-cli", "fhir-api", "hl7v2", "subscription",
                     "reports", "tokens"], names
    assert all(e.expect for e in examples()), "each example says what it must print"


def test_every_marked_readme_example_runs_as_written(folder: Path):
    ports = {p: str(free_port()) for p in PORTS}
    env = {k: v for k, v in os.environ.items() if not k.startswith("S117_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for example in examples():
        body = re.sub(r"\b(8080|8081|2575|2576)\b", lambda m: ports[m[1]], example.body)
        # Each background job in its own process group (set -m), recorded as the block
        # ends, however it ends, to be stopped after the last block.
        script = (f"set -e -o pipefail -m\ntrap 'jobs -p >> {folder / 'background.pids'}' "
                  f"EXIT\n{body}\n")
        # Output to a file, not a pipe: a server left running holds what it inherited open.
        log = folder / f"{example.name}.out"
        with log.open("w") as out:
            done = subprocess.run(["bash", "-c", script], cwd=folder, env=env, stdout=out,
                                  stderr=subprocess.STDOUT, timeout=300,
                                  stdin=subprocess.DEVNULL)
        output = log.read_text(errors="replace")
        assert done.returncode == 0, (example.name, done.returncode, output[-3000:])
        missing = [text for text in example.expect if text not in output]
        assert not missing, (example.name, missing, output[-3000:])
