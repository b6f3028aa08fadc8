"""Shared fixtures: real servers per test session, an injected clock, the example site."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from propwatch.site import Site, load_site
from tests.support.servers import (
    Mosquitto,
    VictoriaMetrics,
    start_mosquitto,
    start_victoria_metrics,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_SITE = ROOT / "examples" / "hexie-garden" / "site.yaml"


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    m = start_mosquitto(tmp_path_factory.mktemp("mosquitto"))
    yield m
    m.stop()


@pytest.fixture(scope="session")
def victoria_metrics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetrics]:
    vm = start_victoria_metrics(tmp_path_factory.mktemp("victoria-metrics"))
    yield vm
    vm.stop()


@pytest.fixture
def example_site() -> Site:
    return load_site(EXAMPLE_SITE)
