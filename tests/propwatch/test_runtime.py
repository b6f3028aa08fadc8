"""What `propwatch demo` hands out: a phone link per technician, each token theirs alone."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from api.auth import ApiRole, TokenRegistry
from propwatch.runtime import _technician_links
from propwatch.site import load_site
from tests.conftest import EXAMPLE_SITE


def test_each_technician_gets_a_tasks_link_with_a_token_of_their_own() -> None:
    site = load_site(EXAMPLE_SITE)
    tokens = TokenRegistry()

    text = _technician_links(
        site, tokens, "http://127.0.0.1:8000", datetime(2026, 11, 23, tzinfo=UTC)
    )

    links = re.findall(
        r"我的任务 (\S+) \(([\w-]+)\): http://127\.0\.0\.1:8000/tasks#token=(\S+)", text
    )
    technicians = [p for p in site.spec.people if p.role == "technician"]
    assert [(name, pid) for name, pid, _ in links] == [(p.name, p.id) for p in technicians]
    for _, pid, token in links:
        principal = tokens.known(token, at=0.0)
        assert principal is not None
        assert (principal.role, principal.person, principal.sites) == (
            ApiRole.TECHNICIAN,
            pid,
            frozenset({site.id}),
        )
