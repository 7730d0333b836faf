"""``helpline``: the admin command line of a Helpline deployment."""
