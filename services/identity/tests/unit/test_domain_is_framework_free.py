"""The domain imports no framework (STYLE rule 2), checked on every test run."""

import ast
from pathlib import Path

import helpline_identity.domain

FRAMEWORKS = (
    "sqlalchemy",
    "fastapi",
    "faststream",
    "aiokafka",
    "opentelemetry",
    "starlette",
    "alembic",
    "prometheus_client",
)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def test_domain_modules_import_no_framework() -> None:
    domain = Path(helpline_identity.domain.__file__).parent
    offenders = {
        f"{path.name}: {module}"
        for path in domain.glob("*.py")
        for module in imported_modules(path)
        if module.split(".")[0] in FRAMEWORKS or module.startswith("helpline_shared.runtime")
    }
    assert not offenders
