"""Parts refusals (see `maintenance.errors` for how the API maps them)."""

from __future__ import annotations

from maintenance.errors import Conflict, NotFound, UnknownReference


class PartNotFound(NotFound):
    code = "part_not_found"


class StoreNotFound(NotFound):
    code = "store_not_found"


class PartLineNotFound(NotFound):
    code = "part_line_not_found"


class PartExists(Conflict):
    """A code the site's catalogue (or its stores) already has."""

    code = "part_exists"


class InsufficientStock(Conflict):
    """可用库存不足: on hand less reserved does not cover the line."""

    code = "insufficient_stock"


class OrderNotOpen(Conflict):
    """Lines are added and removed only while the order is still in the technicians' hands."""

    code = "order_not_open"


class InvalidParts(UnknownReference):
    """A body field the parts rules refuse (a store of another site, a count below what is
    reserved), named like an unknown reference so the client sees which."""

    code = "invalid_parts"
