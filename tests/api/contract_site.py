"""和谐花园 with costs and a 维保单位: hourly rates, the lift contractor 西子电梯 with its
technician 钱师傅 (qian-wb), and its 2026 contract for the lift 1栋1号电梯 (lift-1-1) whose
response terms are tighter than the site's (紧急 arrive 30 min, resolve 2 h) and, for 一般, count
in working days (resolve 2wd)."""

from __future__ import annotations

from pathlib import Path

from propwatch.site import Site, load_site
from tests.api.integration import WORK_ORDER_FIELDS
from tests.conftest import EXAMPLE_SITE

CONTRACTOR_PERSON = "  - {id: qian-wb, name: 钱师傅, role: technician, contractor: xizi-lift}\n"
CONTRACTS = """
costs:
  currency: CNY
  rates: {technician: 60, contractor: 45, supervisor: 80}
contractors:
  - id: xizi-lift
    name: 西子电梯维保有限公司
    licence_no: TS3133001-2027
    licence_expiry: 2026-12-10
    contact: 钱经理
    phone: "0571-88880000"
contracts:
  - id: lift-2026
    contractor: xizi-lift
    name: 2026年度电梯维保合同
    assets: [lift-1-1]
    start: 2026-01-01
    end: 2026-12-31
    response:
      - {priority: emergency, arrive: 30m, resolve: 2h}
      - {priority: general, resolve: 2wd}
contract_reminder_days: 45
"""


def contract_site_text(extra: str = "") -> str:
    text = EXAMPLE_SITE.read_text(encoding="utf-8")
    assert "\npeople:\n" in text
    text = text.replace("\npeople:\n", "\npeople:\n" + CONTRACTOR_PERSON, 1)
    return text + WORK_ORDER_FIELDS + CONTRACTS + extra


def contract_site(tmp_path: Path, extra: str = "") -> Site:
    path = tmp_path / "contract-site" / "site.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(contract_site_text(extra), "utf-8")
    return load_site(path)
