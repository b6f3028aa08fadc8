"""人工与费用: the site file's `costs` section, the hourly rates labour is costed at.

```yaml
costs:
  currency: CNY
  rates:              # 元 per hour, per role of the person who did the work
    technician: 60
    contractor: 0     # 维保单位 staff: paid through their contract, not per hour
```

A person of a contractor is costed at `contractor` when it is given, else at their role's rate;
a role left out costs nothing (its labour is still counted in hours).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

RateKey = Literal["technician", "security", "service", "supervisor", "contractor"]
Rate = Annotated[Decimal, Field(ge=0, max_digits=9, decimal_places=2)]


class CostSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    rates: dict[RateKey, Rate] = Field(
        default_factory=dict, description="元 per hour; two decimals at most"
    )

    def rate_fen(self, role: str, contractor: bool) -> int:
        """分 per hour for a person of `role` (and of a contractor or not)."""
        if contractor and "contractor" in self.rates:
            return _fen(self.rates["contractor"])
        for key, value in self.rates.items():
            if key == role:
                return _fen(value)
        return 0


def _fen(value: Decimal) -> int:
    return int((value * 100).to_integral_value())
