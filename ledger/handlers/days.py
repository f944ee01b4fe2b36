"""Handlers: close an accounting day.

`prepare` checks the close and reads its figures from the log (ledger/audit/days.py), outside
the writer, since it reads the whole log; `record_close` then writes the `DayClose` in the
writer's turn, with the certificate signed. The checks, in order: the day is a day; it is
over by the ledger's clock (`day-not-over`); it is not closed (`day-already-closed`); every
channel whose pending_reconciliation a payment moved on the day has that day's
reconciliation closed, in each currency, or is waived, with a reason (`reconciliations-open`).
"""

from __future__ import annotations

from datetime import date, datetime

from ..audit.days import certificate_text, committed_late, day_figures
from ..day_commands import CloseDay, RecordDayClose
from ..domain.aggregate import stamped_by
from ..domain.days import (
    DayAlreadyClosed,
    DayClose,
    DayNotClosed,
    DayNotOver,
    DayStillCommitting,
    ReconciliationsOpen,
    check_day,
    day_close_id,
)
from ..domain.errors import ValidationError
from ..domain.inputs import TEXT_LENGTH_MAX, check_code, check_text
from ..unit_of_work import Attempt, UnitOfWork
from .reconciliation import reconciled_day

WAIVED_CHANNELS_MAX = 100
CLOSE_ATTEMPTS_MAX = 3  # reads of the day's figures, when the day's last commands commit meanwhile


def day_close(uow: UnitOfWork, day: str) -> DayClose:
    found = uow.find(DayClose, day_close_id(check_day(day)))  # a close never changes: the cache may answer
    if found is None:
        raise DayNotClosed(f"day {day} is not closed")
    return found


def prepare(uow: UnitOfWork, cmd: CloseDay) -> RecordDayClose:
    day = check_day(cmd.day)
    waive = _check_waiver(cmd.waive, cmd.reason)
    end = uow.accounting_day.bounds(date.fromisoformat(day))[1]
    now = uow.clock()
    if now < end:
        raise DayNotOver(f"day {day} is not over: it ends at {end.isoformat()} ({uow.accounting_day.timezone}"
                         f" cut-off {uow.accounting_day.cutoff.strftime('%H:%M')})")
    if uow.find(DayClose, day_close_id(day)) is not None:
        raise DayAlreadyClosed(f"day {day} is closed already")
    figures = day_figures(uow.app, date.fromisoformat(day), uow.accounting_day)
    reconciliations, missing = [], []
    for channel, currency in figures.channels:
        closed = reconciled_day(uow, channel, day, currency)
        if closed is not None:
            reconciliations.append({"channel": channel, "currency": currency, "status": "closed",
                                    "reconciliation_id": str(closed.reconciliation_id)})
        elif channel in waive:
            reconciliations.append({"channel": channel, "currency": currency, "status": "waived"})
        else:
            missing.append(f"{channel} {currency}")
    if missing:
        raise ReconciliationsOpen(f"day {day}: the reconciliation of {', '.join(missing)} is not closed;"
                                  " close it, or waive the channel with a reason")
    waiver = {"channels": list(waive), "reason": cmd.reason} if waive else None
    return RecordDayClose(figures, reconciliations, waiver, cmd.signer, cmd.by)


def record_close(uow: UnitOfWork, cmd: RecordDayClose) -> DayClose:
    day = cmd.figures.day
    by = uow.by(cmd.by) or ""

    def decide(attempt: Attempt) -> DayClose:
        if attempt.find(DayClose, day_close_id(day)) is not None:
            raise DayAlreadyClosed(f"day {day} is closed already")
        # In the writer's turn every earlier command of this process is committed: one of the day that
        # committed while the figures were read means reading them again.
        late = committed_late(uow.app, cmd.figures.scanned_to, datetime.fromisoformat(cmd.figures.ends_at))
        if late is not None:
            raise DayStillCommitting(f"an event of day {day} was committed at position {late} while the day's"
                                     " figures were read; close it again")
        now = uow.clock()
        text = certificate_text(cmd.figures, uow.accounting_day, cmd.reconciliations, cmd.waiver, by, now,
                                cmd.signer.key_id)
        with stamped_by(lambda: now):  # the certificate's closed_at is the event's time
            close = DayClose(id=day_close_id(day), day=day, position=cmd.figures.position,
                             merkle_root=cmd.figures.merkle_root, certificate=text, signature=cmd.signer.sign(text),
                             key_id=cmd.signer.key_id, closed_by=by)
        attempt.commit(close)
        return close

    closed = uow.run(decide)
    uow.day_closed(day)
    return closed


def _check_waiver(waive: tuple[str, ...], reason: str) -> tuple[str, ...]:
    if len(waive) > WAIVED_CHANNELS_MAX:
        raise ValidationError(f"waive names at most {WAIVED_CHANNELS_MAX} channels")
    for channel in waive:
        check_code(channel, "waive")
    if waive:
        check_text(reason, "reason", required=True, length_max=TEXT_LENGTH_MAX)
    return tuple(dict.fromkeys(waive))
