"""Checks on how the project is put together that no other test would catch:
the networked-mode compose file (Docker does not run here, so it is parsed, not started)
and the boundaries of docs/architecture.md ("Dependencies"): which package may import which,
no I/O in mappings/, no import cycles."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest
import typer
import yaml
from typer.exceptions import TyperException

from adapter import config
from adapter.cli import app

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
S117_SERVICES = {name: svc for name, svc in COMPOSE["services"].items() if "build" in svc}


def _resolve(args: list[str]) -> None:
    """Parse `s117 <args>` as the real CLI would, without running it: unknown sub-commands
    and unknown options raise a usage error."""
    command, name, rest = typer.main.get_command(app), "s117", list(args)
    while hasattr(command, "commands"):  # a group: the next word names a sub-command
        assert rest, f"`s117 {' '.join(args)}` stops at the group {name!r}"
        name, *rest = rest
        sub = command.commands.get(name)
        assert sub is not None, f"`s117 {' '.join(args)}`: no sub-command {name!r}"
        command = sub
    command.make_context(name, rest)


def test_compose_runs_the_api_and_migration_from_the_project_image() -> None:
    assert {"postgres", "rabbitmq", "migrate", "api", "queues-declare", "mllp", "worker"} \
        <= set(COMPOSE["services"])
    assert COMPOSE["services"]["queues-declare"]["restart"] == "no"
    workers = [s["command"] for s in COMPOSE["services"].values()
               if s.get("command", [""])[0] == "worker"]
    assert sorted(w[2] for w in workers) == [str(i) for i in range(len(workers))]
    assert COMPOSE["services"]["migrate"]["command"] == ["db", "upgrade"]
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert 'ENTRYPOINT ["s117"]' in dockerfile


@pytest.mark.parametrize("service", sorted(S117_SERVICES))
def test_every_compose_command_is_a_real_s117_sub_command(service: str) -> None:
    _resolve(S117_SERVICES[service]["command"])


def test_a_wrong_sub_command_would_be_caught() -> None:
    with pytest.raises(TyperException) as info:
        _resolve(["serve", "--no-such-option"])
    assert "no-such-option" in str(info.value)
    with pytest.raises(AssertionError, match="no sub-command 'upgrad'"):
        _resolve(["db", "upgrad"])


@pytest.mark.parametrize("service", sorted(S117_SERVICES))
def test_every_compose_variable_is_one_the_program_reads(service: str) -> None:
    env = S117_SERVICES[service]["environment"]
    assert env, service
    unknown = set(env) - set(config.VARIABLES)
    assert not unknown, f"{service} sets variables the program does not read: {unknown}"


def test_backing_services_have_health_checks_and_volumes() -> None:
    for name in ("postgres", "rabbitmq"):
        service = COMPOSE["services"][name]
        assert "healthcheck" in service, name
        assert service["volumes"], name
    assert "management" in COMPOSE["services"]["rabbitmq"]["image"]
    assert COMPOSE["services"]["api"]["depends_on"]["migrate"]["condition"] == \
        "service_completed_successfully"


def test_every_variable_the_program_reads_is_documented() -> None:
    """The README's configuration table and `config.VARIABLES` are the same list, and the code
    reads no S117_ variable outside it."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(S117_[A-Z_]+)`", readme, flags=re.M))
    assert documented == set(config.VARIABLES)
    read_in_code = set()
    for path in ROOT.glob("*/**/*.py"):
        if "tests" in path.parts or ".venv" in path.parts:
            continue
        read_in_code |= set(re.findall(r"[\"'](S117_[A-Z_]+)[\"']", path.read_text("utf-8")))
    assert read_in_code <= set(config.VARIABLES), read_in_code - set(config.VARIABLES)


# The register core is the domain: it must not know about transports, queues, FHIR
# mappings or web frameworks (cosmicpython's dependency rule).
FORBIDDEN_IN_CORE = ("adapter", "queues", "mappings", "fhir_profiles", "flask", "pika",
                     "gunicorn", "typer", "fhir")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted((ROOT / "register").rglob("*.py")),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_register_core_imports_none_of_its_edges(path: Path) -> None:
    assert not _imports(path) & set(FORBIDDEN_IN_CORE)


def test_the_domain_model_imports_no_framework_at_all() -> None:
    """Entities, rules and commands are plain Python; only `store/` and `refdata/` may use
    SQLAlchemy or marshmallow."""
    framework = {"sqlalchemy", "alembic", "marshmallow", "psycopg"}
    for path in (ROOT / "register").rglob("*.py"):
        rel = path.relative_to(ROOT / "register")
        if rel.parts[0] in ("store", "refdata"):
            continue
        assert not _imports(path) & framework, rel


