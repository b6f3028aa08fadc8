"""The operator documentation keeps up with the code: settings, alarm types, gateway metrics."""

from __future__ import annotations

import re

from propwatch.settings import Settings
from propwatch.site import load_site
from tests.conftest import EXAMPLE_SITE
from tests.deploy.files import ROOT

DOCS = ROOT / "docs"


def _alarm_types() -> set[str]:
    types: set[str] = set()
    for rule in load_site(EXAMPLE_SITE).spec.rules:
        if alarm_type := getattr(rule, "alarm_type", None):
            types.add(alarm_type)
        for mapping in (*getattr(rule, "codes", {}).values(), *getattr(rule, "flags", {}).values()):
            types.add(mapping.alarm_type)
    return types | {"communication_loss"}


def test_every_setting_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    missing = [f"PROPWATCH_{n.upper()}" for n in Settings.model_fields]
    missing = [v for v in missing if f"`{v}`" not in text]
    assert not missing, f"docs/configuration.md lacks {missing}"


def test_every_alarm_type_of_the_example_site_is_explained() -> None:
    text = (DOCS / "operations.md").read_text(encoding="utf-8")
    missing = sorted(t for t in _alarm_types() if f"`{t}`" not in text)
    assert not missing, f"docs/operations.md lacks alarm types {missing}"


def test_every_gateway_metric_is_explained() -> None:
    source = (ROOT / "gateway" / "metrics.py").read_text(encoding="utf-8")
    names = {f"propwatch_gateway_{n}" for n in re.findall(r'p \+ "(\w+)"', source)}
    assert names, "no metric names found in gateway/metrics.py"
    text = (DOCS / "operations.md").read_text(encoding="utf-8")
    missing = sorted(n for n in names if f"`{n}" not in text)
    assert not missing, f"docs/operations.md lacks metrics {missing}"


def test_readme_links_the_deployment_documents() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for doc in ("deployment.md", "operations.md", "configuration.md"):
        assert f"(docs/{doc})" in readme, doc
