"""Import point for every table, so metadata and migrations see them all."""

from api.models import (
    ApiToken,
    AuditEntry,
    ExternalRef,
    IdempotencyRecord,
    WebhookDelivery,
    WebhookSubscription,
)
from maintenance.alarms.models import Alarm, ProcessedEvent
from maintenance.commands.models import DeviceCommand
from maintenance.costs.models import ExtraCost, LabourEntry, PaidRepair
from maintenance.dead_letters import DeadLetter
from maintenance.downtime.models import DowntimeMark
from maintenance.notifications import Notification
from maintenance.notify.models import NotificationAttempt, NotificationCursor, NotificationDelivery
from maintenance.parts.models import Movement, Part, PartLine, Stock, StockCount, Store
from maintenance.plans.models import PlanCursor, PlanHealth, PlanRecord
from maintenance.quality.models import (
    Finding,
    Inspection,
    InspectionDeduction,
    Rectification,
    RectificationEscalation,
    RectificationStep,
)
from maintenance.registry.models import Asset, Building, Person, SiteRecord, Zone
from maintenance.residents.models import ResidentReminder, ResidentReport
from maintenance.site_leases import MaintenanceReplica, SiteLease
from maintenance.statutory.models import StatutoryRecord
from maintenance.work_orders.models import (
    Escalation,
    WorkOrder,
    WorkOrderRevisit,
    WorkOrderTransition,
)

__all__ = [
    "Alarm",
    "ApiToken",
    "Asset",
    "AuditEntry",
    "Building",
    "DeadLetter",
    "DeviceCommand",
    "DowntimeMark",
    "Escalation",
    "ExternalRef",
    "ExtraCost",
    "Finding",
    "IdempotencyRecord",
    "Inspection",
    "InspectionDeduction",
    "LabourEntry",
    "MaintenanceReplica",
    "Movement",
    "Notification",
    "NotificationAttempt",
    "NotificationCursor",
    "NotificationDelivery",
    "PaidRepair",
    "Part",
    "PartLine",
    "Person",
    "PlanCursor",
    "PlanHealth",
    "PlanRecord",
    "ProcessedEvent",
    "Rectification",
    "RectificationEscalation",
    "RectificationStep",
    "ResidentReminder",
    "ResidentReport",
    "SiteLease",
    "SiteRecord",
    "StatutoryRecord",
    "Stock",
    "StockCount",
    "Store",
    "WebhookDelivery",
    "WebhookSubscription",
    "WorkOrder",
    "WorkOrderRevisit",
    "WorkOrderTransition",
    "Zone",
]
