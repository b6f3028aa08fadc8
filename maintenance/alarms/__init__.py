"""Alarms: raise/clear episodes from the gateway, separate from the work orders they cause."""
