"""Money is an integer count of a currency's minor unit. No floats anywhere.

Checks run in a fixed order and each failure has its own error, so a caller
always learns the first thing wrong with its input.
"""

from __future__ import annotations

from .errors import InvalidAmount, UnknownCurrency

# Largest amount one posting may carry: 10**15 minor units (10 trillion in a
# two-decimal currency). Sums of many postings still fit PostgreSQL's bigint.
AMOUNT_MINOR_MAX = 10**15

# Active ISO 4217 codes.
ISO_4217 = frozenset("""
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD
    CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD
    GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT
    LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR
    NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP
    STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG
    XOF XPF YER ZAR ZMW ZWG
""".split())


def check_currency(currency: object) -> str:
    """Return the currency code if it is an active ISO 4217 code."""
    if not isinstance(currency, str) or currency not in ISO_4217:
        raise UnknownCurrency(f"unknown currency {currency!r}: expected an ISO 4217 code such as 'CNY'")
    return currency


def check_amount(amount: object, *, name: str = "amount") -> int:
    """Return the amount if it is a positive integer of minor units within bounds."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidAmount(f"{name} must be an integer number of minor units, got {amount!r}")
    if amount <= 0:
        raise InvalidAmount(f"{name} must be positive, got {amount}")
    if amount > AMOUNT_MINOR_MAX:
        raise InvalidAmount(f"{name} {amount} exceeds the maximum of {AMOUNT_MINOR_MAX}")
    return amount


# Currencies whose minor unit is not 1/100 of the major one.
_EXPONENTS = dict.fromkeys("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split(), 0) | {
    c: 3 for c in ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"]
}


def exponent(currency: str) -> int:
    """Digits after the decimal point of the currency's major unit."""
    return _EXPONENTS.get(currency, 2)


def format_amount(amount_minor: int, currency: str) -> str:
    """Render minor units for people: format_amount(10050, "CNY") == "100.50"."""
    digits = exponent(currency)
    sign, magnitude = ("-" if amount_minor < 0 else ""), abs(amount_minor)
    if digits == 0:
        return f"{sign}{magnitude:,}"
    major, minor = divmod(magnitude, 10**digits)
    return f"{sign}{major:,}.{minor:0{digits}d}"
