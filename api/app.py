"""The FastAPI application."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI

from api import problems
from api.admission import Admission, AdmissionMiddleware
from api.deps import AppContext
from api.idempotency import IdempotencyKeys, IdempotencyMiddleware
from api.routes import (
    alarms,
    asset_structure,
    assets,
    attachments,
    checklists,
    commands,
    contractors,
    costs,
    docs,
    exports,
    health,
    labels,
    lighting,
    metrics,
    notice_board,
    notifications,
    overview,
    pages,
    parts,
    patrols,
    plans,
    quality,
    quality_league,
    reports,
    resident,
    service_report,
    sites,
    statutory,
    tokens,
    webhooks,
    work_orders,
)
from api.stream import router as stream_router
from api.validation import StorableTextMiddleware, refuse_unstorable_body


def create_app(ctx: AppContext) -> FastAPI:
    app = FastAPI(
        title="propwatch",
        version="1",
        description=(
            "物业设施监测与预防性维护 API：告警、工单、资产、报表、事件流与 webhook。"
            " Errors are RFC 9457 problem JSON; POSTs take `Idempotency-Key`;"
            " work-order changes take `If-Match`. Text may not contain NUL (U+0000) or an"
            " unpaired surrogate, and times lie within 1970-01-01 … 2200-01-01 UTC (else 422)."
            " See docs/api.md."
        ),
        # every JSON or form body, at any depth, before any route reads it (`api.validation`)
        dependencies=[Depends(refuse_unstorable_body)],
        # served by `api.routes.docs` from the package, not from a CDN
        docs_url=None,
        redoc_url=None,
    )
    app.state.ctx = ctx
    problems.install(app)
    keys = IdempotencyKeys(ctx.db, ctx.clock)
    admission = Admission.for_database(ctx.db)
    # outermost last: a keyed POST is claimed first, then admitted to run like any request
    app.add_middleware(AdmissionMiddleware, admission=admission)
    app.add_middleware(IdempotencyMiddleware, keys=keys, admission=admission)
    # outermost: a path or query value no database can store is refused before the key is kept
    app.add_middleware(StorableTextMiddleware)
    unavailable = app.state.database_unavailable

    def api_health() -> dict[str, Any]:
        # surfaced in /healthz: refusals for a busy database and what the keys did
        return {
            "ok": True,
            "database_unavailable": dict(unavailable),
            "admission": dict(admission.counts),
            "idempotency": dict(keys.counts),
        }

    ctx.health["api"] = api_health
    app.include_router(health.router)
    app.include_router(metrics.router)
    # before work_orders: /work-orders/export is not the order /work-orders/{id}
    app.include_router(exports.router)
    app.include_router(work_orders.router)
    app.include_router(alarms.router)
    app.include_router(assets.router)
    app.include_router(asset_structure.router)
    app.include_router(commands.router)
    app.include_router(reports.router)
    app.include_router(overview.router)
    app.include_router(plans.router)
    app.include_router(statutory.router)
    app.include_router(quality.router)
    app.include_router(patrols.router)
    app.include_router(parts.router)
    app.include_router(costs.router)
    app.include_router(contractors.router)
    app.include_router(quality_league.router)
    app.include_router(webhooks.router)
    app.include_router(notifications.router)
    app.include_router(tokens.router)
    app.include_router(stream_router)
    app.include_router(attachments.router)
    app.include_router(checklists.router)
    app.include_router(lighting.router)
    app.include_router(service_report.router)
    app.include_router(labels.router)
    app.include_router(notice_board.router)
    app.include_router(sites.router)
    app.include_router(sites.me_router)
    app.include_router(sites.files_router)
    app.include_router(docs.router)
    # 扫码报修: public routes without a token, the staff's 报修人 list, the resident pages
    app.include_router(resident.router)
    app.include_router(resident.staff_router)
    app.include_router(resident.pages_router)
    pages.install(app)
    return app
