"""/v1/verifications: the recorded runs of `fundcenter replay` and `fundcenter audit verify` (auditors)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import Field

from ledger.domain.access import Permission as P

from ..models import Out
from ..service import acting
from ..service.reports import Reports

router = APIRouter(tags=["queries"])
VERIFICATIONS_MAX = 100


class VerificationOut(Out):
    id: int
    kind: Literal["replay", "audit"]
    started_at: datetime
    finished_at: datetime
    head_position: int = Field(description="The log position the run verified up to.")
    behind: int = Field(description="How many positions the log has moved since the run.")
    ok: bool
    summary: str
    first_problem: str | None = Field(description="The first mismatch of a failed run; null when ok.")


class VerificationsOut(Out):
    head: int = Field(description="The log's head position now.")
    runs: list[VerificationOut]


@router.get("/v1/verifications", response_model=VerificationsOut)
def verifications(
    api: Annotated[Reports, acting(P.EVENTS_READ, Reports)],
    kind: Annotated[Literal["replay", "audit"] | None, Query(description="Only runs of this kind.")] = None,
    limit: Annotated[int, Query(ge=1, le=VERIFICATIONS_MAX)] = 20,
):
    """The latest verification runs first: each `fundcenter replay` (kind `replay`: the views rebuilt
    from the log and compared) and `fundcenter audit verify` (kind `audit`: the hash chain and the
    aggregates), when, at which log position, ok or the first problem. Runs are started from the
    command line, never from the API."""
    return api.verifications(kind, limit)
