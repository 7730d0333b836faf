"""docs/permissions.md is the one matrix of helpline_shared.permissions, as generated."""

from helpline_cli.permissions_doc import TARGET, render
from helpline_shared.permissions import PERMISSIONS, SCOPES


def test_the_permissions_page_is_the_generated_one() -> None:
    assert TARGET.read_text() == render(), "stale: run make docs"


def test_the_page_has_a_row_per_permission_and_a_column_per_scope() -> None:
    page = render()
    assert all(
        f"| `{name}` | {granted.description} |" in page for name, granted in PERMISSIONS.items()
    )
    assert "| permission | " + " | ".join(f"`{scope}`" for scope in SCOPES) + " |" in page
