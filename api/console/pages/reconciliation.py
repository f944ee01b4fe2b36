"""/console/reconciliation (finance 对账): the reconciliations by channel and day with their status;
import a statement (an uploaded file) or fetch it from the channel; a reconciliation's fund and fee
summary, its differences with both sides' figures and a resolve form each, its lines, close the day,
and the fund and fee reports (summary and detail) as CSV.

Reading needs reports:read (finance, auditor, admin); importing, resolving and closing need
reconciliation:write (finance, admin), as in the API. Each goes through the API's own service
(`Reconciliations`), with an Idempotency-Key per rendered form.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Form, Query
from fastapi.responses import StreamingResponse
from starlette.datastructures import UploadFile

from ledger.domain.access import Permission
from ledger.domain.errors import ValidationError
from ledger.domain.reconciliation import ACTIONS, CLASSES, MATCHED
from projections.reconciliation.reports import resolution_text

from ...deps import POSITION_MAX
from ...downloads import csv_download
from ...models import FetchIn, ImportIn, ResolveIn
from ...service.reconciliations import Reconciliations
from ..paging import paging
from ..web import Desk, command_key, needs, page_router
from .channels import Posted, checked

router = page_router("/console/reconciliation")
Reader = Annotated[Desk, needs(Permission.REPORTS_READ)]
Writer = Annotated[Desk, needs(Permission.RECONCILE)]
Key = Annotated[str, Form(alias="idempotency_key", max_length=200)]  # the form's own key (web.command_key)
Text = Annotated[str, Form(max_length=200)]
Asked = Annotated[str, Query(max_length=64)]
Cursor = Annotated[str | None, Query(max_length=200)]
HOME = "/console/reconciliation"
PAGE_SIZE = 100  # within the API's PAGE_SIZE_MAX
FILE_BYTES_MAX = 64 * 1024 * 1024  # as the API's `file` field


@router.get("")
def reconciliations(desk: Reader, channel: Asked = "", currency: Asked = "", status: Asked = "",
                    start: Annotated[str, Query(alias="from", max_length=64)] = "",
                    end: Annotated[str, Query(alias="to", max_length=64)] = "", cursor: Cursor = None):
    api = desk.service(Reconciliations)
    filters = {"channel": channel, "currency": currency, "status": status, "from": start, "to": end}
    page = api.reconciliations(channel=channel or None, currency=currency or None, status=status or None,
                               start=_day(start, "from"), end=_day(end, "to"), limit=PAGE_SIZE, cursor=cursor,
                               min_position=None)
    return desk.render("reconciliation/list.html", page=page, filters=filters,
                       **paging(desk, filters, cursor or None, page["next_cursor"]),
                       can_write=desk.can(Permission.RECONCILE), channels=sorted(api.ledger.catalog().channels),
                       today=api.ledger.today())


@router.post("/import")
def import_statement(desk: Writer, form: Posted):
    api = desk.service(Reconciliations)

    def run() -> Any:
        key = command_key(_text(form.get("idempotency_key")))
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ValidationError("choose the channel's statement file (CSV) to import")
        data = upload.file.read(FILE_BYTES_MAX + 1)
        if len(data) > FILE_BYTES_MAX:
            raise ValidationError(f"the file is larger than {FILE_BYTES_MAX // (1024 * 1024)} MiB")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValidationError(f"the file is not UTF-8 text (byte {error.start})") from None
        body = checked(ImportIn, channel=_text(form.get("channel")).strip(), date=_text(form.get("date")),
                       currency=_text(form.get("currency")).strip() or "CNY", file=text)
        return api.import_statement(body, key)

    return desk.act(run, _imported, HOME, then=_at)


@router.post("/fetch")
def fetch_statement(desk: Writer, idempotency: Key = "", channel: Text = "",
                    day: Annotated[str, Form(alias="date", max_length=40)] = "", currency: Text = "CNY"):
    api = desk.service(Reconciliations)

    def run() -> Any:
        key = command_key(idempotency)
        return api.fetch_statement(checked(FetchIn, channel=channel.strip(), date=day, currency=currency.strip() or "CNY"), key)

    return desk.act(run, _imported, HOME, then=_at)


@router.get("/{reconciliation_id}")
def reconciliation(desk: Reader, reconciliation_id: UUID, cursor: Cursor = None):
    api = desk.service(Reconciliations)
    found = api.ledger.get_reconciliation(reconciliation_id)
    after = _cursor(cursor)
    items = api.services.reconciler.lines(reconciliation_id, differences_only=True, after=after, limit=PAGE_SIZE + 1)
    following = str(items[PAGE_SIZE - 1]["seq"]) if len(items) > PAGE_SIZE else None
    differences = [{**row, "resolution": resolution_text(found, row["seq"]), "waiting": found.is_waiting(row["seq"]),
                    "resolved": str(row["seq"]) in found.resolutions,
                    "actions": [a for a, classes in ACTIONS.items() if row["class"] in classes
                                and not (a == "wait" and found.is_waiting(row["seq"]))]}
                   for row in items[:PAGE_SIZE]]
    return desk.render("reconciliation/detail.html", r=found, differences=differences,
                       **paging(desk, {}, str(after) if after else None, following),
                       classes=(MATCHED, *CLASSES), overdue=api.overdue(found), can_write=desk.can(Permission.RECONCILE),
                       state=_status(api, found), names=desk.key_names([found.imported_by, found.closed_by]))


@router.get("/{reconciliation_id}/lines")
def lines(desk: Reader, reconciliation_id: UUID, cursor: Cursor = None):
    api = desk.service(Reconciliations)
    found = api.ledger.get_reconciliation(reconciliation_id)
    after = _cursor(cursor)
    items = api.services.reconciler.lines(reconciliation_id, after=after, limit=PAGE_SIZE + 1)
    following = str(items[PAGE_SIZE - 1]["seq"]) if len(items) > PAGE_SIZE else None
    rows = [{**row, "resolution": resolution_text(found, row["seq"])} for row in items[:PAGE_SIZE]]
    return desk.render("reconciliation/lines.html", r=found, rows=rows,
                       **paging(desk, {}, str(after) if after else None, following))


@router.post("/{reconciliation_id}/differences/{seq}/resolve")
def resolve(desk: Writer, reconciliation_id: UUID, seq: int, idempotency: Key = "", action: Text = "",
            reason: Annotated[str, Form(max_length=2000)] = ""):
    api = desk.service(Reconciliations)
    back = f"{HOME}/{reconciliation_id}#difference-{seq}"

    def run() -> Any:
        key = command_key(idempotency)
        if not 1 <= seq <= POSITION_MAX:
            raise ValidationError(f"difference {seq} is not one of this reconciliation's")
        done = api.resolve(reconciliation_id, seq, checked(ResolveIn, action=action, reason=reason.strip()), key)
        return api.resolution(done, seq)

    def said(resolution: dict[str, Any] | None) -> str:
        posted = len(resolution["transfers"]) if resolution else 0
        return f"Difference {seq} resolved: {action} ({posted} transfer{'s' if posted != 1 else ''} posted)."

    return desk.act(run, said, back)


@router.post("/{reconciliation_id}/close")
def close(desk: Writer, reconciliation_id: UUID, idempotency: Key = ""):
    api = desk.service(Reconciliations)
    back = f"{HOME}/{reconciliation_id}"
    return desk.act(lambda: api.close_reconciliation(reconciliation_id, command_key(idempotency)),
                    lambda r: f"The day is closed: {r.channel} {r.day} {r.currency}.", back)


@router.get("/{reconciliation_id}/report.csv", response_class=StreamingResponse)
def report(desk: Reader, reconciliation_id: UUID, kind: Literal["fund", "fee"] = "fund",
           part: Literal["summary", "detail"] = "summary"):
    rows = desk.services.reconciler.csv_report(reconciliation_id, kind, part)
    return csv_download(rows, f"reconciliation-{reconciliation_id}-{kind}-{part}.csv")


def _imported(r: Any) -> str:
    return (f"Imported {r.channel} {r.day} {r.currency}: {_count(r.lines, 'line')},"
            f" {_count(r.differences, 'difference')} ({r.open_differences} open).")


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}{'' if n == 1 else 's'}"


def _at(r: Any) -> str:
    return f"{HOME}/{r.id}"


def _status(api: Reconciliations, found: Any) -> str:
    """open, closed, or superseded: another file of its channel, day and currency closed the day."""
    if found.is_closed:
        return "closed"
    return "superseded" if api.ledger.reconciled_day(found.channel, found.day, found.currency) else "open"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _day(text: str, name: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{name} must be a day such as 2026-11-25, got {text[:20]!r}") from None


def _cursor(cursor: str | None) -> int:
    if cursor is None or cursor == "":
        return 0
    if not cursor.isascii() or not cursor.isdigit() or int(cursor) > POSITION_MAX:
        raise ValidationError(f"cursor {cursor[:40]!r} is not one this page gave out")
    return int(cursor)

