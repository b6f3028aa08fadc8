"""维保单位 and their contracts: the site file's `contractors` and `contracts` sections.

A contract changes once a year and a licence expiry is a date on a certificate, so both live in
the site file the engineering manager already keeps, checked with file, line and field like the
rest of it, rather than in tables behind an API:

```yaml
contractors:
  - id: xizi-lift
    name: 西子电梯维保有限公司
    licence_no: TS3133001-2027          # 特种设备安装改造维修许可证
    licence_expiry: 2027-06-30
    contact: 钱经理
    phone: "0571-88880000"
contracts:
  - id: lift-2026
    contractor: xizi-lift
    name: 2026年度电梯维保合同
    assets: [elevator-1]
    start: 2026-01-01
    end: 2026-12-31
    technician: qian-wb                 # takes the plan orders; default: the contractor's first
    response:                           # 响应时限 of the contract; limits left out keep the site's
      - {priority: emergency, respond: 5m, arrive: 30m, resolve: 2h}
contract_reminder_days: 30              # 合同/许可证到期提醒, days ahead
```

People of a contractor are `people` entries with `contractor: <id>`. While a contract is in
force (its start to its end, whole local days) its rows replace the site's time limits for the
orders of its assets, its technician takes their plan orders, and its contractor's people see
those orders only.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from propwatch.config_errors import unknown_reference
from propwatch.durations import Limit
from propwatch.messages import say

if TYPE_CHECKING:
    from propwatch.site import SiteFile

ID = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
Loc = tuple[str | int, ...]


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Contractor(_M):
    """维保单位: who they are and the licence they work under."""

    id: str = Field(pattern=ID)
    name: str = Field(min_length=1, max_length=100)
    licence_no: str = Field(min_length=1, max_length=64, description="资质/许可证编号")
    licence_expiry: date
    contact: str = Field(default="", max_length=50)
    phone: str = Field(default="", max_length=30)


class ResponseTerm(_M):
    """One row of a contract's response terms: a priority (and category, `*` for any)."""

    category: str = "*"
    priority: Literal["emergency", "important", "general"]
    respond: Limit | None = None
    arrive: Limit | None = None
    resolve: Limit | None = None


class Contract(_M):
    """维保合同: the assets a contractor maintains over a period, and on what terms."""

    id: str = Field(pattern=ID)
    contractor: str
    name: str = Field(default="", max_length=100)
    assets: list[str] = Field(min_length=1)
    start: date
    end: date
    technician: str | None = None
    response: list[ResponseTerm] = Field(default_factory=list)

    @model_validator(mode="after")
    def _period(self) -> Contract:
        if self.end < self.start:
            raise ValueError(
                say("合同结束日期早于开始日期", "the contract's end is before its start")
            )
        return self

    def in_force(self, day: date) -> bool:
        return self.start <= day <= self.end

    @property
    def title(self) -> str:
        return self.name or self.id


def contract_of(spec: SiteFile, asset_id: str | None, day: date) -> Contract | None:
    """The contract in force on `day` that covers the asset (periods of one asset never overlap:
    `contractor_problems` refuses that)."""
    if asset_id is None:
        return None
    for c in spec.contracts:
        if asset_id in c.assets and c.in_force(day):
            return c
    return None


def contractor_of_person(spec: SiteFile, person: str | None) -> str | None:
    p = next((x for x in spec.people if x.id == person), None)
    return p.contractor if p is not None else None


def contract_technician(spec: SiteFile, contract: Contract) -> str | None:
    """Who takes the contract's plan orders: its named technician, else the contractor's first."""
    if contract.technician is not None:
        return contract.technician
    return next((p.id for p in spec.people if p.contractor == contract.contractor), None)


def covered_assets(spec: SiteFile, contractor: str, day: date) -> frozenset[str]:
    """The assets a contractor's people may see orders of on `day`."""
    return frozenset(
        a
        for c in spec.contracts
        if c.contractor == contractor and c.in_force(day)
        for a in c.assets
    )


def contractor_problems(spec: SiteFile) -> list[tuple[Loc, str]]:
    """Cross-references: ids once, the contractor, assets and technician of each contract, one
    contract per asset at a time, and contractor people kept out of the zones' and duty lists
    (they answer for their contract's assets only)."""
    out: list[tuple[Loc, str]] = []
    for section in ("contractors", "contracts"):
        seen: dict[str, int] = {}
        for i, item in enumerate(getattr(spec, section)):
            if item.id in seen:
                out.append(
                    (
                        (section, i, "id"),
                        say(
                            f"id {item.id} 重复（{section}[{seen[item.id]}] 已使用）",
                            f"id {item.id} is used twice (also {section}[{seen[item.id]}])",
                        ),
                    )
                )
            seen.setdefault(item.id, i)
    contractors = {c.id for c in spec.contractors}
    assets = {a.id for a in spec.assets}
    people = {p.id: p for p in spec.people}
    for i, p in enumerate(spec.people):
        if p.contractor is not None and p.contractor not in contractors:
            out.append(
                (
                    ("people", i, "contractor"),
                    unknown_reference("维保单位", "contractor", p.contractor, contractors),
                )
            )
    for i, c in enumerate(spec.contracts):
        if c.contractor not in contractors:
            out.append(
                (
                    ("contracts", i, "contractor"),
                    unknown_reference("维保单位", "contractor", c.contractor, contractors),
                )
            )
        for j, aid in enumerate(c.assets):
            if aid not in assets:
                out.append(
                    (("contracts", i, "assets", j), unknown_reference("资产", "asset", aid, assets))
                )
        if c.technician is not None:
            tech = people.get(c.technician)
            if tech is None:
                out.append(
                    (
                        ("contracts", i, "technician"),
                        unknown_reference("人员", "person", c.technician, set(people)),
                    )
                )
            elif tech.contractor != c.contractor:
                out.append(
                    (
                        ("contracts", i, "technician"),
                        say(
                            f"{tech.name}（{tech.id}）不是该维保单位的人员",
                            f"{tech.id} is not a person of contractor {c.contractor}",
                        ),
                    )
                )
        for k, earlier in enumerate(spec.contracts[:i]):
            both = sorted(set(c.assets) & set(earlier.assets))
            if both and c.start <= earlier.end and earlier.start <= c.end:
                out.append(
                    (
                        ("contracts", i, "assets"),
                        say(
                            f"资产 {', '.join(both)} 在同一时期已由 contracts[{k}]"
                            f"（{earlier.id}）覆盖",
                            f"assets {', '.join(both)} are covered by contracts[{k}] "
                            f"({earlier.id}) over the same period",
                        ),
                    )
                )
                break
    contractor_people = {p.id for p in spec.people if p.contractor is not None}
    for i, z in enumerate(spec.zones):
        for j, pid in enumerate(z.technicians):
            if pid in contractor_people:
                out.append((("zones", i, "technicians", j), _outside(pid)))
    for role in ("day_technician", "night_technician"):
        pid = getattr(spec.duty, role)
        if pid in contractor_people:
            out.append((("duty", role), _outside(pid)))
    return out


def _outside(pid: str) -> str:
    return say(
        f"{pid} 是维保单位人员，只负责其合同内的设备，不能作为片区或值班维修人员",
        f"{pid} belongs to a contractor and answers for its contract's assets only, "
        "not for a zone or the duty rota",
    )
