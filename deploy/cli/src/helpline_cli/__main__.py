"""``python -m helpline_cli``."""

from helpline_cli.app import main

if __name__ == "__main__":
    main()
