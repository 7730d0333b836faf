"""Helpline workspace: the server-rendered web application people work in.

It holds nothing but sessions: every page is built from the public APIs of the other services,
called with the signed-in person's own credentials (see ``apis.py``).
"""
