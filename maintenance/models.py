"""Import point for every table, so metadata and migrations see them all."""

from maintenance.alarms.models import Alarm, ProcessedEvent
from maintenance.registry.models import Asset, Person, Zone
from maintenance.work_orders.models import WorkOrder, WorkOrderTransition

__all__ = ["Alarm", "Asset", "Person", "ProcessedEvent", "WorkOrder", "WorkOrderTransition", "Zone"]
