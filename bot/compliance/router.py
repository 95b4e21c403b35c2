"""`POST /compliance/v1/check`: the compliance check over HTTP."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

router = APIRouter(prefix="/compliance/v1", tags=["compliance"])


class CheckRequest(BaseModel):
    text: str = Field(min_length=1, max_length=20_000, description="The draft to check")
    required_disclosures: list[str] = Field(
        default_factory=list, description="Disclosure keys the text must carry"
    )


@router.post("/check", summary="Check a draft for banned phrases and missing disclosures")
def check(request: Request, body: CheckRequest) -> dict[str, Any]:
    """`may_send` is false when anything blocks; each finding has its span, category,
    severity, legal basis and a safe rewording."""
    result = request.app.state.runtime.checker.check(body.text, required=body.required_disclosures)
    return result.as_dict()
