"""The auditor's cross-check of the aggregates, for `replay --verify`.

The views are built from the log as a whole; the commands, though, decide from
each aggregate's own events (and an Account's snapshot). So an Account whose own
events were edited could spend money the transfers never gave it, while every
view still looked right. This module checks each aggregate against the others:

- while the replay streams the log, `AggregateAudit.apply` folds what the
  Transfer and Hold events say about each account (credits, debits, a digest of
  the postings, the holds placed on it) and about each hold's captures, into a
  few ints per account and per captured hold;
- then each Account is rebuilt from its own events alone (through the
  application's mapper, no snapshot, versions contiguous from 1) and compared:
  identity, currency, every posting event's amounts, the posted balance, the
  postings and the holds; each Hold placed on it is rebuilt from its own events
  and compared with the account's record of it (amount, released, captured,
  what remains, expiry) and with the transfers that captured it;
- each snapshot is compared with its aggregate rebuilt from its events up to the
  snapshot's version.

`fundcenter audit verify` uses the same audit on the rows its chain walk has verified
(`fold_stored`: only the events folded here are decoded), then `check`.

Only the log up to the replay's position counts, so commands running meanwhile
raise no false alarm. Memory is bounded by the number of accounts (a handful of
ints each), the number of holds with captures, and one account's holds at a time;
events are read a page at a time. The first mismatch of each kind (account, hold,
snapshot) is reported, with how many more of that kind there are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Snapshot
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import resolve_topic

from ledger import FundCenter
from ledger.domain import ids
from ledger.domain.accounts import Account, AccountKind
from ledger.domain.holds import Hold
from ledger.domain.transfers import Transfer, TransferKind

from .stored_aggregates import Mismatch, StoredAggregates, first_line, mutate

MASK = (1 << 64) - 1
KINDS = ("account", "hold", "snapshot")
FOLDED = (Transfer.Posted, Account.Opened, Hold.Placed)  # the events `apply` folds


def _digest(*parts: object) -> int:
    """A 64-bit hash of some values; summed (mod 2**64) into order-free digests of sets."""
    data = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


@dataclass(slots=True)
class _Said:
    """What the log's other aggregates say about one account."""

    kind: str | None = None  # from its Opened event; None: never opened
    currency: str | None = None  # of the transfers that post to it
    credits: int = 0
    debits: int = 0
    postings: int = 0
    postings_digest: int = 0
    holds: int = 0  # Hold aggregates placed on it
    holds_digest: int = 0


@dataclass(slots=True)
class _Captures:
    """The transfers that captured one hold (by its reference, or its withdrawal's)."""

    account: UUID | None = None  # the account the captures debit
    amount: int = 0
    count: int = 0
    digest: int = 0


@dataclass(slots=True)
class _HoldOnAccount:
    """One hold as its account's events record it."""

    amount: int
    purpose: str
    expires_at: datetime | None
    released: int = 0
    captured: int = 0
    captures_digest: int = 0
    expired_with: int | None = None  # what remained when the account recorded its expiry


@dataclass
class AuditCounts:
    accounts: int = 0
    holds: int = 0
    snapshots: int = 0


@dataclass
class _Findings:
    first: dict[str, str] = field(default_factory=dict)
    more: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, message: str) -> None:
        if kind in self.first:
            self.more[kind] = self.more.get(kind, 0) + 1
        else:
            self.first[kind] = message

    def problems(self) -> list[str]:
        out = []
        for kind in KINDS:
            if kind in self.first:
                more = self.more.get(kind, 0)
                suffix = f" (and {more} more {kind}{'s' if more > 1 else ''})" if more else ""
                out.append(self.first[kind] + suffix)
        return out


