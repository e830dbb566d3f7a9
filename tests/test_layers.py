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


# The product may start the simulator only for the demo and the doctor's self-check, and only lazily
# (inside the function that runs them), so that importing the product never imports the simulator.
SIMULATOR_STARTERS = {"flows/demo.py", "flows/doctor.py"}


def _top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_product_never_imports_the_simulator():
    product = [p for top in ("ecauto_lib", "tasks", "flows") for p in (ROOT / top).rglob("*.py")]
    offenders = {}
    for path in product:
        rel = str(path.relative_to(ROOT))
        modules = imported_modules(path) if rel not in SIMULATOR_STARTERS else _top_level_imports(path)
        found = sorted(m for m in modules if m.split(".")[0] == "ecauto_sandbox")
        if found:
            offenders[rel] = found
    assert offenders == {}
    assert not (ROOT / "ecauto_lib" / "sandbox").exists()
