"""`GET /healthz`: every component's state; 503 when one is down."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy import text

from api.deps import Ctx

router = APIRouter()


@router.get("/healthz")
def healthz(ctx: Ctx, response: Response) -> dict[str, Any]:
    components: dict[str, Any] = {}
    ok = True
    try:
        # the read engine: on SQLite a probe must not queue for the write lock behind writers
        with ctx.read_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        components["database"] = {"ok": True}
    except Exception as exc:  # reported, not swallowed: the endpoint answers 503 with the reason
        components["database"] = {"ok": False, "error": str(exc)}
        ok = False
    for name, probe in list(ctx.health.items()):  # a component may join while we read
        state = probe()
        state.setdefault("ok", state.get("mqtt_connected", True))
        ok = ok and bool(state["ok"])
        components[name] = state
    if not ok:
        response.status_code = 503
    return {
        "status": "ok" if ok else "degraded",
        "time": ctx.clock.now().isoformat(),
        "components": components,
    }