class AggregateAudit:
    """A pseudo-view for the replay (it writes nothing), then the checks of `check()`."""

    name = "aggregate-audit"
    tables: dict[str, str] = {}

    def __init__(self, ledger: FundCenter) -> None:
        self.ledger = ledger
        self.accounts: dict[UUID, _Said] = {}
        self.captures: dict[UUID, _Captures] = {}
        self.findings = _Findings()
        self.counts = AuditCounts()
        self._failed: set[UUID] = set()  # accounts that did not pass: their holds went unchecked
        self.stored = StoredAggregates(ledger)
        self._folded_topics: dict[str, bool] = {}

    def fold_stored(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """`apply` on stored rows as `audit verify` streams them: (position, originator id's 16
        bytes, version, topic, state, ...). Only the events `apply` folds are decoded."""
        batch = []
        for position, oid, version, topic, state, *_ in rows:
            if self._folds(topic):
                stored = StoredEvent(UUID(bytes=bytes(oid)), version, topic, bytes(state))
                try:
                    batch.append((position, self.ledger.mapper.to_domain_event(stored)))
                except Exception as error:
                    self.findings.add("account", f"position {position}: event {stored.originator_id} version {version}"
                                                 f" cannot be read: {first_line(error)}")
        self.apply(None, batch)

    def _folds(self, topic: str) -> bool:
        folds = self._folded_topics.get(topic)
        if folds is None:
            try:
                cls = resolve_topic(topic)
            except Exception:
                cls = None  # an unknown topic: the rebuild of its aggregate says so
            folds = self._folded_topics[topic] = isinstance(cls, type) and issubclass(cls, FOLDED)
        return folds

    # -- while the replay streams the log ---------------------------------------------------

    def apply(self, cur: Any, batch: list[tuple[int, Any]]) -> None:
        for _, event in batch:
            if isinstance(event, Transfer.Posted):
                self._transfer(event)
            elif isinstance(event, Account.Opened):
                self.accounts.setdefault(event.originator_id, _Said()).kind = event.kind
            elif isinstance(event, Hold.Placed):
                said = self.accounts.setdefault(event.account_id, _Said())
                said.holds += 1
                said.holds_digest = (said.holds_digest + _digest(event.originator_id)) & MASK

    def _transfer(self, event: Any) -> None:
        tid = event.originator_id
        for p in event.postings:
            said = self.accounts.setdefault(p["account"], _Said())
            if said.currency is None:
                said.currency = event.currency
            elif said.currency != event.currency:
                self.findings.add(
                    "account", f"account {p['account']}: transfer {tid} posts {event.currency} to it,"
                    f" earlier transfers {said.currency}",
                )
            if p["side"] == "credit":
                said.credits += p["amount"]
            else:
                said.debits += p["amount"]
            said.postings += 1
            said.postings_digest = (said.postings_digest + _digest(tid, p["side"], p["amount"])) & MASK
        hold_id = _captured_hold(event)
        if hold_id is not None:
            captures = self.captures.setdefault(hold_id, _Captures())
            captures.account = next((p["account"] for p in event.postings if p["side"] == "debit"), None)
            captures.amount += sum(p["amount"] for p in event.postings if p["side"] == "debit")
            captures.count += 1
            captures.digest = (captures.digest + _digest(tid)) & MASK

    # -- after it ----------------------------------------------------------------------------

    def check(self, until: int) -> list[str]:
        """Rebuild every account, hold and snapshot from the log up to `until`; the first mismatch per kind."""
        self.stored.until = until
        with self.ledger.database.connect() as conn:
            for account_id, said in self.accounts.items():
                self.counts.accounts += 1
                try:
                    self._check_account(conn, account_id, said)
                except Mismatch as mismatch:
                    self.findings.add("account", str(mismatch))
                    self._failed.add(account_id)
            for hold_id, captures in self.captures.items():  # captured holds that no account placed
                if captures.account in self._failed:
                    continue
                self.findings.add(
                    "hold", f"hold {hold_id}: named by {captures.count} capture transfers, but no account placed it"
                )
            self._check_snapshots(conn)
        return self.findings.problems()

    # -- accounts ----------------------------------------------------------------------------

    def _check_account(self, conn: Any, account_id: UUID, said: _Said) -> None:
        name = f"account {account_id}"
        if said.kind is None:
            raise Mismatch(
                f"{name}: named by {said.postings} postings and {said.holds} holds, but it was never opened"
            )
        account: Account | None = None
        credits = debits = postings = postings_digest = 0
        holds: dict[UUID, _HoldOnAccount] = {}
        for event in self.stored.events(conn, account_id, name):
            version, what = event.originator_version, type(event).__name__
            if account is None and not isinstance(event, Account.Opened):
                raise Mismatch(f"{name}: version {version} is {what}, not Opened")
            if isinstance(event, (Account.Credited, Account.Debited, Account.HoldCaptured)):
                assert account is not None  # an Opened came first, checked above
                side = "credit" if isinstance(event, Account.Credited) else "debit"
                expected = account.posted + (event.amount if side == "credit" else -event.amount)
                if event.amount <= 0 or event.balance_after != expected:
                    raise Mismatch(
                        f"{name}: version {version} {what} {event.amount}: balance_after from its event"
                        f" {event.balance_after}, from the amounts {expected}"
                    )
                credits, debits = (credits + event.amount, debits) if side == "credit" else (credits, debits + event.amount)
                postings += 1
                postings_digest = (postings_digest + _digest(event.transfer_id, side, event.amount)) & MASK
            if isinstance(event, Account.HoldPlaced):
                holds[event.hold_id] = _HoldOnAccount(event.amount, event.purpose, event.expires_at)
            elif isinstance(event, Account.HoldReleased) and event.hold_id in holds:
                holds[event.hold_id].released += event.amount
            elif isinstance(event, Account.HoldCaptured) and event.hold_id in holds:
                on_account = holds[event.hold_id]
                on_account.captured += event.amount
                on_account.captures_digest = (on_account.captures_digest + _digest(event.transfer_id)) & MASK
            elif isinstance(event, Account.HoldExpired) and account is not None:
                open_hold = account.holds.get(str(event.hold_id))
                if event.hold_id in holds and open_hold is not None:
                    holds[event.hold_id].expired_with = open_hold.remaining
            account = mutate(event, account, name)
        if not isinstance(account, Account):
            raise Mismatch(f"{name}: its events rebuild no account")
        if said.kind == AccountKind.SYSTEM:
            derived = ids.system_account_id(account.role or "", account.currency, account.channel)
            if derived != account.id:
                raise Mismatch(
                    f"{name}: identity from its events (system {account.role!r}, channel {account.channel!r},"
                    f" {account.currency}) is account {derived}"
                )
            if account.version != 1:
                raise Mismatch(
                    f"{name}: a system account with {account.version} events; its postings live only in the transfers"
                )
            return
        self._check_identity(account, name)
        if said.currency is not None and account.currency != said.currency:
            raise Mismatch(f"{name}: currency from its events {account.currency}, from the transfers {said.currency}")
        posted = said.credits - said.debits
        for label, own, theirs in (
            ("posted", account.posted, posted),
            ("credits", credits, said.credits),
            ("debits", debits, said.debits),
            ("postings", postings, said.postings),
        ):
            if own != theirs:
                raise Mismatch(f"{name}: {label} from its events {own}, from the transfers {theirs}")
        if postings_digest != said.postings_digest:
            raise Mismatch(f"{name}: postings from its events name other transfers or amounts than the transfers do")
        if len(holds) != said.holds:
            raise Mismatch(f"{name}: holds from its events {len(holds)}, from the hold events {said.holds}")
        if sum(_digest(h) for h in holds) & MASK != said.holds_digest:
            raise Mismatch(f"{name}: holds from its events are not the holds placed on it")
        for hold_id, on_account in holds.items():
            self.counts.holds += 1
            try:
                self._check_hold(conn, hold_id, account, on_account)
            except Mismatch as mismatch:
                self.findings.add("hold", str(mismatch))

    @staticmethod
    def _check_identity(account: Account, name: str) -> None:
        if account.kind not in {k.value for k in AccountKind} - {AccountKind.SYSTEM.value}:
            raise Mismatch(f"{name}: kind from its events {account.kind!r}, opened as a customer account")
        derived = ids.account_id(account.business_id, account.external_ref)
        if derived != account.id:
            raise Mismatch(
                f"{name}: identity from its events (business {account.business_id!r},"
                f" external ref {account.external_ref!r}) is account {derived}"
            )

    # -- holds -------------------------------------------------------------------------------

    def _check_hold(self, conn: Any, hold_id: UUID, account: Account, on_account: _HoldOnAccount) -> None:
        name = f"hold {hold_id}"
        captures = self.captures.pop(hold_id, _Captures())  # checked here, whatever else fails
        hold: Any = None
        for event in self.stored.events(conn, hold_id, name):
            hold = mutate(event, hold, name)
        if not isinstance(hold, Hold):
            raise Mismatch(f"{name}: placed on account {account.id}, but its events rebuild no hold")
        where = f"on account {account.id}"
        open_hold = account.holds.get(str(hold_id))
        account_remaining = (
            open_hold.remaining if open_hold is not None
            else on_account.expired_with if on_account.expired_with is not None else 0
        )
        for label, own, theirs in (
            ("account", hold.account_id, account.id),
            ("currency", hold.currency, account.currency),
            ("amount", hold.amount, on_account.amount),
            ("purpose", hold.purpose, on_account.purpose),
            ("expires_at", hold.expires_at, on_account.expires_at),
            ("released", hold.released, on_account.released),
            ("captured", hold.captured, on_account.captured),
            ("remaining", hold.remaining, account_remaining),
        ):
            if own != theirs:
                raise Mismatch(f"{name}: {label} from its events {own}, {where} {theirs}")
        if sum(_digest(t) for t in hold.capture_transfer_ids) & MASK != on_account.captures_digest:
            raise Mismatch(f"{name}: capture transfers from its events are not those {where}")
        if on_account.expired_with is not None and hold.expires_at is None:
            raise Mismatch(f"{name}: no expiry from its events, expired {where}")
        for label, own, theirs in (
            ("captured", hold.captured, captures.amount),
            ("captures", len(hold.capture_transfer_ids), captures.count),
        ):
            if own != theirs:
                raise Mismatch(f"{name}: {label} from its events {own}, from the capture transfers {theirs}")
        if sum(_digest(t) for t in hold.capture_transfer_ids) & MASK != captures.digest:
            raise Mismatch(f"{name}: capture transfers from its events are not those that reference it")

    # -- snapshots ---------------------------------------------------------------------------

    def _check_snapshots(self, conn: Any) -> None:
        if self.ledger.snapshots is None:
            return
        for aggregate_id, version, topic, state in self.stored.snapshot_rows(conn):
            self.counts.snapshots += 1
            name = f"snapshot of {aggregate_id} at version {version}"
            try:
                self._check_snapshot(conn, aggregate_id, version, topic, state, name)
            except Mismatch as mismatch:
                self.findings.add("snapshot", str(mismatch))

    def _check_snapshot(self, conn: Any, aggregate_id: UUID, version: int, topic: str, state: bytes, name: str) -> None:
        try:
            snapshot = self.ledger.mapper.to_domain_event(StoredEvent(aggregate_id, version, topic, bytes(state)))
            if not isinstance(snapshot, Snapshot):
                raise TypeError(f"{type(snapshot).__name__} is not a snapshot")
            from_snapshot = snapshot.mutate(None)
        except Exception as error:
            raise Mismatch(f"{name}: cannot be read: {first_line(error)}") from None
        rebuilt: Any = None
        for event in self.stored.events(conn, aggregate_id, name, lte=version):
            rebuilt = mutate(event, rebuilt, name)
        if rebuilt is None or rebuilt.version != version:
            ends = 0 if rebuilt is None else rebuilt.version
            raise Mismatch(f"{name}: its events end at version {ends}")
        name = f"snapshot of {type(rebuilt).__name__.lower()} {aggregate_id} at version {version}"
        if type(from_snapshot) is not type(rebuilt):
            raise Mismatch(f"{name}: type from the snapshot {type(from_snapshot).__name__},"
                            f" from its events {type(rebuilt).__name__}")
        mine, theirs = vars(from_snapshot), vars(rebuilt)
        for key in [*theirs, *(k for k in mine if k not in theirs)]:
            if key == "_pending_events":
                continue
            if key not in mine or key not in theirs or mine[key] != theirs[key]:
                raise Mismatch(
                    f"{name}: {key.lstrip('_')} from the snapshot {mine.get(key)!r}, from its events {theirs.get(key)!r}"
                )


def _captured_hold(event: Any) -> UUID | None:
    """The hold a transfer captures: named in its references, or the hold of the withdrawal it settles."""
    references = event.references or {}
    if event.kind == TransferKind.CAPTURE and "hold" in references:
        return UUID(references["hold"])
    if event.kind == TransferKind.WITHDRAWAL and "withdrawal" in references:
        return ids.command_id("withdrawal-hold", references["withdrawal"])
    return None
