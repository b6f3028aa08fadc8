"""集团 → 区域 → 小区: the company above the sites, and its regions (区域/城市公司).

`organisation.yaml`, beside the site files in the sites folder, names the company and its
regions; each site names its region in its own site file (`site.region`), so moving a property
to another region is an edit of that property's file alone. The file is optional: without it
the organisation is implicit, one unnamed company whose regions are whatever the site files
name (each region named by its id).

The file is read with the site file's machinery (`propwatch.config_file`): a mistake is
`file:line: field: message` with a did-you-mean. A site naming a region the file does not
declare is reported by `region_problems`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from propwatch.config_errors import unknown_reference
from propwatch.config_file import ConfigError, line_of, read_yaml, validate_file
from propwatch.messages import say
from propwatch.site import ID, Site

ORGANISATION_FILE = "organisation.yaml"
"""The company's regions, beside the site files in the sites folder; not a site file."""
IMPLICIT_COMPANY_ID = "company"
IMPLICIT_COMPANY_NAME = "全部项目"
"""The name pages show for the company when there is no organisation file."""


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CompanySpec(_M):
    """集团 / 物业公司."""

    id: str = Field(pattern=ID)
    name: str = Field(min_length=1, max_length=100)


class RegionSpec(_M):
    """区域 / 城市公司: a group of properties run by one duty centre."""

    id: str = Field(pattern=ID, max_length=64)
    name: str = Field(min_length=1, max_length=100)


class OrganisationFile(_M):
    company: CompanySpec
    regions: list[RegionSpec] = Field(default_factory=list)


@dataclass(frozen=True)
class Organisation:
    """The company and its regions, as the pages and the token scopes need them."""

    company_id: str
    company_name: str
    regions: Mapping[str, str] = field(default_factory=dict)  # id -> name, in file order
    path: Path | None = None  # None: implicit (no organisation file)

    @classmethod
    def implicit(cls) -> Organisation:
        return cls(IMPLICIT_COMPANY_ID, IMPLICIT_COMPANY_NAME)

    @property
    def declared(self) -> bool:
        """True when an organisation file declares the regions (else any region a site names
        exists, named by its id)."""
        return self.path is not None

    def region_name(self, region_id: str) -> str:
        """The region's name for people; an undeclared region shows its id."""
        return self.regions.get(region_id, region_id)

    def region_ids(self, sites: Mapping[str, Site]) -> list[str]:
        """The regions there are: the declared ones (file order), then any a site names that
        the file does not declare (implicit organisation), sorted."""
        named = sorted({r for s in sites.values() if (r := s.spec.site.region) is not None})
        return list(self.regions) + [r for r in named if r not in self.regions]

    def knows_region(self, region_id: str, sites: Mapping[str, Site]) -> bool:
        if self.declared:
            return region_id in self.regions
        return any(s.spec.site.region == region_id for s in sites.values())

    def sites_in(self, region_ids: Iterable[str], sites: Mapping[str, Site]) -> frozenset[str]:
        """The sites that are in any of these regions now (sites change while running)."""
        wanted = set(region_ids)
        return frozenset(sid for sid, s in sites.items() if s.spec.site.region in wanted)


def load_organisation(path: Path) -> Organisation:
    """Read `organisation.yaml`; raises ConfigError with `file:line: field: message`."""
    data, lines = read_yaml(path)
    spec = validate_file(path, OrganisationFile, data, lines)
    first: dict[str, int] = {}
    problems = []
    for i, r in enumerate(spec.regions):
        line = line_of(lines, ("regions", i, "id")) or 0
        if r.id in first:
            problems.append(
                f"{path}:{line}: regions[{i}].id: "
                + say(
                    f"区域 {r.id} 重复（第 {first[r.id]} 行已有）",
                    f"region {r.id} is declared twice (line {first[r.id]})",
                )
            )
        first.setdefault(r.id, line)
    if problems:
        raise ConfigError(problems)
    return Organisation(
        spec.company.id,
        spec.company.name,
        {r.id: r.name for r in spec.regions},
        path,
    )


def organisation_in(folder: Path) -> Organisation:
    """The organisation of a sites folder: its `organisation.yaml`, or the implicit one."""
    path = folder / ORGANISATION_FILE
    return load_organisation(path) if path.is_file() else Organisation.implicit()


def region_problems(organisation: Organisation, sites: Mapping[str, Site]) -> list[str]:
    """`file:line: site.region: 未知的区域 …` for each site naming a region the organisation
    file does not declare; none without a file (every region a site names exists then)."""
    if not organisation.declared:
        return []
    problems = []
    for site in sorted(sites.values(), key=lambda s: str(s.path)):
        region = site.spec.site.region
        if region is None or region in organisation.regions:
            continue
        try:
            _, lines = read_yaml(site.path)
            line = line_of(lines, ("site", "region"))
        except ConfigError:  # the file changed under us; its next rescan reports it
            line = None
        where = f"{site.path}:{line}" if line else str(site.path)
        message = unknown_reference("区域", "region", region, organisation.regions)
        assert organisation.path is not None
        problems.append(
            f"{where}: site.region: {message}"
            + say(
                f"（区域在 {organisation.path.name} 中声明）",
                f" (regions are declared in {organisation.path.name})",
            )
        )
    return problems
