"""Money as the console shows and reads it: "1,234.56 CNY", parsed exactly (Decimal, no floats)."""

import pytest

from api.console.money import MoneyInputError, money, parse_money
from ledger.domain.money import AMOUNT_MINOR_MAX


@pytest.mark.parametrize(("minor", "currency", "shown"), [
    (123456, "CNY", "1,234.56 CNY"), (5, "CNY", "0.05 CNY"), (0, "CNY", "0.00 CNY"), (-250, "CNY", "-2.50 CNY"),
    (1234567, "JPY", "1,234,567 JPY"), (1234567, "KWD", "1,234.567 KWD"), (10**15, "CNY", "10,000,000,000,000.00 CNY"),
])
def test_minor_units_are_shown_as_money_in_the_currencys_decimals(minor, currency, shown):
    assert money(minor, currency) == shown


@pytest.mark.parametrize(("text", "currency", "minor"), [
    ("1,234.56", "CNY", 123456), ("1234.56", "CNY", 123456), ("0.01", "CNY", 1), ("12", "CNY", 1200),
    ("12.5", "CNY", 1250), (" 1,234.56 CNY ", "CNY", 123456), ("1,234", "JPY", 1234), ("1.234", "KWD", 1234),
    ("0.1", "CNY", 10), ("0.3", "CNY", 30), ("１，２３４．５", "CNY", 123450),  # exact: no float would round these differently
    ("10,000,000,000,000.00", "CNY", AMOUNT_MINOR_MAX), ("9,999,999,999,999.99", "USD", AMOUNT_MINOR_MAX - 1),
])
def test_typed_amounts_become_minor_units_exactly(text, currency, minor):
    assert parse_money(text, currency) == minor


@pytest.mark.parametrize(("text", "currency", "why"), [
    ("", "CNY", "enter an amount"), ("1.234", "CNY", "CNY has 2 decimals"), ("1.5", "JPY", "JPY has 0 decimals"),
    ("-5", "CNY", "not an amount"), ("1e3", "CNY", "not an amount"), ("12,34.00", "CNY", "not an amount"),
    ("1,234.", "CNY", "not an amount"), ("NaN", "CNY", "not an amount"), ("0", "CNY", "more than zero"),
    ("0.00", "CNY", "more than zero"), ("1" * 41, "CNY", "not an amount"), ("١٢", "CNY", "not an amount"),
    ("10,000,000,000,000.01", "CNY", "larger than"),
])
def test_what_is_not_an_amount_is_refused_saying_why(text, currency, why):
    with pytest.raises(MoneyInputError, match=why):
        parse_money(text, currency)


def test_a_shown_amount_parses_back_to_itself():
    for minor in (1, 99, 100, 123456789, AMOUNT_MINOR_MAX):
        for currency in ("CNY", "JPY", "KWD"):
            assert parse_money(money(minor, currency), currency) == minor
