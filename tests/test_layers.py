"""The import rules of the layers (DESIGN.md): read from the source, so a new import breaks a test."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at any level (``TYPE_CHECKING`` blocks and functions included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_base_auth_and_the_items_client_do_not_import_each_other():
    auth = imported_modules(ROOT / "ecauto_lib/base/auth.py")
    client = imported_modules(ROOT / "ecauto_lib/base/client.py")
    assert not {m for m in auth if m.startswith("ecauto_lib.base.client")}
    assert not {m for m in client if m.startswith("ecauto_lib.base.auth")}


def test_the_library_never_imports_prefect():
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in imported_modules(path) if m.split(".")[0] == "prefect")
        for path in (ROOT / "ecauto_lib").rglob("*.py")
    }
    assert {p: m for p, m in offenders.items() if m} == {}
