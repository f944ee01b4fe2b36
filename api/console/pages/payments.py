"""/console/payments: recharges and withdrawals, filtered; a payment's routing decisions, what the channel
answered (its events) and its postings; the operator's sweep of payments left pending."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any
from uuid import UUID

from fastapi import Form

from ledger.domain.access import Permission as P
from ledger.domain.errors import NotFound

from ...service.channels import Channels
from ...service.lookups import Lookups
from ...service.payments import CardPayments
from ...service.reports import Reports
from ..web import Desk, command_key, needs, page_router
from .transactions import PAYMENT_KINDS, FromDay, account_names, transactions_page

router = page_router("/console/payments")
Reader = Annotated[Desk, needs(P.TRANSACTIONS_READ)]
Operator = Annotated[Desk, needs(P.CHANNELS_MANAGE)]
EVENTS_SHOWN_MAX = 100
SWEEP_MINUTES_MAX = 30 * 24 * 60  # the API's bound: 30 days


@router.get("")
def find_payments(desk: Reader, business_id: str | None = None, kind: str | None = None, status: str | None = None,
                  channel: str | None = None, start: FromDay = None, to: str | None = None,
                  account_id: str | None = None, cursor: str | None = None):
    return transactions_page(desk, "payments/list.html", "/console/payments", PAYMENT_KINDS, business_id,
                             kind or PAYMENT_KINDS[0], status, channel, start, to, account_id, cursor,
                             can_sweep=desk.can(P.CHANNELS_MANAGE))


@router.get("/{payment_id}")
def payment_page(desk: Reader, payment_id: UUID):
    payments = desk.service(CardPayments)
    try:
        payment = payments.payment(payment_id, "recharge")
    except NotFound:
        payment = payments.payment(payment_id, "withdrawal")
    lookups = desk.service(Lookups)
    transfers = [asdict(lookups.transfer(transfer_id)) for transfer_id in payment.transfer_ids]
    history = desk.service(Reports).aggregate_events(payment_id, EVENTS_SHOWN_MAX)
    return desk.render("payments/payment.html", payment=asdict(payment), transfers=transfers, history=history,
                       names=account_names(desk, transfers))


@router.post("/sweep")
def sweep(desk: Operator, older_than_minutes: Annotated[int, Form(ge=0, le=SWEEP_MINUTES_MAX)] = 1,
          idempotency_key: Annotated[str, Form(max_length=100)] = ""):
    """Ask the channels about every payment pending for longer than that, and settle what they answer."""

    def run() -> list[Any]:
        return desk.service(Channels).sweep(older_than_minutes * 60, command_key(idempotency_key))

    def said(swept: list[Any]) -> str:
        if not swept:
            return f"No payment was pending for more than {older_than_minutes} minutes."
        counts: dict[str, int] = {}
        for payment in swept:
            counts[payment.status] = counts.get(payment.status, 0) + 1
        return f"Swept {len(swept)} pending payments: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) + "."

    return desk.act(run, said, "/console/payments")
