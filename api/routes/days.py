"""/v1/days: close an accounting day, its signed certificate, the key that signs; and
/v1/accounts/{id}/balance-proof: one account's closing balance with its Merkle path."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse

from ledger.domain.access import Permission as P

from ..deps import IdempotencyKeyDep
from ..models.common import BoundedDate
from ..models.days import BalanceProofOut, CertificateOut, CloseDayIn, DayCloseOut
from ..service import acting
from ..service.days import Days

router = APIRouter(tags=["days"])
Closer = Annotated[Days, acting(P.RECONCILE, Days)]
Reader = Annotated[Days, acting(P.REPORTS_READ, Days)]
Anyone = Annotated[Days, acting(P.ACCOUNTS_READ, Days)]
Day = Annotated[BoundedDate, Path(description="The accounting day, YYYY-MM-DD.")]


@router.get("/v1/days/public-key", response_class=PlainTextResponse,
            responses={200: {"content": {"text/plain": {}}, "description": "The Ed25519 public key, PEM."}})
def public_key(api: Anyone):
    """The public key that day-close certificates are signed with (PEM): verify them with it."""
    return PlainTextResponse(api.public_key())


@router.post("/v1/days/{date}/close", response_model=DayCloseOut)
def close_day(date: Day, api: Closer, key: IdempotencyKeyDep, body: CloseDayIn | None = None):
    """Close an accounting day that is over: fix the log position at its end, the hash chain there,
    the trial balance and the Merkle root over every account's closing balance, and sign them.
    Every channel a payment moved on the day needs that day's reconciliation closed, or waived
    (`waive`, with a `reason`: recorded). A day closes once (`409 day-already-closed`)."""
    return api.close(date, body or CloseDayIn(), key)


@router.get("/v1/days/{date}/certificate", response_model=CertificateOut)
def day_certificate(date: Day, api: Reader):
    """The day's signed certificate (`404 day-not-closed` before its close): save it as a file for
    `fundcenter audit verify-certificate`."""
    return api.get(date)["certificate"]


@router.get("/v1/days/{date}", response_model=DayCloseOut)
def day_close(date: Day, api: Reader):
    return api.get(date)


@router.get("/v1/accounts/{account_id}/balance-proof", response_model=BalanceProofOut)
def balance_proof(account_id: UUID, api: Anyone, date: Annotated[BoundedDate, Query(description="A closed day.")]):
    """The account's closing balance on a closed day, its Merkle leaf and the path to the day's
    signed root, with the certificate: verifiable without anyone else's balance."""
    return api.balance_proof(account_id, date)
