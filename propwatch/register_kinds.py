"""The registers a site file may keep beside it, in the order the loader merges them: assets
first, since contracts and plans name assets, and contractors before the contracts naming them."""

from __future__ import annotations

from typing import Any

from propwatch.asset_register import ASSETS
from propwatch.contractor_register import CONTRACTORS, CONTRACTS
from propwatch.plan_register import PLANS
from propwatch.register_files import RegisterKind

KINDS: dict[str, RegisterKind[Any]] = {
    kind.section: kind for kind in (ASSETS, CONTRACTORS, CONTRACTS, PLANS)
}
