"""Refusals the duty room and technicians read: zh-CN first, English after.

The API maps them without knowing the rules: `NotFound` → 404, `Conflict` → 409,
`InvalidRequest` → 422; `code` is stable for clients, `zh` and `en` are the two texts.
"""

from __future__ import annotations


class MaintenanceError(ValueError):
    code = "maintenance_error"

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} ({en})")
        self.zh = zh
        self.en = en


class NotFound(MaintenanceError):
    code = "not_found"


class Conflict(MaintenanceError):
    code = "conflict"


class InvalidRequest(MaintenanceError):
    code = "invalid_request"


class UnknownReference(InvalidRequest):
    """An asset, zone, person or site the site does not have: refused with each field named,
    never dropped or stored as given. `fields` maps the field (dotted into lists and objects:
    `sites.1`) to its (zh, en) texts."""

    code = "unknown_reference"

    def __init__(self, fields: dict[str, tuple[str, str]]) -> None:
        super().__init__(
            "；".join(zh for zh, _ in fields.values()), "; ".join(en for _, en in fields.values())
        )
        self.fields = fields
