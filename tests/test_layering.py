"""Imports flow one way (DESIGN §1): routes and the MLflow layer -> services -> search, db,
storage. v1's services and repositories know nothing of MLflow; `db/` imports nothing above
it; the search language holds no SQL; the SDK never imports the server."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVER = ROOT / "mltrail_server"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules_of(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*.py") if "migrations" not in path.parts)


RULES = [
    # (folder, module prefixes it must not import)
    ("services", ("mltrail_server.mlflow", "mltrail_server.routes")),
    ("db", ("mltrail_server.mlflow", "mltrail_server.services", "mltrail_server.routes")),
    ("search", ("mltrail_server.db", "mltrail_server.services", "mltrail_server.mlflow")),
    ("storage", ("mltrail_server.mlflow", "mltrail_server.routes")),
    ("models", ("mltrail_server.mlflow", "mltrail_server.routes")),
]


@pytest.mark.parametrize(("folder", "forbidden"), RULES, ids=[folder for folder, _ in RULES])
def test_imports_flow_one_way(folder: str, forbidden: tuple[str, ...]) -> None:
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in modules_of(SERVER / folder)
        for name in sorted(imported_modules(path))
        if name.startswith(forbidden)
    ]
    assert wrong == []


def test_the_sdk_never_imports_the_server_at_import_time() -> None:
    """Only the CLI's server and db commands reach the server, inside their functions."""
    wrong = []
    for path in modules_of(ROOT / "mltrail"):
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level only
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "mltrail_server"
            ):
                wrong.append(f"{path.relative_to(ROOT)} imports {node.module}")
            elif isinstance(node, ast.Import):
                wrong += [
                    f"{path.relative_to(ROOT)} imports {alias.name}"
                    for alias in node.names
                    if alias.name.startswith("mltrail_server")
                ]
    assert wrong == []
