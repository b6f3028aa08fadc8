"""Quality refusals (see `maintenance.errors` for how the API maps them)."""

from __future__ import annotations

from maintenance.errors import Conflict, InvalidRequest, NotFound


class FindingNotFound(NotFound):
    code = "finding_not_found"


class RectificationNotFound(NotFound):
    code = "rectification_not_found"


class IllegalRectificationStep(Conflict):
    """A step the rectification's status does not allow (复查 before 已整改, twice 通过)."""

    code = "illegal_transition"


class InvalidFinding(InvalidRequest):
    code = "invalid_finding"
