"""Pages of the log for the projection runner: read and decoded in a thread, ahead of it.

While the runner waits on the views' database for one batch (its COPYs, updates and
commit), `ReadAhead` reads the next page of the log on the event store's own connection
and decodes its events, so the server's time and Python's overlap. It keeps at most
`PAGES_AHEAD` pages ready and never reads past `stop`. It only reads: the runner still
applies each page and records its position in one transaction, in order, so nothing it
reads ahead counts until the runner has applied it. A failure to read or decode is
raised by `next()` in the runner's thread, where a failure of its own read would have
been, after the pages before it. `close()` ends the thread (the runner closes it when it
leaves a catch-up, and when another runner moved the tracking position).
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from .common import Batch

PAGES_AHEAD = 2  # decoded pages kept ready: bounds the memory a catch-up holds
PUT_WAIT_S = 0.1  # a full queue is rechecked for close() this often


def read_page(ledger: Any, after: int, stop: int, limit: int) -> Batch:
    """The events in (after, stop], at most `limit`, decoded, with their positions."""
    notifications = ledger.recorder.select_notifications(start=after, limit=limit, stop=stop, inclusive_of_start=False)
    to_domain_event = ledger.mapper.to_domain_event
    return [(n.id, to_domain_event(n)) for n in notifications]


class ReadInPlace:
    """`next()`: the next page after `after` up to `stop` (empty at the end), read when asked."""

    def __init__(self, ledger: Any, after: int, stop: int, limit: int) -> None:
        self.ledger, self.after, self.stop, self.limit = ledger, after, stop, limit

    def next(self) -> Batch:
        page = read_page(self.ledger, self.after, self.stop, self.limit) if self.after < self.stop else []
        if page:
            self.after = page[-1][0]
        return page

    def close(self) -> None:
        """Nothing to end."""


def pages(ledger: Any, after: int, stop: int, limit: int) -> ReadAhead | ReadInPlace:
    """The log's pages in (after, stop]: read ahead in a thread when there is more than one page to
    read (catching up), else in the caller's thread (following the head: a thread would cost more)."""
    if stop - after > limit:
        return ReadAhead(ledger, after, stop, limit)
    return ReadInPlace(ledger, after, stop, limit)


class ReadAhead:
    """`next()`: the next page after `after` up to `stop` (empty at the end), read by a thread."""

    def __init__(self, ledger: Any, after: int, stop: int, limit: int, ahead: int = PAGES_AHEAD) -> None:
        self.ledger, self.after, self.stop, self.limit = ledger, after, stop, limit
        self._pages: queue.Queue[Batch | BaseException] = queue.Queue(maxsize=ahead)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._read, name="fundcenter-projections-read-ahead", daemon=True)
        self._thread.start()

    def next(self) -> Batch:
        """The next page: empty once `stop` is reached; raises what reading it raised."""
        page = self._pages.get()
        if isinstance(page, BaseException):
            raise page
        return page

    def close(self, timeout: float = 10.0) -> None:
        self._closed.set()
        while True:  # a reader blocked on a full queue sees the flag within PUT_WAIT_S; drain to let it go at once
            try:
                self._pages.get_nowait()
            except queue.Empty:
                break
        self._thread.join(timeout)

    def _read(self) -> None:
        after = self.after
        try:
            while not self._closed.is_set():
                page = read_page(self.ledger, after, self.stop, self.limit) if after < self.stop else []
                if not self._put(page) or not page:
                    return
                after = page[-1][0]
        except BaseException as error:  # handed to the runner's thread, which fails as if it had read it
            self._put(error)

    def _put(self, item: Batch | BaseException) -> bool:
        while not self._closed.is_set():
            try:
                self._pages.put(item, timeout=PUT_WAIT_S)
                return True
            except queue.Full:
                continue
        return False
