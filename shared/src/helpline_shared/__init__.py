"""Helpline's shared contracts: event models, the CloudEvents envelope and topic names."""
