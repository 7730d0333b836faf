"""``python -m helpline_notify [serve|migrate]``."""

from helpline_notify.bootstrap import MIGRATIONS, NAME, bootstrap
from helpline_notify.config import NotifySettings
from helpline_shared.runtime.cli import service_main


def main() -> None:
    """Run notify's command line."""
    service_main(NAME, NotifySettings, bootstrap, MIGRATIONS)


if __name__ == "__main__":
    main()
