"""``python -m helpline_routing [serve|migrate]``."""

from helpline_routing.bootstrap import MIGRATIONS, NAME, bootstrap
from helpline_routing.config import RoutingSettings
from helpline_shared.runtime.cli import service_main


def main() -> None:
    """Run routing's command line."""
    service_main(NAME, RoutingSettings, bootstrap, MIGRATIONS)


if __name__ == "__main__":
    main()
