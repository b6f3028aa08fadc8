"""Simulated devices that speak the protocols of their real counterparts."""
