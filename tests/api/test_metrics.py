"""`GET /metrics` over a real uvicorn server, scraped as Prometheus would; SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import count

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session

from api.deps import AppContext
from maintenance.alarms.models import Alarm
from maintenance.db import Database
from tests.api.conftest import Tokens, bearer
from tests.api.live import serve

Sample = tuple[str, frozenset[tuple[str, str]]]
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
_episodes = count(1)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """The migrated schema on each backend (the API's own fixture is SQLite only)."""
    d = Database(database_url)
    d.upgrade()
    yield d
    d.dispose()


def _alarm(
    s: Session,
    at: datetime,
    asset: str,
    alarm_type: str,
    *,
    cleared_after: timedelta | None = None,
    severity: str = "major",
    **columns: object,
) -> None:
    alarm = Alarm(
        site_id="hexie",
        episode_id=f"metrics-{next(_episodes)}",
        asset_code=asset,
        alarm_type=alarm_type,
        severity=severity,
        rule_id="rule",
        state="raised" if cleared_after is None else "cleared",
        raised_at=at,
        cleared_at=None if cleared_after is None else at + cleared_after,
        raise_count=1,
        chattering=False,
    )
    for name, value in columns.items():
        setattr(alarm, name, value)
    s.add(alarm)


def _scrape(base: str, token: str) -> tuple[dict[str, tuple[str, str]], dict[Sample, float]]:
    """HELP and TYPE per family, and every sample; a sample before its family's TYPE fails."""
    r = httpx.get(f"{base}/metrics", headers=bearer(token), timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    helps: dict[str, str] = {}
    families: dict[str, tuple[str, str]] = {}
    samples: dict[Sample, float] = {}
    for line in r.text.splitlines():
        if line.startswith("# HELP "):
            name, text = line[7:].split(" ", 1)
            helps[name] = text
        elif line.startswith("# TYPE "):
            name, kind = line[7:].split(" ", 1)
            families[name] = (helps[name], kind)
        else:
            m = _SAMPLE.match(line)
            assert m is not None, line
            assert m[1] in families, f"{m[1]} has no TYPE line before its samples"
            key = (m[1], frozenset(_LABEL.findall(m[2] or "")))
            assert key not in samples, f"duplicate sample {line}"
            samples[key] = float(m[3])
    return families, samples


def _value(samples: dict[Sample, float], name: str, **labels: str) -> float:
    return samples[(f"propwatch_alarm_{name}", frozenset(labels.items()))]


def test_metrics_give_the_alarm_list_and_the_load_of_each_window(
    app: FastAPI, ctx: AppContext, tokens: Tokens
) -> None:
    now = ctx.clock.now()
    with ctx.db.session() as s:
        for i in range(12):  # a flood that chatters: every 30 s
            _alarm(s, now - timedelta(minutes=9) + timedelta(seconds=30 * i), "lift-1-1", "door")
        _alarm(s, now - timedelta(hours=30), "pump-1", "low_level", acknowledged_at=now)
        _alarm(
            s, now - timedelta(hours=2), "door-north", "forced_open", severity="critical",
            shelved_until=now + timedelta(hours=1), shelved_by="duty", shelve_reason="施工",
        )  # fmt: skip
        _alarm(
            s,
            now - timedelta(hours=1),
            "door-north",
            "reader_offline",
            cleared_after=timedelta(minutes=2),
        )
        _alarm(s, now - timedelta(hours=3), "lighting-b", "dark", suppressed_reason="计划保养中")
        _alarm(s, now - timedelta(hours=4), "lift-1-1", "comm", severity="minor", stale=True)
    with serve(app) as base:
        families, samples = _scrape(base, tokens.integration)
    assert all(
        name.startswith("propwatch_alarm_") and kind == "gauge" and text
        for name, (text, kind) in families.items()
        if not name.startswith("propwatch_plan")  # the plans' families: test_plan_isolation
    )
    active = {
        sev: _value(samples, "active", site="hexie", severity=sev)
        for sev in ("critical", "major", "minor", "warning")
    }
    assert active == {"critical": 1, "major": 13, "minor": 1, "warning": 0}
    assert _value(samples, "unacknowledged", site="hexie", state="active") == 13
    assert _value(samples, "unacknowledged", site="hexie", state="returned") == 1
    assert [
        _value(samples, name, site="hexie")
        for name in ("shelved", "out_of_service", "standing", "stale", "suppressed", "operators")
    ] == [1, 0, 1, 1, 1, 1]
    windowed = ("raised", "rate_per_operator_average", "rate_per_operator_peak", "flood_ratio")
    figures = {
        (name, window): _value(samples, name, site="hexie", window=window)
        for name in (*windowed, "chattering")
        for window in ("10m", "24h")
    }
    assert figures == {
        ("raised", "10m"): 12,
        ("raised", "24h"): 15,
        ("rate_per_operator_average", "10m"): 12,
        ("rate_per_operator_average", "24h"): round(15 / 144, 4),
        ("rate_per_operator_peak", "10m"): 12,
        ("rate_per_operator_peak", "24h"): 12,
        ("flood_ratio", "10m"): 1,
        ("flood_ratio", "24h"): round(1 / 144, 4),
        ("chattering", "10m"): 1,
        ("chattering", "24h"): 1,
    }


def test_metrics_need_a_token_of_the_duty_room_or_an_integration_and_show_only_its_sites(
    app: FastAPI, ctx: AppContext, tokens: Tokens
) -> None:
    with ctx.db.session() as s:
        _alarm(s, ctx.clock.now() - timedelta(minutes=1), "pump-1", "low_level")
    with serve(app) as base:
        anonymous = httpx.get(f"{base}/metrics", timeout=10)
        technician = httpx.get(f"{base}/metrics", headers=bearer(tokens.technician), timeout=10)
        _, elsewhere = _scrape(base, tokens.other_site)
        _, duty = _scrape(base, tokens.duty)
        _, admin = _scrape(base, tokens.admin)
    assert (anonymous.status_code, technician.status_code) == (401, 403)
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert elsewhere == {}
    assert _value(duty, "active", site="hexie", severity="major") == 1
    assert admin == duty
