"""Persistence, password hashing, token signing and the OIDC client."""
