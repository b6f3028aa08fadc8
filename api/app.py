"""The FastAPI application."""

from __future__ import annotations

from fastapi import FastAPI

from api.deps import AppContext
from api.routes import alarms, assets, health, work_orders


def create_app(ctx: AppContext) -> FastAPI:
    app = FastAPI(
        title="propwatch",
        version="1",
        description="物业设施监测与预防性维护 API：告警、工单、资产。",
    )
    app.state.ctx = ctx
    app.include_router(health.router)
    app.include_router(work_orders.router)
    app.include_router(alarms.router)
    app.include_router(assets.router)
    return app
