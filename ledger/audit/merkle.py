"""The Merkle tree over a closed day's balances: one leaf per account, in account-id order.

A leaf is an account's closing balance in its currency. Its bytes are fixed-width, so no two
leaves encode alike and none can pass for another:

    account id      16 bytes (the UUID's bytes)
    currency         3 bytes (ISO 4217 code, ASCII)
    balance         16 bytes, signed big-endian (minor units, credits minus debits)

Hashes are SHA-256 with domain separation (RFC 6962's): a leaf's hash is over 0x00 then its
bytes, a node's over 0x01 then its two children's hashes, so a leaf can never be presented as a
node or the other way round. The tree is RFC 6962's too: a tree of n > 1 leaves is a node over
the tree of its first k leaves and the tree of the rest, k the largest power of two below n;
the empty tree's root is the hash of nothing.

A proof is the path from a leaf to the root: each step the sibling's hash and on which side
it stands. `verify_proof(leaf, path, root)` folds it. No I/O here.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
BALANCE_BYTES = 16  # a signed 128-bit integer: any sum of amounts the ledger accepts fits
BALANCE_MAX = 2 ** (8 * BALANCE_BYTES - 1) - 1
CURRENCY_BYTES = 3
HASH_HEX_LENGTH = 64

Side = Literal["left", "right"]


@dataclass(frozen=True, order=True)
class Leaf:
    """An account's closing balance (credits minus debits, in minor units) in its currency."""

    account_id: UUID
    currency: str
    balance: int

    def __post_init__(self) -> None:
        if len(self.currency) != CURRENCY_BYTES or not self.currency.isascii() or not self.currency.isupper():
            raise ValueError(f"a leaf's currency is a 3-letter ISO 4217 code, not {self.currency!r}")
        if not -BALANCE_MAX <= self.balance <= BALANCE_MAX:
            raise ValueError(f"a leaf's balance must fit in {BALANCE_BYTES} bytes")

    def encode(self) -> bytes:
        return self.account_id.bytes + self.currency.encode("ascii") + self.balance.to_bytes(BALANCE_BYTES, "big", signed=True)

    def as_json(self) -> dict[str, object]:
        return {"account_id": str(self.account_id), "currency": self.currency, "balance": self.balance}


@dataclass(frozen=True)
class Step:
    """One step of a proof: the sibling's hash, and whether it stands left or right of the path."""

    side: Side
    hash: bytes

    def as_json(self) -> dict[str, str]:
        return {"side": self.side, "hash": self.hash.hex()}

    @classmethod
    def from_json(cls, data: object) -> Step:
        if not isinstance(data, dict) or data.get("side") not in ("left", "right"):
            raise ValueError(f"a proof step is {{'side': 'left' | 'right', 'hash': hex}}, not {data!r}")
        digest = data.get("hash")
        if not isinstance(digest, str) or len(digest) != HASH_HEX_LENGTH:
            raise ValueError(f"a proof step's hash is {HASH_HEX_LENGTH} hex digits, not {digest!r}")
        return cls(data["side"], bytes.fromhex(digest))


def leaf_hash(leaf: Leaf) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + leaf.encode()).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _levels(hashes: Sequence[bytes]) -> list[list[bytes]]:
    """The tree's levels, leaves first, root last. Bottom-up, pairing from the left, an unpaired
    last node promoted as it is: for every n this is RFC 6962's tree (whose left subtree holds
    the largest power of two of leaves below n)."""
    levels = [list(hashes)]
    while len(levels[-1]) > 1:
        level = levels[-1]
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        levels.append(paired)
    return levels


def root(leaves: Sequence[Leaf]) -> bytes:
    """The root over `leaves`, which must be in account-id order with no account twice."""
    check_order(leaves)
    if not leaves:
        return hashlib.sha256(b"").digest()
    return _levels([leaf_hash(leaf) for leaf in leaves])[-1][0]


def proof(leaves: Sequence[Leaf], index: int) -> list[Step]:
    """The path from leaf `index` to the root: its siblings, from the leaf up."""
    check_order(leaves)
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} of {len(leaves)}")
    path = []
    for level in _levels([leaf_hash(leaf) for leaf in leaves])[:-1]:
        if index % 2:
            path.append(Step("left", level[index - 1]))
        elif index + 1 < len(level):
            path.append(Step("right", level[index + 1]))
        index //= 2  # an unpaired last node goes up as it is: no step
    return path


def verify_proof(leaf: Leaf, path: Sequence[Step], expected_root: bytes) -> bool:
    """Whether `leaf` is in the tree of root `expected_root`, by its `path`."""
    node = leaf_hash(leaf)
    for step in path:
        node = node_hash(step.hash, node) if step.side == "left" else node_hash(node, step.hash)
    return node == expected_root


def check_order(leaves: Sequence[Leaf]) -> None:
    for before, after in itertools.pairwise(leaves):
        if not before.account_id.bytes < after.account_id.bytes:
            raise ValueError(f"leaves must be in account-id order, each account once ({before.account_id}, {after.account_id})")
