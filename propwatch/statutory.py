"""法定检验: the inspections the law requires of an asset, as the site file may adjust them.

Each kind of inspection applies to some kinds of asset (or named assets), with its interval and
how many days ahead the duty room is reminded and the order to prepare and accompany it is
opened. The defaults follow the rules a property in China works to:

- 电梯定期检验 (TSG T7001): once a year, by the special-equipment inspection institute;
- 消防设施年度检测 (GB 25201, 《消防法》 art. 16): a full test of the fire systems once a year;
- 压力容器定期检验 (TSG 21): the first within 3 years of use, then every 3–6 years by the
  vessel's safety grade (3 years here, the strictest; a site with grade 1–2 vessels says 72);
- 防雷装置检测 (GB/T 21431): once a year (every six months for inflammable or explosive places).

The site file's `statutory_inspections.types` replaces a default of the same id (or turns it
off with `enabled: false`) and adds its own.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

ID = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"


class InspectionType(BaseModel):
    """One statutory inspection: which assets need it, how often, how far ahead to prepare."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ID, max_length=64)
    name: str = Field(min_length=1, max_length=60)
    kinds: list[str] = Field(default_factory=list)
    assets: list[str] = Field(default_factory=list)
    interval_months: int = Field(default=12, ge=1, le=120)
    remind_days: int = Field(default=30, ge=0, le=365, description="reminder this many days ahead")
    prepare_days: int = Field(
        default=14,
        ge=0,
        le=365,
        description="the order to prepare and accompany it",
    )
    enabled: bool = True

    def applies_to(self, asset_id: str, kind: str) -> bool:
        return self.enabled and (asset_id in self.assets or kind in self.kinds)


DEFAULT_TYPES: tuple[InspectionType, ...] = (
    InspectionType(id="elevator-periodic", name="电梯定期检验", kinds=["elevator", "escalator"]),
    InspectionType(
        id="fire-annual",
        name="消防设施年度检测",
        kinds=["fire_pump", "fire_alarm_panel", "sprinkler", "fire_hydrant", "smoke_exhaust_fan"],
    ),
    InspectionType(
        id="pressure-vessel",
        name="压力容器定期检验",
        kinds=["pressure_vessel", "pressure_tank", "air_receiver", "boiler"],
        interval_months=36,
        remind_days=60,
        prepare_days=30,
    ),
    InspectionType(
        id="lightning",
        name="防雷装置检测",
        kinds=["lightning_protection", "substation", "transformer"],
    ),
)


class StatutoryInspections(BaseModel):
    """The site file's `statutory_inspections`: its own types over the defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    types: list[InspectionType] = Field(default_factory=list)
    overdue_escalate_days: int = Field(
        default=0, ge=0, le=90, description="days past due before the manager is told"
    )

    def effective(self) -> list[InspectionType]:
        """The defaults with the site's replacements, then the site's own, enabled only."""
        own = {t.id: t for t in self.types}
        merged = [own.pop(t.id, t) for t in DEFAULT_TYPES]
        return [t for t in [*merged, *own.values()] if t.enabled]
