"""Small things every view shares: time stamps, cursors, the shape of a batch."""

from __future__ import annotations

import base64
import inspect
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from functools import singledispatchmethod
from typing import Any, NamedTuple

from eventsourcing.persistence import Notification
from eventsourcing.utils import resolve_topic

from ledger.domain.errors import ValidationError
from ledger.domain.instants import iso


class dispatchmethod(singledispatchmethod):
    """`functools.singledispatchmethod`, without its cost per call on Python 3.11 (a new
    wrapper, `update_wrapper` and all, every time the method is looked up): the bound
    dispatcher is made once per view object and kept on it, with the handler of each
    event class it has met (a plain dict: singledispatch's own cache is a weak one).
    Handlers are registered when their class is defined, never after its first use."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, cls: type | None = None) -> Callable[..., Any]:
        if obj is None:
            return super().__get__(obj, cls)
        dispatch = self.dispatcher.dispatch
        found: dict[type, Callable[..., Any]] = {}  # the handler of each event class met (handlers register at import)

        def method(event: Any, *args: Any) -> Any:
            handler = found.get(event.__class__)
            if handler is None:
                handler = found[event.__class__] = dispatch(event.__class__)
            return handler(obj, event, *args)

        obj.__dict__[self.name] = method  # found before this (non-data) descriptor from now on
        return method

    def handles(self, kind: type) -> bool:
        """Whether events of class `kind` have a handler of their own (not the default one)."""
        return self.dispatcher.dispatch(kind) is not self.dispatcher.registry[object]


# A batch is the events of one transaction of the runner: (log position, domain event).
Batch = list[tuple[int, Any]]


class Decoding:
    """Which events of a page to decode: those whose class `wants(kind)` (the others no reader
    looks at), asked once per topic. An event whose topic does not resolve to a class is
    decoded, so that decoding says what is wrong with it. `forget()` after `wants` changes."""

    def __init__(self, wants: Callable[[type], bool]) -> None:
        self.wants = wants
        self._by_topic: dict[str, bool] = {}

    def __call__(self, topic: str) -> bool:
        found = self._by_topic.get(topic)
        if found is None:
            try:
                kind = resolve_topic(topic)
            except Exception:  # an unknown topic
                kind = None
            found = self._by_topic[topic] = not isinstance(kind, type) or self.wants(kind)
        return found

    def forget(self) -> None:
        self._by_topic.clear()

    def decoded(self, notifications: Sequence[Notification], to_domain_event: Callable[[Notification], Any]) -> Batch:
        """The page's events that are wanted, decoded, with their log positions."""
        return [(n.id, to_domain_event(n)) for n in notifications if self(n.topic)]


_HANDLES: dict[tuple[type, type], bool] = {}  # Collects.handles, by (view class, event class): registries never change


class Collects:
    """A view that every event reaches through its `collect` dispatcher, which does nothing by
    default: `handles(kind)` says whether events of a class can change it, so the runner passes
    it over for a batch of none of those (most batches, for the views of rarer events), and does
    not decode an event that no view handles.

    A batch reaches it in two phases: `changes(batch)`, pure Python from the events alone (it
    reads nothing, so the runner may run it for the next batch while this one is written), then
    `write(cur, changes)`, the statements (and any reads they need), in the batch's transaction.
    By default the changes are the batch itself, and `write` applies it event by event: the
    views of rarer events, which read their own rows as they go."""

    def handles(self, kind: type) -> bool:
        key = (type(self), kind)  # asked for every view, every batch: answered once per view class and event class
        found = _HANDLES.get(key)
        if found is None:
            collect = inspect.getattr_static(type(self), "collect")  # the dispatcher itself, not a bound one
            found = _HANDLES[key] = bool(collect.handles(kind))
        return found

    def changes(self, batch: Batch) -> Any:
        return batch

    def write(self, cur: Any, changes: Any) -> None:
        raise NotImplementedError

    def apply(self, cur: Any, batch: Batch) -> None:
        """Both phases at once."""
        self.write(cur, self.changes(batch))


class PostedTexts(NamedTuple):
    """What the views store of a transfer's event as text: its id, each posting's account (in the
    postings' order) and its instant (`iso`)."""

    transfer_id: str
    accounts: tuple[str, ...]
    created_at: str


# Within `texts_shared()`, each event's texts by the event's id(), with the event itself: held, so
# that its id names no other object while the scope lasts.
_SHARED_TEXTS: ContextVar[dict[int, tuple[Any, PostedTexts]] | None] = ContextVar("posted_texts", default=None)


def posted_texts(event: Any) -> PostedTexts:
    """A transfer event's texts: made once per event within `texts_shared()`, however many views
    ask (four do, and a UUID's text costs about half a microsecond), else each time."""
    shared = _SHARED_TEXTS.get()
    if shared is not None:
        hit = shared.get(id(event))
        if hit is not None:
            return hit[1]
    texts = PostedTexts(str(event.originator_id), tuple([str(p["account"]) for p in event.postings]), iso(event.timestamp))
    if shared is not None:
        shared[id(event)] = (event, texts)
    return texts


@contextmanager
def texts_shared() -> Iterator[None]:
    """A scope (the runner's collection of one batch by every view) in which `posted_texts` makes
    each event's texts once."""
    token = _SHARED_TEXTS.set({})
    try:
        yield
    finally:
        _SHARED_TEXTS.reset(token)


PAGE_SIZE_MAX = 1000


def booked_day(event: Any) -> str:
    """The accounting day an event recorded (`day`: a transfer, a payment's outcome), as YYYY-MM-DD;
    for an event from a log older than that record, its UTC date."""
    return getattr(event, "day", None) or iso(event.timestamp)[:10]


def encode_cursor(*parts: object) -> str:
    return base64.urlsafe_b64encode("|".join(str(p) for p in parts).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, count: int) -> list[str]:
    try:
        parts = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|")
    except (ValueError, UnicodeDecodeError):
        parts = []
    if len(parts) != count:
        raise ValidationError(f"cursor {cursor!r} is not one this service gave out")
    return parts


def cursor_int(text: str, cursor: str) -> int:
    """A number from a cursor, within a bigint, or the cursor is not one of ours."""
    if not text.isdigit() or int(text) >= 2**63:
        raise ValidationError(f"cursor {cursor!r} is not one this service gave out")
    return int(text)


def check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= PAGE_SIZE_MAX:
        raise ValidationError(f"limit must be an integer from 1 to {PAGE_SIZE_MAX}, got {limit!r}")
    return limit


class AccountMetadata:
    """Kind, business, role, channel and currency of accounts, from the balances view.

    These never change once an account is opened, so a view keeps them in memory: one cache
    per view object, so two stores (a live one and a replay's scratch one, or two databases in
    one process) never share one."""

    SIZE_MAX = 200_000  # accounts kept before the cache starts afresh

    def __init__(self) -> None:
        self._rows: dict[str, dict[str, Any]] = {}

    def __call__(self, cur: Any, account_ids: set[str]) -> dict[str, dict[str, Any]]:
        missing = sorted(a for a in account_ids if a not in self._rows)
        if missing:
            rows = cur.select_in(
                "SELECT account_id, kind, business_id, currency, role, channel FROM account_balances", "account_id", missing
            )
            if len(self._rows) > self.SIZE_MAX:
                self._rows.clear()
            self._rows.update({row["account_id"]: row for row in rows})
        return {a: self._rows[a] for a in account_ids if a in self._rows}
