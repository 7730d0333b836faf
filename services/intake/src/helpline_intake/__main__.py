"""``python -m helpline_intake [serve|migrate]``."""

from helpline_intake.bootstrap import MIGRATIONS, NAME, bootstrap
from helpline_intake.config import IntakeSettings
from helpline_shared.runtime.cli import service_main


def main() -> None:
    """Run intake's command line."""
    service_main(NAME, IntakeSettings, bootstrap, MIGRATIONS)


if __name__ == "__main__":
    main()
