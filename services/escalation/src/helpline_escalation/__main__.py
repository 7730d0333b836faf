"""``python -m helpline_escalation [serve|migrate]``."""

from helpline_escalation.bootstrap import MIGRATIONS, NAME, bootstrap
from helpline_escalation.config import EscalationSettings
from helpline_shared.runtime.cli import service_main


def main() -> None:
    """Run escalation's command line."""
    service_main(NAME, EscalationSettings, bootstrap, MIGRATIONS)


if __name__ == "__main__":
    main()
