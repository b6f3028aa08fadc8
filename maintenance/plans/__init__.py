"""公共设施保养计划: preventive-maintenance plans, their templates and their occurrences."""
