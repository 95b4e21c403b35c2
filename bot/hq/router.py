"""`/hq/v1/`: headquarters loads advisors, customers and events in batches (bearer token)."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from pydantic import BaseModel

from bot.customers.feeds import Row
from bot.customers.ingest import IngestReport, ingest

MAX_BATCH = 10_000


class RejectedRow(BaseModel):
    kind: str
    row: int
    field: str
    reason: str


class KindCounts(BaseModel):
    inserted: int
    updated: int
    unchanged: int


class IngestResult(BaseModel):
    counts: dict[str, KindCounts]
    rejected: list[RejectedRow]


def require_hq_token(request: Request) -> None:
    """Bearer token from HQ_API_TOKEN; refuses every call while it is not configured."""
    configured = request.app.state.runtime.settings.hq_api_token
    if configured is None:
        raise HTTPException(503, "总部接口未启用：未配置 HQ_API_TOKEN")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(
        token.encode(), configured.get_secret_value().encode()
    ):
        raise HTTPException(
            401,
            "令牌无效或缺失（Authorization: Bearer <HQ_API_TOKEN>）",
            headers={"WWW-Authenticate": "Bearer"},
        )


router = APIRouter(prefix="/hq/v1", tags=["hq"], dependencies=[Depends(require_hq_token)])

BatchBody = Annotated[
    list[dict[str, Any]] | dict[str, list[dict[str, Any]]],
    Body(description='An array of records, or {"records": [...]}; at most 10,000.'),
]


def _load(request: Request, kind: str, body: Any) -> IngestResult:
    records = body.get("records") if isinstance(body, dict) else body
    if not isinstance(records, list):
        raise HTTPException(400, '请求体应为记录数组，或 {"records": [...]}')
    if len(records) > MAX_BATCH:
        raise HTTPException(413, f"每批最多 {MAX_BATCH} 条记录，收到 {len(records)} 条")
    runtime = request.app.state.runtime
    rows = [
        Row(kind, i, r) if isinstance(r, dict) else Row(kind, i, None, "记录应为 JSON 对象")
        for i, r in enumerate(records, start=1)
    ]
    report: IngestReport = ingest(runtime.engine, rows, clock=runtime.clock, source="hq_api")
    report.of(kind)
    return IngestResult.model_validate(report.as_dict())


@router.post("/advisors", response_model=IngestResult, summary="Upsert advisors")
def post_advisors(request: Request, body: BatchBody) -> IngestResult:
    """Idempotent on `userid`; rows that fail validation are returned with row and field."""
    return _load(request, "advisors", body)


@router.post("/customers", response_model=IngestResult, summary="Upsert customers")
def post_customers(request: Request, body: BatchBody) -> IngestResult:
    """Idempotent on `customer_no`; holdings are replaced when the customer changed."""
    return _load(request, "customers", body)


@router.post("/events", response_model=IngestResult, summary="Record customer events")
def post_events(request: Request, body: BatchBody) -> IngestResult:
    """Idempotent on `event_id`."""
    return _load(request, "events", body)
