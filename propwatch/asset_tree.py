"""资产层级: parents and children of the site file's assets (`parent:`), which the loader has
already checked to form a tree (no unknown parent, no cycle)."""

from __future__ import annotations

from collections.abc import Iterable

from propwatch.site import Asset


class AssetTree:
    """Who holds whom, built once per site file."""

    def __init__(self, assets: Iterable[Asset]) -> None:
        self.by_id = {a.id: a for a in assets}
        self._children: dict[str, list[Asset]] = {}
        for a in self.by_id.values():
            if a.parent is not None:
                self._children.setdefault(a.parent, []).append(a)

    def ancestors(self, asset_id: str) -> list[Asset]:
        """From the direct parent up to the top."""
        out: list[Asset] = []
        up = self.by_id[asset_id].parent if asset_id in self.by_id else None
        while up is not None and up in self.by_id and len(out) < len(self.by_id):
            out.append(self.by_id[up])
            up = self.by_id[up].parent
        return out

    def children(self, asset_id: str) -> list[Asset]:
        return list(self._children.get(asset_id, []))

    def descendants(self, asset_id: str) -> list[Asset]:
        """Every asset below, depth first in file order."""
        out: list[Asset] = []
        stack = list(reversed(self._children.get(asset_id, [])))
        while stack and len(out) < len(self.by_id):
            a = stack.pop()
            out.append(a)
            stack.extend(reversed(self._children.get(a.id, [])))
        return out
