"""What the simulated channel sends and checks on the wire: a card's details, its signed
callbacks, and its daily statement file (with the differences a test asks it to inject)."""

from __future__ import annotations

import csv
import hmac
import io
import json
import re
from collections.abc import Callable
from dataclasses import replace

from ..domain.instants import rfc3339
from .gateway import Callback, CardVerification, ForgedCallback, Outcome, StatementLine

SIGNATURE_HEADER = "X-Sim-Signature"
FINAL_OUTCOMES = frozenset({Outcome.SUCCEEDED, Outcome.FAILED, Outcome.RETURNED})
CALLBACK_KEYS = ("reference", "channel_txn_id", "outcome", "amount", "fee", "notification_id")
STATEMENT_HEADER = ("channel_txn_id", "reference", "kind", "amount", "fee", "status", "time")

CARD_NUMBER = re.compile(r"[0-9]{12,19}")
ID_NUMBER = re.compile(r"[0-9]{17}[0-9Xx]")  # the API accepts a lower-case x too
PHONE = re.compile(r"[0-9]{11}")


def luhn_valid(number: str) -> bool:
    """The Luhn check digit test every bank card number passes."""
    if not number.isascii() or not number.isdigit():
        return False
    total = 0
    for position, digit in enumerate(int(d) for d in reversed(number)):
        if position % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def card_problem(request: CardVerification) -> str | None:
    """Why the bank refuses to verify this card (鉴权), or None."""
    if not CARD_NUMBER.fullmatch(request.card_number) or not luhn_valid(request.card_number):
        return "invalid card number"
    if not ID_NUMBER.fullmatch(request.id_number):
        return "invalid id number"
    if not PHONE.fullmatch(request.phone):
        return "invalid phone number"
    return None


def parse_callback(body: bytes, headers: dict[str, str], expected: str) -> Callback:
    """Check the signature against `expected` (the body's) and read the notification;
    anything wrong is a ForgedCallback."""
    signature = next((value for name, value in headers.items() if name.lower() == SIGNATURE_HEADER.lower()), "")
    if not isinstance(signature, str) or not signature.isascii():
        raise ForgedCallback("bad signature")
    if not signature or not hmac.compare_digest(signature.encode(), expected.encode()):
        raise ForgedCallback("bad or missing signature")
    try:
        data = json.loads(body)
    except ValueError as error:  # UnicodeDecodeError is a ValueError too
        raise ForgedCallback(f"callback is not JSON: {error}") from None
    if not isinstance(data, dict) or any(key not in data for key in CALLBACK_KEYS):
        raise ForgedCallback(f"callback needs the keys {', '.join(CALLBACK_KEYS)}")
    texts = [data[key] for key in ("reference", "channel_txn_id", "outcome", "notification_id")]
    numbers = [data["amount"], data["fee"]]
    if not all(isinstance(text, str) and text for text in texts):
        raise ForgedCallback("callback: reference, channel_txn_id, outcome and notification_id are text")
    if not all(isinstance(number, int) and not isinstance(number, bool) and number >= 0 for number in numbers):
        raise ForgedCallback("callback: amount and fee are whole numbers, not negative")
    if data["outcome"] not in {outcome.value for outcome in FINAL_OUTCOMES}:
        raise ForgedCallback(f"callback: unknown outcome {data['outcome']!r}")
    return Callback(
        reference=data["reference"],
        channel_txn_id=data["channel_txn_id"],
        outcome=Outcome(data["outcome"]),
        amount=data["amount"],
        fee=data["fee"],
        notification_id=data["notification_id"],
    )


def with_differences(lines: list[StatementLine], held: set[str], candidates: list[StatementLine], *, drop: int,
                     change_status: int, change_amount: int, change_fee: int) -> list[StatementLine]:
    """The day's `lines` less those `held` for the next day's file, with differences injected into rows
    taken from `candidates` in their order: `drop` rows left out, `change_status` succeeded <-> failed,
    `change_amount` amount +1, `change_fee` fee +1. Each row gets at most one difference."""
    remaining = list(candidates)

    def take(count: int, fits: Callable[[StatementLine], bool] = lambda line: True) -> set[str]:
        chosen = [line for line in remaining if fits(line)][: max(count, 0)]
        for line in chosen:
            remaining.remove(line)
        return {line.channel_txn_id for line in chosen}

    dropped = take(drop)
    statuses = take(change_status, lambda line: line.status in ("succeeded", "failed"))
    amounts = take(change_amount)
    fees = take(change_fee)
    rows: list[StatementLine] = []
    for line in lines:
        if line.channel_txn_id in dropped or line.channel_txn_id in held:
            continue
        if line.channel_txn_id in amounts:
            line = replace(line, amount=line.amount + 1)
        if line.channel_txn_id in statuses:
            line = replace(line, status="failed" if line.status == "succeeded" else "succeeded")
        if line.channel_txn_id in fees:
            line = replace(line, fee=line.fee + 1)
        rows.append(line)
    return rows


def statement_csv(rows: list[StatementLine]) -> str:
    """The statement file: a header, then the rows in the channel's id order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(STATEMENT_HEADER)
    for line in sorted(rows, key=lambda line: line.channel_txn_id):
        writer.writerow([line.channel_txn_id, line.reference, line.kind, line.amount, line.fee, line.status,
                         rfc3339(line.time)])
    return buffer.getvalue()
