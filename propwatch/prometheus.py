"""Prometheus text exposition (format 0.0.4), shared by the gateway's and the API's `/metrics`.

Written by hand: the format is a few lines per family, and neither service needs a client
library's registry or its global state.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
Labels = Mapping[str, str]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


class Exposition:
    """Builds one scrape: each metric family once, with HELP and TYPE, then its samples."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._seen: set[str] = set()

    def add(
        self,
        name: str,
        kind: str,
        help_text: str,
        samples: Iterable[tuple[Labels, float]] | float,
    ) -> None:
        if name in self._seen:
            raise ValueError(f"metric family {name} added twice")
        self._seen.add(name)
        self._lines.append(f"# HELP {name} {help_text}")
        self._lines.append(f"# TYPE {name} {kind}")
        rows = [({}, samples)] if isinstance(samples, int | float) else samples
        for labels, value in rows:
            if labels:
                inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
                self._lines.append(f"{name}{{{inner}}} {_number(value)}")
            else:
                self._lines.append(f"{name} {_number(value)}")

    def counter(self, name: str, help_text: str, value: float) -> None:
        self.add(name, "counter", help_text, value)

    def gauge(self, name: str, help_text: str, value: float) -> None:
        self.add(name, "gauge", help_text, value)

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"
