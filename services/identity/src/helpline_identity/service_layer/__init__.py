"""Use cases of identity, each in one unit of work."""
