"""HTTP routes of identity."""
