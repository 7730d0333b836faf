"""``python -m helpline_workspace [serve]``: the workspace has no database, so no ``migrate``."""

import argparse
import sys

from pydantic import ValidationError

from helpline_shared.runtime.service import serve
from helpline_shared.runtime.settings import UnknownVariable, refuse_unknown_variables
from helpline_workspace.app import create_app
from helpline_workspace.config import WorkspaceSettings


def main(argv: list[str] | None = None) -> None:
    """Run the workspace's command line."""
    parser = argparse.ArgumentParser(prog="helpline-workspace")
    parser.add_argument("command", nargs="?", default="serve", choices=("serve",))
    parser.parse_args(argv)
    try:
        refuse_unknown_variables("helpline-workspace", WorkspaceSettings)
        settings = WorkspaceSettings()
    except UnknownVariable as error:
        sys.exit(str(error))
    except ValidationError as error:
        problems = "; ".join(
            f"HELPLINE_{'_'.join(str(part) for part in item['loc']).upper()}: {item['msg']}"
            for item in error.errors()
        )
        sys.exit(f"helpline-workspace: invalid configuration: {problems}")
    serve(create_app(settings), settings, settings.http_port)


if __name__ == "__main__":
    main()
