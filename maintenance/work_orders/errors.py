"""Work-order refusals (see `maintenance.errors` for how the API maps them)."""

from __future__ import annotations

from maintenance.errors import (
    Conflict,
    InvalidRequest,
    MaintenanceError,
    NotFound,
    UnknownReference,
)

WorkOrderError = MaintenanceError


class WorkOrderNotFound(NotFound):
    code = "work_order_not_found"


class IllegalTransition(Conflict):
    """A lifecycle step the current status does not allow."""

    code = "illegal_transition"


class InvalidWorkOrder(InvalidRequest):
    code = "invalid_work_order"


class UnknownTag(UnknownReference):
    """A tag the site file does not declare (`fields` names where: `tags.2`)."""

    code = "unknown_tag"


class UnknownCustomField(UnknownReference):
    """A custom field the site file does not declare (`custom_fields.<id>`)."""

    code = "unknown_custom_field"


class InvalidCustomField(UnknownReference):
    """A declared custom field given a value of the wrong kind, or too many tags: refused with
    the field named, like an unknown one."""

    code = "invalid_custom_field"


class IllegalChange(Conflict):
    """A change the order's state does not allow (the priority of a finished order)."""

    code = "illegal_change"


__all__ = [
    "IllegalChange",
    "IllegalTransition",
    "InvalidCustomField",
    "InvalidWorkOrder",
    "UnknownCustomField",
    "UnknownReference",
    "UnknownTag",
    "WorkOrderError",
    "WorkOrderNotFound",
]
