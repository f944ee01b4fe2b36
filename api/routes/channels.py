"""/v1/admin/banks, /channels, /routes, /payments/sweep: the channel catalog, for operators;
and /v1/channels/{code}/notifications: the channels' own callbacks (signed, no API key)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool

from ledger.domain.access import Permission as P

from ..deps import IdempotencyKeyDep, ServicesDep
from ..models import BankIn, CatalogOut, ChannelIn, ChannelStatusIn, Code, Method, PaymentOut, ProductIn, RouteIn, SweepIn
from ..service import acting
from ..service.channels import Channels
from .approvals import PENDING

router = APIRouter(prefix="/v1/admin", tags=["channels"])
callbacks = APIRouter(tags=["channels"])
Operator = Annotated[Channels, acting(P.CHANNELS_MANAGE, Channels)]


@router.get("/channels", response_model=CatalogOut)
def catalog(api: Operator):
    """Banks, channels with their products (fees, bank switches, limits), and routes."""
    return api.catalog()


@router.post("/banks", status_code=201, response_model=CatalogOut)
def register_bank(body: BankIn, api: Operator, key: IdempotencyKeyDep):
    return api.register_bank(key, body.code, body.name)


@router.post("/channels", status_code=201, response_model=CatalogOut)
def register_channel(body: ChannelIn, api: Operator, key: IdempotencyKeyDep):
    return api.register_channel(key, body.code, body.name, body.logo_url)


@router.post("/channels/{code}/status", response_model=CatalogOut, responses=PENDING)
def set_channel_status(code: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")],
                       body: ChannelStatusIn, api: Operator, key: IdempotencyKeyDep):
    """Open or close a channel: a closed one is skipped by routing."""
    return api.set_channel_status(key, code, body.status)


@router.post("/channels/{code}/products/{method}", response_model=CatalogOut, responses=PENDING)
def configure_product(code: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")], method: Method,
                      body: ProductIn, api: Operator, key: IdempotencyKeyDep):
    """A channel's product for a method: its fee rule, and per bank a switch and limits."""
    banks = {bank: setting.model_dump() for bank, setting in body.banks.items()}
    return api.configure_product(key, code, method, body.fee.model_dump(), banks)


@router.post("/routes", response_model=CatalogOut, responses=PENDING)
def set_route(body: RouteIn, api: Operator, key: IdempotencyKeyDep):
    """A business's channels for a method, with priorities (lower first)."""
    entries = [entry.model_dump() for entry in body.channels]
    return api.set_route(key, body.business_id, body.method, entries)


@router.post("/payments/sweep", response_model=list[PaymentOut])
def sweep(body: SweepIn, api: Operator, key: IdempotencyKeyDep):
    """Ask the channels about payments still pending after `older_than_s` seconds, and settle them.
    A retry with the same Idempotency-Key answers with the first sweep's payments, as they were then."""
    return api.sweep(body.older_than_s, key)


@callbacks.post("/v1/channels/{code}/notifications", response_model=PaymentOut)
async def notification(code: Code, request: Request, services: ServicesDep):
    """A channel's signed notification of a payment's result. Verified, then applied once."""
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    return await run_in_threadpool(services.payments.notify, code, body, headers)
