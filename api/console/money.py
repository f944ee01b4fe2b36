"""Money as people read and type it: "1,234.56 CNY" shown, "1,234.56" parsed to minor units exactly.

The number of decimals is the currency's (ISO 4217 exponent: 2 for CNY, 0 for JPY, 3 for
KWD). Parsing goes through Decimal, never a float, and refuses what it cannot take
exactly (more decimals than the currency has, a sign, stray characters).
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

from ledger.domain.money import AMOUNT_MINOR_MAX, exponent, format_amount

TEXT_LENGTH_MAX = 40  # characters of an amount typed into a form
_AMOUNT = re.compile(r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?", re.ASCII)


class MoneyInputError(ValueError):
    """An amount typed into a form that is not one: the message says why, for the person typing."""


def money(amount_minor: int | None, currency: str) -> str:
    """format_money(123456, "CNY") == "1,234.56 CNY"; JPY has no decimals, KWD three."""
    if amount_minor is None:
        return ""
    return f"{format_amount(amount_minor, currency)} {currency}"


def parse_money(text: str, currency: str) -> int:
    """The minor units of "1,234.56" in `currency` (123456 for CNY). Commas group thousands only;
    full-width digits and marks (as a Chinese input method types them) are read as their ASCII forms."""
    cleaned = unicodedata.normalize("NFKC", text).strip().replace(" ", "")  # full-width forms too
    if cleaned.upper().endswith(currency):
        cleaned = cleaned[: -len(currency)]
    if not cleaned:
        raise MoneyInputError("enter an amount, such as 1,234.56")
    if len(cleaned) > TEXT_LENGTH_MAX or not _AMOUNT.fullmatch(cleaned):
        raise MoneyInputError(f"{text.strip()[:TEXT_LENGTH_MAX]!r} is not an amount: write it as 1,234.56")
    try:
        value = Decimal(cleaned.replace(",", ""))
    except InvalidOperation:  # the pattern above lets only valid numbers through; kept for safety
        raise MoneyInputError(f"{cleaned!r} is not an amount") from None
    digits = exponent(currency)
    minor = value.scaleb(digits)
    if minor != minor.to_integral_value():
        raise MoneyInputError(f"{currency} has {digits} decimal{'s' if digits != 1 else ''}; {text.strip()!r} has more")
    amount = int(minor)
    if amount <= 0:
        raise MoneyInputError("the amount must be more than zero")
    if amount > AMOUNT_MINOR_MAX:
        raise MoneyInputError(f"the amount is larger than the most one entry may carry ({money(AMOUNT_MINOR_MAX, currency)})")
    return amount