def test_compose_runs_the_relay_and_the_scheduler() -> None:
    """Issue 5: outbound in networked mode is two more processes of the same image."""
    services = COMPOSE["services"]
    assert services["relay"]["command"] == ["relay"]
    assert services["scheduler"]["command"][0] == "scheduler"
    # The relay publishes to the topology `queues-declare` makes once RabbitMQ is healthy.
    assert services["relay"]["depends_on"]["queues-declare"]["condition"] == \
        "service_completed_successfully"
    assert services["queues-declare"]["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
    admin = services["relay"]["environment"]["S117_AMQP_ADMIN"]
    assert admin.startswith("http://") and ":15672" in admin, "the management API"


def test_compose_checks_tokens_and_maps_mllp_clients_to_trusts() -> None:
    """S117_AUTH=jwt everywhere, with a key set and issuer to check tokens by, and the MLLP
    listener told which trusts its clients may send for (it refuses to start otherwise); the
    pages' cookie key is asked for, since with auth on they answer 503 without one."""
    for name, service in S117_SERVICES.items():
        env = service["environment"]
        assert env["S117_AUTH"] == "jwt", name
        assert env["S117_JWKS_URL"] and env["S117_JWT_ISSUER"], name
        assert env["S117_SECRET_KEY"].startswith("${S117_SECRET_KEY:?"), name
    assert "S117_MLLP_SENDERS" in COMPOSE["services"]["mllp"]["environment"]


# -- the boundaries of docs/architecture.md ("Dependencies") --------------------------------

PACKAGES = ("register", "mappings", "fhir_profiles", "queues", "adapter", "bench", "tools")
# Which of our packages each may import (besides itself). Read bottom up: the core imports
# none of ours; translation knows the core; the broker bridge knows both; the edges (CLI,
# HTTP, bootstrap) know everything below them; the benchmark and build tools sit on top and
# nothing imports them.
MAY_IMPORT: dict[str, set[str]] = {
    "register": set(),
    "fhir_profiles": {"register.nhs_number"},
    "mappings": {"register", "fhir_profiles.canonical"},
    "queues": {"register", "mappings", "fhir_profiles"},
    "adapter": {"register", "mappings", "fhir_profiles", "queues"},
    "bench": {"register", "mappings", "fhir_profiles", "queues", "adapter"},
    "tools": {"register", "fhir_profiles"},
}
# register/nhs_number.py is the one shared leaf outside the core's own use: the NHS number
# check (modulus 11) is needed by the FHIR validator too, and copying it would let the two
# disagree. It imports only the standard library, the PyPI nhs-number checker and
# register/errors.py (which imports only the standard library), so depending on it costs nothing.
SHARED_LEAF = {"register.nhs_number": {"register.errors"}, "register.errors": set()}
# Translation is pure (no I/O): no files, sockets, processes or databases, and no open().
IO_MODULES = {"os", "pathlib", "shutil", "tempfile", "glob", "socket", "subprocess",
              "importlib", "sqlalchemy", "psycopg", "pika", "requests", "flask", "logging"}
IO_METHODS = {"read_text", "read_bytes", "write_text", "write_bytes", "glob", "rglob",
              "iterdir", "stat", "exists", "is_file", "is_dir", "mkdir", "unlink"}


def _ours(path: Path) -> set[str]:
    """Every module of ours `path` imports, in full (`register.store.orm`), at any depth
    (imports inside functions count: they are dependencies all the same)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from package import module` depends on the module, not the whole package
            folder = ROOT.joinpath(*node.module.split("."))
            modules = {a.name for a in node.names if (folder / f"{a.name}.py").exists()
                       or (folder / a.name / "__init__.py").exists()}
            names |= {f"{node.module}.{m}" for m in modules}
            if len(modules) < len(node.names):
                names.add(node.module)
    return {n for n in names if n.split(".")[0] in PACKAGES}


def _allowed(name: str, allowed: set[str]) -> bool:
    return any(name == a or name.startswith(a + ".") for a in allowed)


def _modules(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_imports_only_what_the_architecture_allows(package: str) -> None:
    wrong = {f"{path.relative_to(ROOT)} imports {name}"
             for path in _modules(package) for name in _ours(path)
             if name.split(".")[0] != package and not _allowed(name, MAY_IMPORT[package])}
    assert not wrong, sorted(wrong)


@pytest.mark.parametrize("module", sorted(SHARED_LEAF))
def test_the_shared_leaf_imports_only_the_standard_library(module: str) -> None:
    path = ROOT.joinpath(*module.split(".")).with_suffix(".py")
    assert _ours(path) <= SHARED_LEAF[module]
    assert _imports(path) - {"register", "nhs_number"} <= set(sys.stdlib_module_names) | {
        "__future__"}


@pytest.mark.parametrize("path", _modules("mappings"), ids=lambda p: str(p.relative_to(ROOT)))
def test_mappings_do_no_io(path: Path) -> None:
    assert not _imports(path) & IO_MODULES, path
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls = {node.func.id if isinstance(node.func, ast.Name) else node.func.attr
             for node in ast.walk(tree) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Name | ast.Attribute)}
    assert not calls & (IO_METHODS | {"open"}), path


def _graph(depth: int) -> dict[str, set[str]]:
    """Package (to `depth` dotted parts) -> the packages it imports."""
    edges: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in _modules(package):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            source = ".".join((parts[:-1] if parts[-1] == "__init__" else parts)[:depth])
            for name in _ours(path):
                target = ".".join(name.split(".")[:depth])
                if target != source and not source.startswith(target + "."):
                    edges.setdefault(source, set()).add(target)
    return edges


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle, if there is any (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None




@pytest.mark.parametrize("depth", [1, 2])
def test_no_package_cycles(depth: int) -> None:
    """Neither between the top-level packages nor between their sub-packages (adapter.cli,
    adapter.http, queues.inbound, register.store, ...)."""
    found = _cycle(_graph(depth))
    assert found is None, " -> ".join(found or [])


def test_the_checks_would_catch_a_cycle_and_a_wrong_import() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
    assert not _allowed("adapter.cli", MAY_IMPORT["queues"])
    assert _allowed("register.store.orm", MAY_IMPORT["queues"])
    assert not _allowed("fhir_profiles.validate", MAY_IMPORT["mappings"])
