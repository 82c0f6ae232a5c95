"""The tree is the architecture (DESIGN.md "Packages and layout"): these tests keep it true.

Imports run one way, `ui` → `chatbot` → `knowledge_base`; no module imports itself back through
others (counting lazy and TYPE_CHECKING imports too: a cycle is a design smell even when Python
tolerates it); modules stay small; the UI never talks SQL; one device resolver names devices;
importing the packages loads no model library.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
LAYERS = {"knowledge_base": 0, "chatbot": 1, "ui": 2}  # a module imports its own layer or lower
MAX_MODULE_LINES = 450
DEVICE_RESOLVER = "knowledge_base/embedding/devices.py"
DEVICE_NAMES = {"cuda", "mps"}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the three packages, by dotted name."""
    return {module_name(path): path for package in LAYERS for path in sorted((REPO_ROOT / package).rglob("*.py"))}


def imported_names(path: Path) -> set[str]:
    """The absolute names a module imports anywhere in its body (`from a import b` gives a.b
    when b is a module of ours, else a), relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                names.add(candidate if candidate in modules() else base)
    return names


def internal_imports(name: str) -> set[str]:
    """The modules of ours that module `name` imports (a package import counts as its __init__)."""
    return {n for n in imported_names(modules()[name]) if n in modules() and n != name}


def test_the_tree_is_scanned() -> None:
    # Guards the other tests against passing on an empty scan.
    names = modules()
    assert {"chatbot.engine", "knowledge_base.retrieval.retriever", "ui.cli"} <= set(names)
    assert "knowledge_base.retrieval.entry_head" in internal_imports("knowledge_base.retrieval.retriever")


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_imports_run_one_way(package: str) -> None:
    backwards = sorted(
        f"{name} imports {target}"
        for name in modules() if name.split(".")[0] == package
        for target in imported_names(modules()[name])
        if LAYERS.get(target.split(".")[0], -1) > LAYERS[package]
    )
    assert not backwards, "imports must run ui → chatbot → knowledge_base:\n" + "\n".join(backwards)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle in `graph`, as the path that closes it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (found := visit(target)):
                return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_find_cycle_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles() -> None:
    # Packages' __init__ modules are left out: importing a.b runs a/__init__ first, which is
    # not an arrow from a.b back to a.
    graph = {name: {t for t in internal_imports(name) if modules()[t].name != "__init__.py"}
             for name in modules()}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_modules_stay_small() -> None:
    long = {name: n for name, path in modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines (split them into a folder of rooms): {long}"


def test_the_ui_never_talks_sql() -> None:
    offenders = sorted(name for name in modules() if name.startswith("ui")
                       for target in imported_names(modules()[name])
                       if target.split(".")[0] in ("sqlalchemy", "psycopg", "sqlite3"))
    assert not offenders, f"ui modules importing a database library: {offenders}"


def test_devices_are_named_only_by_the_resolver() -> None:
    offenders = []
    for name, path in modules().items():
        if path.relative_to(REPO_ROOT).as_posix() == DEVICE_RESOLVER:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and node.value.split(":")[0] in DEVICE_NAMES:
                offenders.append(f"{name}:{node.lineno} {node.value!r}")
    assert not offenders, f"device names outside {DEVICE_RESOLVER}: {offenders}"


def test_importing_the_packages_loads_no_model_library() -> None:
    code = ("import sys, chatbot, knowledge_base, ui, ui.cli, ui.server, chatbot.services, chatbot.engine; "
            "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers', 'faiss') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert out.stdout.strip() == "[]"
