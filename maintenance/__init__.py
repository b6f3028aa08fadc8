"""The maintenance service: assets, zones, alarms, work orders, plans and their time limits."""
