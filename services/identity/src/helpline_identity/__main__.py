"""``python -m helpline_identity [serve|migrate]``."""

from helpline_identity.bootstrap import MIGRATIONS, NAME, bootstrap
from helpline_identity.config import IdentitySettings
from helpline_shared.runtime.cli import service_main


def main() -> None:
    """Run identity's command line."""
    service_main(NAME, IdentitySettings, bootstrap, MIGRATIONS)


if __name__ == "__main__":
    main()
