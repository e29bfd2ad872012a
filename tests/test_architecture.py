"""The core stays pure: no adapter, socket, database or clock in ``inboxd/core``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[1] / "inboxd" / "core"
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
