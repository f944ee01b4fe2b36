"""A command's fingerprint (its stored `request_hash`) is the SHA-256 of one canonical JSON text,
`json.dumps(arguments, sort_keys=True, separators=(",", ":"), default=str)`, whichever encoder
writes it: orjson where it writes the same bytes, the standard library elsewhere."""

import hashlib
import json
from datetime import UTC, datetime
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.ids import canonical, fingerprint


def the_standard(arguments):
    return json.dumps(arguments, sort_keys=True, separators=(",", ":"), default=str).encode()


values = st.one_of(
    st.text(), st.text(alphabet=st.characters(max_codepoint=0x80)), st.integers(), st.integers(-(2**70), 2**70),
    st.uuids(), st.none(), st.booleans(), st.floats(allow_nan=True), st.datetimes(timezones=st.just(UTC)),
    st.lists(st.integers(), max_size=3),
)
arguments = st.dictionaries(st.from_regex(r"[a-z_]{1,12}", fullmatch=True), values, max_size=8)


@settings(deadline=None)  # a stalled CI machine is no failure
@given(arguments)
def test_the_canonical_text_is_the_standard_librarys(arguments):
    assert canonical(arguments) == the_standard(arguments)


def test_edges_of_what_orjson_writes():
    for value in ["", 'a"b\\c', "\x7f", "\x1f", "tab\there", "é", "\u2028", "😀", 2**63 - 1, -(2**63), 2**64 - 1,
                  2**64, -(2**63) - 1, True, False, None, UUID(int=0), UUID(int=2**128 - 1)]:
        assert canonical({"b": value, "a": 1}) == the_standard({"b": value, "a": 1}), value


def test_a_transfers_fingerprint_is_unchanged():
    """The fingerprint a transfer recorded before orjson wrote it (the stored logs keep it)."""
    args = {"from_account": UUID(int=1), "to_account": UUID(int=2), "amount": 100, "currency": "CNY", "memo": "rent"}
    expected = hashlib.sha256(the_standard(args)).hexdigest()
    assert fingerprint(**args) == expected
    assert fingerprint(**args, at=datetime(2026, 1, 1, tzinfo=UTC)) == hashlib.sha256(
        the_standard({**args, "at": datetime(2026, 1, 1, tzinfo=UTC)})
    ).hexdigest()
