"""Rules of the codebase that review alone would not keep."""

import ast
from pathlib import Path

import helpline_notify

FRAMEWORKS = (
    "sqlalchemy",
    "fastapi",
    "faststream",
    "aiokafka",
    "opentelemetry",
    "httpx",
    "httpcore",
    "aiosmtplib",
    "starlette",
    "alembic",
)


def test_domain_imports_no_framework() -> None:
    domain = Path(helpline_notify.__file__).parent / "domain"
    offenders = []
    for module in domain.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [
                f"{module.name}: {name}"
                for name in names
                if name.split(".")[0] in FRAMEWORKS or name.startswith("helpline_shared.runtime")
            ]
    assert offenders == []
