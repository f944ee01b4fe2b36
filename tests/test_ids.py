"""Deterministic ids: `ledger.domain.ids.uuid5` is the standard library's `uuid5` in the
ledger's namespace, for any name, as every stored id was made with it."""

from __future__ import annotations

import pickle
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain import ids


@settings(deadline=None)
@given(st.text())
def test_uuid5_is_the_standard_librarys(name):
    made, expected = ids.uuid5(name), uuid.uuid5(ids.NAMESPACE, name)
    assert made == expected and hash(made) == hash(expected)
    assert (str(made), made.bytes, made.version, made.variant, made.is_safe) == (
        str(expected), expected.bytes, 5, uuid.RFC_4122, expected.is_safe)
    assert pickle.loads(pickle.dumps(made)) == expected


def test_the_ids_the_ledger_makes_are_those_it_made_before():
    # Made by `uuid.uuid5(NAMESPACE, ...)` before `ids.uuid5` was: a stored log's ids never change.
    assert str(ids.command_id("transfer", "t-1")) == "e71e1df1-c060-5972-a7d7-48928a0a5fd9"
    assert str(ids.account_id("mall", "u1")) == "b6ba0d21-f597-5a4c-869d-87881d57ea88"
    assert str(ids.system_account_id("clearing", "CNY", "alipay")) == "0a608f34-d3ae-5844-8067-79ac32bd77a9"
