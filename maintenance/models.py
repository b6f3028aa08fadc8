"""Import point for every table, so metadata and migrations see them all."""

from maintenance.alarms.models import Alarm, ProcessedEvent
from maintenance.notifications import Notification
from maintenance.registry.models import Asset, Building, Person, SiteRecord, Zone
from maintenance.work_orders.models import Escalation, WorkOrder, WorkOrderTransition

__all__ = [
    "Alarm",
    "Asset",
    "Building",
    "Escalation",
    "Notification",
    "Person",
    "ProcessedEvent",
    "SiteRecord",
    "WorkOrder",
    "WorkOrderTransition",
    "Zone",
]
