"""Day close: the close's body, its certificate, a balance proof."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from .common import Body, Code, Out

Reason = Annotated[str, StringConstraints(max_length=500)]


class CloseDayIn(Body):
    waive: list[Code] = Field(default=[], max_length=100,
                              description="Channels whose reconciliation of the day may be missing or open (needs a reason).")
    reason: Reason = Field(default="", description="Why the channels in `waive` are waived: recorded in the certificate.")


class CertificateOut(Out):
    """The signed certificate: `body` is the exact text signed (canonical JSON of the figures),
    `signature` its Ed25519 signature (base64), `key_id` SHA-256 of the raw public key (hex)."""

    format: str
    day: str
    body: str
    signature: str
    key_id: str


class DayCloseOut(Out):
    day: str
    position: int = Field(description="The log position at the day's end: the figures are of the log up to it.")
    merkle_root: str
    closed_by: str
    closed_at: str
    certificate: CertificateOut
    recorded_at: int | None = Field(description="The log position of the close's own event (for ?min_position=).")


class LeafOut(Out):
    account_id: str
    currency: str
    balance: int


class StepOut(Out):
    side: Literal["left", "right"]
    hash: str


class BalanceProofOut(Out):
    account_id: str
    day: str
    currency: str
    balance: int = Field(description="The account's closing balance: credits minus debits, in minor units.")
    leaf: LeafOut
    path: list[StepOut] = Field(description="The leaf's siblings, from the leaf up to the root.")
    merkle_root: str
    certificate: CertificateOut
