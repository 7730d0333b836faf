"""Delivery plumbing every Helpline service runs on: database, outbox, inbox, consumers, edges.

This is framework code and lives apart from the contracts (``helpline_shared.events``,
``envelope``, ``topics``), which import nothing but pydantic.
"""
