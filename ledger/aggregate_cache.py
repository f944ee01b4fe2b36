"""The aggregate cache: accounts in a least-recently-used cache of their own.

eventsourcing's repository keeps one LRU cache of every aggregate it loads or saves. Every
transfer is an aggregate too, made once and rarely read again, so under load the transfers
pushed the accounts out: with 12,000 member accounts of about 22 events each and the
library's one cache of 10,000, random one-by-one transfers among them ran at 392/s (each
account read again from the store and its events applied, 1.8 ms of CPU a transfer) against
1,508/s among 50 accounts; with room for every account, 1,463/s. `AggregateCache` keeps the
accounts (the working set every command reads) in one LRU cache and everything else
(transfers, holds, idempotency records, payments) in another, each with its own bound.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import Cache, LRUCache, project_aggregate

from .domain.accounts import Account


class AggregateCache(Cache[UUID, Any]):
    """What the repository's `cache` is asked (`get`, `put`), over two LRU caches: accounts, the rest."""

    def __init__(self, accounts_maxsize: int, others_maxsize: int) -> None:
        super().__init__()
        self.accounts: LRUCache[UUID, Any] = LRUCache(maxsize=accounts_maxsize)
        self.others: LRUCache[UUID, Any] = LRUCache(maxsize=others_maxsize)

    def get(self, key: UUID, *, evict: bool = False) -> Any:
        try:
            return self.accounts.get(key, evict=evict)
        except KeyError:
            return self.others.get(key, evict=evict)

    def put(self, key: UUID, value: Any) -> Any:
        return (self.accounts if isinstance(value, Account) else self.others).put(key, value)

    def advance(self, key: UUID, cached: Any, events: Sequence[Any]) -> None:
        """Put in place of `cached` a copy of it with `events` applied (its next ones, stored by
        another writer): the cached aggregate itself is never changed, as a reader may hold it."""
        current = project_aggregate(copy.deepcopy(cached), events)
        assert current is not None, "projecting events onto an aggregate never loses it"
        self.put(key, current)

    def clear(self) -> None:
        """Forget everything (what is needed is read again): a writer that cannot tell what is stale."""
        self.accounts = LRUCache(maxsize=self.accounts.maxsize)
        self.others = LRUCache(maxsize=self.others.maxsize)
