"""维保单位 and 维保合同 in the site file: refused at load with file, line and field — an unknown
contractor, asset or technician, two contracts of one asset over the same period, a contract that
ends before it starts, a contractor's person on a zone's list, a rate with three decimals."""

from __future__ import annotations

from pathlib import Path

from propwatch.contractors import contract_of
from propwatch.site import inspect_site
from tests.api.contract_site import contract_site_text


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(text, "utf-8")
    return path


def _line(text: str, needle: str) -> int:
    return text.splitlines().index(needle) + 1


def test_the_example_with_a_contract_loads(tmp_path: Path) -> None:
    site, problems = inspect_site(_write(tmp_path, contract_site_text()))
    assert problems == [] and site is not None
    [contract] = site.spec.contracts
    assert [a for a in contract.assets] == ["lift-1-1"]
    assert site.spec.costs.rate_fen("technician", contractor=False) == 6000
    assert site.spec.costs.rate_fen("technician", contractor=True) == 4500
    assert site.spec.costs.rate_fen("security", contractor=False) == 0  # not given: no cost
    from datetime import date

    assert contract_of(site.spec, "lift-1-1", date(2026, 12, 31)) is contract
    assert contract_of(site.spec, "lift-1-1", date(2027, 1, 1)) is None
    assert contract_of(site.spec, "pump-1", date(2026, 6, 1)) is None


def test_wrong_references_are_refused_at_their_lines(tmp_path: Path) -> None:
    extra = """  - id: lift-2026-b
    contractor: xizi-lfit
    assets: [lift-1-1, lift-9]
    start: 2026-06-01
    end: 2027-05-31
    technician: wang-gong
"""
    text = contract_site_text().replace(
        "contract_reminder_days: 45\n", extra + "contract_reminder_days: 45\n"
    )
    path = _write(tmp_path, text)
    _site, problems = inspect_site(path)
    fields = sorted(p.split(": ")[1] for p in problems)
    assert fields == [
        "contracts[1].assets",  # lift-1-1 is under lift-2026 until 31 Dec
        "contracts[1].assets[1]",
        "contracts[1].contractor",
        "contracts[1].technician",
    ]
    contractor = next(p for p in problems if "contracts[1].contractor" in p)
    assert contractor.startswith(f"{path}:{_line(text, '    contractor: xizi-lfit')}: ")
    assert "xizi-lift" in contractor  # the near miss is suggested
    overlap = next(p for p in problems if ": contracts[1].assets: " in p)
    assert "lift-1-1" in overlap and "lift-2026" in overlap
    tech = next(p for p in problems if "contracts[1].technician" in p)
    assert "wang-gong" in tech


def test_a_period_backwards_a_contractor_on_a_zone_and_a_rate_in_tenths_of_fen(
    tmp_path: Path,
) -> None:
    text = contract_site_text().replace("    end: 2026-12-31\n", "    end: 2025-12-31\n")
    text = text.replace("    technicians: [wang-gong]\n", "    technicians: [wang-gong, qian-wb]\n")
    text = text.replace("technician: 60,", "technician: 60.005,")
    path = _write(tmp_path, text)
    _site, problems = inspect_site(path)
    fields = sorted(p.split(": ")[1] for p in problems)
    assert fields == ["contracts[0]", "costs.rates.technician"]
    # a schema error stops before the cross-references; fixed, the zone's list is refused
    text = text.replace("end: 2025-12-31", "end: 2026-12-31").replace("60.005", "60")
    _site, problems = inspect_site(_write(tmp_path, text))
    assert [p.split(": ")[1] for p in problems] == ["zones[0].technicians[1]"]
    assert "qian-wb" in problems[0]
