"""Identity rules in plain Python: roles, permissions, token lifetimes, login throttling."""
