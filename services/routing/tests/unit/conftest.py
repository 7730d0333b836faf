"""Routing's unit tests import their builders from ``routing_support`` next to this file."""
