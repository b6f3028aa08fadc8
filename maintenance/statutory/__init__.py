"""法定检验: statutory inspections per asset, their reminders, orders and results."""
