"""The import rules of the tree (see docs/architecture.md).

The core stays pure: no adapter, socket, database, configuration or clock in ``inboxd/core``.
Each folder imports only the layers below it, nothing but ``__main__`` imports the command line,
and inboxd's modules import each other without a circle.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "inboxd"
CORE = PACKAGE / "core"
FORBIDDEN_IMPORTS = ("imapclient", "aiosmtplib", "aiosmtpd", "sqlite3", "sqlite_utils", "socket",
                     "apscheduler", "inboxd.mail", "inboxd.store", "inboxd.steps",
                     "inboxd.daemon", "inboxd.runtime", "inboxd.config", "smtplib", "imaplib")
CLOCK_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"),
               ("date", "today"), ("time", "time"), ("time", "monotonic")}


def imports(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def clock_reads(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                isinstance(node.func.value, ast.Name) and \
                (node.func.value.id, node.func.attr) in CLOCK_CALLS:
            found.append(f"{node.func.value.id}.{node.func.attr}() at line {node.lineno}")
    return found


@pytest.mark.parametrize("module", sorted(CORE.glob("*.py")), ids=lambda p: p.name)
def test_core_module_is_pure(module: Path) -> None:
    tree = ast.parse(module.read_text(encoding="utf-8"))
    bad = [n for n in imports(tree) if n.startswith(FORBIDDEN_IMPORTS)]
    assert bad == [], f"{module.name} imports {bad}"
    assert clock_reads(tree) == [], f"{module.name} reads the clock"


def test_the_check_itself_catches_a_violation() -> None:
    tree = ast.parse("import sqlite3\nfrom datetime import datetime\nx = datetime.now()\n")
    assert [n for n in imports(tree) if n.startswith(FORBIDDEN_IMPORTS)] == ["sqlite3"]
    assert clock_reads(tree) == ["datetime.now() at line 3"]


# --- the import graph of inboxd's own modules --------------------------------------------------

def module_names(package: Path = PACKAGE) -> dict[str, Path]:
    """``inboxd.steps.inbox`` -> its file, for every module and package of inboxd."""
    found = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imported_modules(tree: ast.AST, known: set[str]) -> set[str]:
    """inboxd's modules that ``tree`` imports anywhere (also inside functions): ``from a import
    b`` counts as ``a.b`` when that is a module, else as ``a``."""
    found = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def import_graph(sources: dict[str, str]) -> dict[str, set[str]]:
    """Module name -> the other inboxd modules it imports, from each module's source text."""
    known = set(sources)
    return {name: imported_modules(ast.parse(text), known) - {name}
            for name, text in sources.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle (first module repeated at its end), or [] when there is none."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return []


def source_graph() -> dict[str, set[str]]:
    return import_graph({name: path.read_text(encoding="utf-8")
                         for name, path in module_names().items()})


def test_inboxd_has_no_import_circle() -> None:
    assert find_cycle(source_graph()) == []


def test_the_circle_check_catches_a_circle() -> None:
    graph = import_graph({"inboxd.cli": "from inboxd.commands import common\n",
                          "inboxd.commands": "",
                          "inboxd.commands.common": "def f():\n    from inboxd.cli import x\n",
                          "inboxd.errors": ""})
    assert graph["inboxd.cli"] == {"inboxd.commands.common"}
    cycle = find_cycle(graph)
    assert set(cycle) == {"inboxd.cli", "inboxd.commands.common"} and cycle[0] == cycle[-1]


# Which of inboxd's own modules each folder may import (a prefix allows the module and below).
ALLOWED = {
    "inboxd.core": ("inboxd.core", "inboxd.errors"),
    "inboxd.config": ("inboxd.config", "inboxd.core", "inboxd.errors"),
    "inboxd.mail": ("inboxd.mail", "inboxd.config", "inboxd.errors"),
}
# Folders that sit below the command line and the daemon: they never import those.
BELOW_THE_EDGE = ("inboxd.core", "inboxd.config", "inboxd.mail", "inboxd.steps", "inboxd.model",
                  "inboxd.store", "inboxd.runtime")
EDGE = ("inboxd.cli", "inboxd.commands", "inboxd.daemon", "inboxd.demo")


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_folder_imports_only_the_layers_below(folder: str) -> None:
    bad = {module: sorted(n for n in imported if not within(n, ALLOWED[folder]))
           for module, imported in source_graph().items() if within(module, (folder,))}
    assert {m: b for m, b in bad.items() if b} == {}


def test_nothing_below_the_command_line_imports_it() -> None:
    bad = {module: sorted(n for n in imported if within(n, EDGE))
           for module, imported in source_graph().items() if within(module, BELOW_THE_EDGE)}
    assert {m: b for m, b in bad.items() if b} == {}


def test_only_main_imports_the_cli() -> None:
    importers = sorted(m for m, imported in source_graph().items() if "inboxd.cli" in imported)
    assert importers == ["inboxd.__main__"]
