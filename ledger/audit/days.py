"""A day's close figures, read from the log, and its signed certificate.

`day_figures(ledger, day)` reads the log once, in pages, and fixes the day:

- the position: the highest log position of an event stamped before the day's end (the
  accounting day's end: the cut-off, in the accounting time zone, after the day);
- the hash chain's link at that position (`chain_hash`);
- every account opened at or before the position, with its closing balance: credits
  minus debits of the postings at or before the position of transfers booked on the day
  or before (the day a transfer recorded; an old one without it, its UTC date). These
  are the Merkle tree's leaves (ledger/audit/merkle.py), in account-id order;
- per currency the trial balance (debit balances, credit balances, accounts);
- the channels (and currencies) whose `pending_reconciliation` a payment moved on the day:
  the reconciliations the close waits for.

The same function, given the position, recomputes the figures of a certificate from the log
as it is now: `check_against_log` is how `fundcenter audit verify-certificate --db` knows the
log still says what the certificate does.

The certificate is those figures as one canonical JSON text (keys sorted, no spaces), signed
with Ed25519 (`Signer`); `verify_signature` checks it with the public key alone, offline.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from eventsourcing.utils import get_topic

from ..domain.accounting_day import AccountingDay
from ..domain.accounts import Account, SystemRole
from ..domain.errors import ValidationError
from ..domain.instants import iso
from ..domain.transfers import Transfer, TransferKind
from . import chain, chain_store, merkle

if TYPE_CHECKING:
    from eventsourcing.application import Application

CERTIFICATE_FORMAT = "fundcenter-day-close/1"
LOG_PAGE_EVENTS = 1000  # events read per query while reading the log


class CertificateInvalid(ValidationError):
    code = "certificate-invalid"


@dataclass(frozen=True)
class DayFigures:
    day: str
    starts_at: str
    ends_at: str
    position: int
    chain_hash: str
    leaves: tuple[merkle.Leaf, ...]
    channels: tuple[tuple[str, str], ...]  # (channel, currency) a payment moved on the day
    scanned_to: int  # the log was read up to here: an event committed after it was not seen

    @property
    def merkle_root(self) -> str:
        return merkle.root(self.leaves).hex()

    def trial_balance(self) -> list[dict[str, Any]]:
        totals: dict[str, dict[str, Any]] = {}
        for leaf in self.leaves:
            total = totals.setdefault(leaf.currency, {"currency": leaf.currency, "debit": 0, "credit": 0, "accounts": 0})
            total["debit" if leaf.balance < 0 else "credit"] += abs(leaf.balance)
            total["accounts"] += 1
        return [{**t, "balanced": t["debit"] == t["credit"]} for _, t in sorted(totals.items())]


def _notifications(ledger: Application[UUID], upto: int | None) -> Iterator[Any]:
    after = 0
    while True:
        page = ledger.recorder.select_notifications(
            start=after, limit=LOG_PAGE_EVENTS, stop=upto, inclusive_of_start=False)
        if not page:
            return
        yield from page
        after = page[-1].id


def day_figures(ledger: Application[UUID], day: date, accounting_day: AccountingDay, position: int | None = None) -> DayFigures:
    """The day's figures from the log (see the module's docstring). `position`: recompute at that
    position (a certificate's) instead of finding it."""
    start, end = accounting_day.bounds(day)
    day_text = day.isoformat()
    opened, posted = get_topic(Account.Opened), get_topic(Transfer.Posted)
    accounts: dict[UUID, Any] = {}  # the Opened event of each account
    balances: dict[UUID, int] = {}
    moved: set[UUID] = set()  # accounts a payment (not a reconciliation's move) posted to on the day
    # Events stamped at or after the day's end wait here until one stamped before it comes after them
    # (then they are below the position, and count); those still here at the end are after it.
    waiting: list[Any] = []
    found = 0
    scanned_to = position if position is not None else ledger.recorder.max_notification_id() or 0
    for notification in _notifications(ledger, scanned_to):
        domain_event: Any = ledger.mapper.to_domain_event(notification)
        before_end = domain_event.timestamp < end or position is not None
        if before_end:
            found = notification.id
            for earlier in waiting:
                _count(earlier, day_text, accounts, balances, moved)
            waiting.clear()
        if notification.topic not in (opened, posted):
            continue
        if before_end:
            _count(domain_event, day_text, accounts, balances, moved)
        else:
            waiting.append(domain_event)
    found = found if position is None else position
    leaves = tuple(merkle.Leaf(a, accounts[a].currency, balances.get(a, 0)) for a in sorted(accounts, key=lambda u: u.bytes))
    pending = {(accounts[a].channel, accounts[a].currency) for a in moved
               if a in accounts and accounts[a].role == SystemRole.PENDING_RECONCILIATION}
    return DayFigures(day_text, iso(start), iso(end), found, chain_hash_at(ledger, found).hex(), leaves,
                      tuple(sorted((str(channel), currency) for channel, currency in pending)), scanned_to)


def committed_late(ledger: Application[UUID], after: int, end: datetime) -> int | None:
    """The position of an event after `after` stamped before `end` (a command of the day that
    committed while its figures were being read), or None."""
    while True:
        page = ledger.recorder.select_notifications(start=after, limit=LOG_PAGE_EVENTS, inclusive_of_start=False)
        if not page:
            return None
        for notification in page:
            domain_event: Any = ledger.mapper.to_domain_event(notification)
            if domain_event.timestamp < end:
                return notification.id
        after = page[-1].id


def _count(domain_event: Any, day: str, accounts: dict[UUID, Any], balances: dict[UUID, int], moved: set[UUID]) -> None:
    """Count an account's opening, or a transfer's postings if it was booked on the day or before."""
    if isinstance(domain_event, Account.Opened):
        accounts[domain_event.originator_id] = domain_event
        return
    booked = domain_event.day or iso(domain_event.timestamp)[:10]
    if booked > day:
        return
    for posting in domain_event.postings:
        account = UUID(str(posting["account"]))
        amount = posting["amount"] if posting["side"] == "credit" else -posting["amount"]
        balances[account] = balances.get(account, 0) + amount
        if booked == day and domain_event.kind != TransferKind.RECONCILIATION:
            moved.add(account)


def chain_hash_at(ledger: Application[UUID], position: int) -> bytes:
    """The hash chain's link at `position` (ledger/audit/chain_store.py)."""
    found = chain_store.chain_hash_at(ledger, position)
    if found is None:
        raise ValidationError(f"the hash chain does not reach position {position} yet")
    return found


def recompute_chain(ledger: Application[UUID], position: int) -> bytes:
    """The chain's link at `position` recomputed from the stored events themselves, not read from its table."""
    link = chain.GENESIS
    for n in _notifications(ledger, position):
        link = chain.link_raw(link, n.id, n.originator_id.bytes, n.originator_version, n.topic.encode(), n.state)
    return link


# -- the certificate -------------------------------------------------------------------------------


class Signer:
    """An Ed25519 private key that signs certificates; `throwaway` if made for this process only."""

    def __init__(self, key: Ed25519PrivateKey, *, throwaway: bool = False) -> None:
        self._key, self.throwaway = key, throwaway
        self.public_key = key.public_key()
        self.key_id = key_id_of(self.public_key)

    @classmethod
    def from_pem(cls, data: bytes) -> Signer:
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as error:
            raise ValueError(f"not an unencrypted PEM private key ({error})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"an Ed25519 private key is needed, not {type(key).__name__}")
        return cls(key)

    @classmethod
    def generate(cls) -> Signer:
        return cls(Ed25519PrivateKey.generate(), throwaway=True)

    @property
    def public_pem(self) -> str:
        return self.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    @property
    def private_key(self) -> Ed25519PrivateKey:
        return self._key

    def private_pem(self) -> str:
        return self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()).decode()

    def sign(self, text: str) -> str:
        return base64.b64encode(self._key.sign(text.encode())).decode()


def key_id_of(public_key: Ed25519PublicKey) -> str:
    """A public key's id: SHA-256 of its 32 raw bytes, hex."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def canonical(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def certificate_text(
    figures: DayFigures, accounting_day: AccountingDay, reconciliations: list[dict[str, Any]],
    waiver: dict[str, Any] | None, closed_by: str, closed_at: datetime, key_id: str,
) -> str:
    """What is signed: every figure of the close, as canonical JSON."""
    return canonical({
        "format": CERTIFICATE_FORMAT,
        "day": figures.day,
        "accounting_day": {"timezone": accounting_day.timezone, "cutoff": accounting_day.cutoff.strftime("%H:%M"),
                           "starts_at": figures.starts_at, "ends_at": figures.ends_at},
        "position": figures.position,
        "chain_hash": figures.chain_hash,
        "trial_balance": figures.trial_balance(),
        "merkle_root": figures.merkle_root,
        "leaves": len(figures.leaves),
        "reconciliations": reconciliations,
        "waiver": waiver,
        "closed_by": closed_by,
        "closed_at": iso(closed_at.astimezone(UTC)),
        "key_id": key_id,
    })


def certificate(day: str, text: str, signature: str, key_id: str) -> dict[str, Any]:
    """The certificate as the API and the files carry it: the signed text exactly as signed."""
    return {"format": CERTIFICATE_FORMAT, "day": day, "body": text, "signature": signature, "key_id": key_id}


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as error:
        raise CertificateInvalid(f"the public key is not a PEM public key ({error})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise CertificateInvalid(f"the public key must be Ed25519, not {type(key).__name__}")
    return key


def verify_signature(cert: object, public_key_pem: bytes) -> dict[str, Any]:
    """The certificate's figures if its signature is the public key's over its text; else
    CertificateInvalid saying why. Needs nothing but the certificate and the key."""
    if not isinstance(cert, dict) or not all(isinstance(cert.get(f), str) for f in ("body", "signature", "key_id")):
        raise CertificateInvalid("a certificate is a JSON object with body, signature and key_id (text)")
    key = load_public_key(public_key_pem)
    if cert["key_id"] != key_id_of(key):
        raise CertificateInvalid(f"the certificate was signed by key {cert['key_id']}, not by this one ({key_id_of(key)})")
    try:
        key.verify(base64.b64decode(cert["signature"], validate=True), cert["body"].encode())
    except (InvalidSignature, ValueError):
        raise CertificateInvalid(
            "the signature does not match the certificate's text: it was changed, or not signed by this key") from None
    body = json.loads(cert["body"])
    if not isinstance(body, dict) or body.get("format") != CERTIFICATE_FORMAT or body.get("key_id") != cert["key_id"]:
        raise CertificateInvalid(f"a signed text that is not a {CERTIFICATE_FORMAT} certificate")
    return body


def check_against_log(ledger: Application[UUID], body: dict[str, Any]) -> list[str]:
    """What differs between a certificate's figures and the log as it is now (empty: it still
    hashes to them): the chain's link at its position, recomputed from the events up to it and as
    the chain's table has it; the Merkle root, the leaves' count and the trial balance, recomputed."""
    position, head = body["position"], ledger.recorder.max_notification_id() or 0
    if position > head:
        return [f"position {position} is past the end of the log ({head}): events were removed"]
    day = body["accounting_day"]
    figures = day_figures(ledger, date.fromisoformat(body["day"]), AccountingDay.of(day["timezone"], day["cutoff"]), position)
    recomputed = recompute_chain(ledger, position).hex()
    found = {"chain_hash": recomputed, "merkle_root": figures.merkle_root, "leaves": len(figures.leaves),
             "trial_balance": figures.trial_balance()}
    problems = [f"{name} at position {position}: certificate {body.get(name)!r}, log {value!r}"
                for name, value in found.items() if body.get(name) != value]
    if figures.chain_hash != recomputed:
        problems.append(f"the chain table's link at position {position} ({figures.chain_hash}) is not the events' ({recomputed})")
    return problems
