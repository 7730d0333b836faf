"""Helpline identity: tenants, people, teams, API keys, signing keys and the audit log."""
