"""Work-order refusals (see `maintenance.errors` for how the API maps them)."""

from __future__ import annotations

from maintenance.errors import Conflict, InvalidRequest, MaintenanceError, NotFound

WorkOrderError = MaintenanceError


class WorkOrderNotFound(NotFound):
    code = "work_order_not_found"


class IllegalTransition(Conflict):
    """A lifecycle step the current status does not allow."""

    code = "illegal_transition"


class InvalidWorkOrder(InvalidRequest):
    code = "invalid_work_order"


__all__ = ["IllegalTransition", "InvalidWorkOrder", "WorkOrderError", "WorkOrderNotFound"]
