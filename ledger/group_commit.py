"""Group commit: concurrent transfers saved together, one transaction per group.

The event store serialises writes (one table lock per transaction), so many
threads each committing one transfer queue behind each other. Here they hand
their transfers to one committer thread, which takes whatever has gathered (up
to `group_size_max`) and hands it, as one `PostTransfers` command, to its
handler: one attempt of the ledger's unit of work, one transaction when all go
through, else each on its own, in arrival order. So the answers are those of
sequential commands, refusals and repeats included.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from .application import FundCenter
from .commands import PostTransfer, PostTransfers
from .handlers.transfers import BATCH_SIZE_MAX, transfer, transfer_many
from .views import TransferView

GROUP_SIZE_MAX = 200  # transfers committed together; a group is one FundCenter.transfer_many
STOP_TIMEOUT_S = 10  # how long `stop` waits for the group being committed
assert 1 <= GROUP_SIZE_MAX <= BATCH_SIZE_MAX


class GroupCommitter:
    def __init__(self, ledger: FundCenter, group_size_max: int = GROUP_SIZE_MAX) -> None:
        assert 1 <= group_size_max <= BATCH_SIZE_MAX, group_size_max
        self.ledger, self.group_size_max = ledger, group_size_max
        self._queue: queue.Queue[tuple[PostTransfer, Future[Any]] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._in_flight = 0
        self._thread = threading.Thread(target=self._commit_forever, name="fundcenter-group-commit", daemon=True)
        self._thread.start()

    def transfer(self, **request: Any) -> TransferView:
        """The same as FundCenter.transfer, committed with whatever else is waiting.
        Alone, it runs at once in the caller's thread: a group of one needs no hand-off."""
        command = PostTransfer(**request)
        with self._lock:
            alone = self._in_flight == 0
            self._in_flight += 1
        try:
            return transfer(self.ledger.unit_of_work, command) if alone else self._grouped(command)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _grouped(self, command: PostTransfer) -> TransferView:
        future: Future[Any] = Future()
        self._queue.put((command, future))
        outcome = future.result()
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=STOP_TIMEOUT_S)

    def _commit_forever(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            while len(group) < self.group_size_max:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # stop after this group
                    break
                group.append(item)
            outcomes: Sequence[TransferView | Exception]
            try:
                outcomes = transfer_many(self.ledger.unit_of_work, PostTransfers(tuple(command for command, _ in group)))
            except Exception as error:
                outcomes = [error] * len(group)
            for (_, future), outcome in zip(group, outcomes, strict=True):
                future.set_result(outcome)
