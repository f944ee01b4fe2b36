"""The API's one call per route: what this caller may do, as ledger commands and view queries.

Business keys are bound to one business: every account they name must be that
business's, or it is "not found" (never "forbidden": another business's
accounts do not exist for them). Idempotency keys are scoped to the caller's
business (staff keys share one scope), so two businesses can use the same key.

Every command that takes an Idempotency-Key derives its command from it: those
that create something take their id from the scoped key (a transfer, a hold, a
binding, a payment, an API key); the rest record the key with the change they
make, in one save (`FundCenter.idempotent`, ledger/idempotency.py). Either way a
retry answers with the first outcome and another request with the key is
`409 idempotency-conflict`. Checks of who may do what come first, always.

Every staff command records who made it: the acting API key's id (`self.by`) is
the `by` of its events (adjustments, account status, the catalog, API keys,
reconciliation).
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic
from fastapi import Depends

from ledger import AccountView, HoldView, TransferView
from ledger.domain import ids
from ledger.domain.access import ROLE_PERMISSIONS, Permission, Principal, Role
from ledger.domain.errors import AccountNotFound, HoldNotFound, LedgerError, NotFound, ValidationError
from ledger.domain.reconciliation import Reconciliation
from ledger.payments import BindingView, PaymentView
from projections.api_keys import list_api_keys
from projections.balances import account_balance
from projections.common import decode_cursor, encode_cursor
from projections.payments import open_payments
from projections.reconciliation.reports import listing as reconciliation_list
from projections.statements import balance_as_of, statement, statement_entries
from projections.suspense import suspense
from projections.transactions import list_transactions
from projections.trial_balance import ACCOUNT_FIELDS, Totals, account_balances, trial_balance_by_account

from . import models
from .deps import Services, ServicesDep, allowed
from .problems import forbidden

EVENT_FIELDS_HIDDEN = {"secret_hash"}
SECRET_SHOWN_ONCE = ("this Idempotency-Key already created this API key: its secret was shown on the first"
                     " response only and cannot be shown again (revoke the key and create another if it was lost)")


class Caller:
    """One API caller: each route makes one call on it."""

    def __init__(self, services: Services, who: Principal) -> None:
        self.services, self.ledger, self.views, self.who = services, services.ledger, services.views, who
        self.by = str(who.key_id)  # who made it, on every staff command's events

    # -- scope -----------------------------------------------------------------------------

    def _key(self, key: str) -> str:
        return f"{self.who.idempotency_scope}/{key}"

    def _own(self, account_id: UUID) -> UUID:
        if self.who.business_id is not None and self.ledger.account_business(account_id) != self.who.business_id:
            raise AccountNotFound(f"account {account_id} not found")
        return account_id

    def _own_hold(self, hold_id: UUID) -> UUID:
        try:
            self._own(self.ledger.hold_account(hold_id))
        except AccountNotFound:
            raise HoldNotFound(f"hold {hold_id} not found") from None
        return hold_id

    # -- accounts ----------------------------------------------------------------------------

    def open_account(self, body: models.OpenAccount, key: str) -> AccountView:
        business_id = body.business_id or self.who.business_id
        if business_id is None:
            raise ValidationError("business_id is required")
        if self.who.business_id is not None and business_id != self.who.business_id:
            raise forbidden("a business key opens accounts for its own business only")
        if body.kind != "member" and not self.who.can(Permission.ACCOUNTS_OPEN_ANY):
            raise forbidden(f"the {self.who.role.value} role opens member accounts only")
        account_id = ids.account_id(business_id, body.external_ref)
        return self.ledger.idempotent(
            self._key(key), "open-account", ids.fingerprint(**{**body.model_dump(mode="json"), "business_id": business_id}),
            lambda: self.ledger.open_account(
                body.kind, business_id, body.external_ref, body.currency, body.name, channel=body.channel
            ),
            self._account_view, target=lambda a: a.id == account_id, refer=lambda view: [view.id],
        )

    def _account_view(self, states: list[tuple[Any, int | None]]) -> AccountView:
        (account, position), = states
        return AccountView.of(account, self.ledger.clock(), position)

    def account(self, account_id: UUID) -> AccountView | dict[str, Any]:
        view = self.ledger.get_account(self._own(account_id))
        if view.kind != "system":
            return view
        return {**account_balance(self.views, account_id, self.ledger.clock()), "id": account_id}

    def set_status(self, account_id: UUID, status: str, key: str) -> AccountView:
        return self.ledger.set_account_status(self._own(account_id), status, idempotency_key=self._key(key), by=self.by)

    def statement(self, account_id: UUID, start: datetime | None, end: datetime | None, limit: int,
                  cursor: str | None, min_position: int | None) -> dict[str, Any]:
        view = self.ledger.get_account(self._own(account_id))
        self.services.wait_for(min_position)
        entries, following = statement(self.views, account_id, start=start, end=end, limit=limit, cursor=cursor)
        return {"account_id": account_id, "currency": view.currency, "entries": entries, "next_cursor": following}

    def statement_csv(self, account_id: UUID, start: datetime | None, end: datetime | None,
                      min_position: int | None) -> Iterator[str]:
        """The statement within [start, end) as CSV, streamed; who may read it is checked first."""
        view = self.ledger.get_account(self._own(account_id))
        self.services.wait_for(min_position)
        rows = statement_entries(self.views, account_id, start=start, end=end)
        return csv_lines(STATEMENT_CSV, ({**row, "currency": view.currency} for row in rows))

    def balance(self, account_id: UUID, as_of: datetime | None, min_position: int | None) -> dict[str, Any]:
        view = self.ledger.get_account(self._own(account_id))
        self.services.wait_for(min_position)
        moment = as_of or self.ledger.clock()
        return {"account_id": account_id, "currency": view.currency, "as_of": moment,
                "posted": balance_as_of(self.views, account_id, moment)}

    # -- money --------------------------------------------------------------------------------

    def transfer(self, body: models.TransferIn, key: str) -> TransferView:
        self._own(body.from_account), self._own(body.to_account)
        transfer = self.services.committer.transfer if self.services.committer else self.ledger.transfer
        return transfer(from_account=body.from_account, to_account=body.to_account, amount=body.amount,
                        currency=body.currency, idempotency_key=self._key(key), memo=body.memo)

    def batch(self, body: models.BatchIn, key: str) -> list[TransferView | LedgerError]:
        items, refused = [], {}
        for index, item in enumerate(body.transfers):
            try:
                self._own(item.from_account), self._own(item.to_account)
            except LedgerError as error:
                refused[index] = error
                continue
            items.append({
                "from_account": item.from_account, "to_account": item.to_account, "amount": item.amount,
                "currency": item.currency, "memo": item.memo,
                "idempotency_key": self._key(item.idempotency_key or f"{key}/{index}"),
            })
        done = iter(self.ledger.transfer_many(items))
        return [refused[i] if i in refused else next(done) for i in range(len(body.transfers))]

    def place_hold(self, body: models.HoldIn, key: str) -> HoldView:
        return self.ledger.place_hold(self._own(body.account), body.amount, self._key(key), body.reason, body.expires_at)

    def release_hold(self, hold_id: UUID, body: models.ReleaseIn, key: str) -> HoldView:
        return self.ledger.release_hold(self._own_hold(hold_id), body.amount, idempotency_key=self._key(key))

    def capture_hold(self, hold_id: UUID, body: models.CaptureIn, key: str) -> TransferView:
        self._own_hold(hold_id), self._own(body.to_account)
        return self.ledger.capture_hold(hold_id, body.to_account, body.amount, idempotency_key=self._key(key), memo=body.memo)

    def hold(self, hold_id: UUID) -> HoldView:
        return self.ledger.get_hold(self._own_hold(hold_id))

    def adjust(self, body: models.AdjustmentIn, key: str) -> TransferView:
        return self.ledger.adjust(body.account, body.amount, body.currency, body.direction, body.reason, self._key(key),
                                  by=self.by)

    # -- queries ------------------------------------------------------------------------------

    def transactions(self, min_position: int | None, **filters: Any) -> dict[str, Any]:
        if self.who.business_id is not None:
            if filters.get("business_id") not in (None, self.who.business_id):
                return {"items": [], "next_cursor": None}
            filters["business_id"] = self.who.business_id
        if filters.get("account_id") is not None:
            self._own(filters["account_id"])
        self.services.wait_for(min_position)
        items, following = list_transactions(self.views, **filters)
        return {"items": items, "next_cursor": following}

    def trial_balance(self, as_of: datetime | None, include_zero: bool, min_position: int | None) -> dict[str, Any]:
        self.services.wait_for(min_position)
        position, moment = self.services.runner.position, as_of or self.ledger.clock()
        return {"position": position, "as_of": moment,
                **trial_balance_by_account(self.views, as_of, include_zero=include_zero)}

    def trial_balance_csv(self, as_of: datetime | None, include_zero: bool, min_position: int | None) -> Iterator[str]:
        """The trial balance as CSV, streamed: a line per account, then a total line per currency."""
        self.services.wait_for(min_position)
        rows = account_balances(self.views, as_of)

        def lines() -> Iterator[dict[str, Any]]:
            totals = Totals()
            for row in rows:
                totals.add(row)
                if include_zero or row["debit"] or row["credit"]:
                    yield {**row, "line": "account"}
            for total in totals.balances():
                yield {"line": "total", "currency": total["currency"], "debit": total["debit"], "credit": total["credit"]}

        return csv_lines(TRIAL_BALANCE_CSV, lines())

    def suspense(self, channel: str | None, day: str | None, min_position: int | None) -> dict[str, Any]:
        self.services.wait_for(min_position)
        return {"position": self.services.runner.position, "days": suspense(self.views, channel=channel, day=day)}

    def events(self, after: int, limit: int) -> dict[str, Any]:
        events = [
            {
                "position": position, "topic": get_topic(type(event)), "originator_id": event.originator_id,
                "originator_version": event.originator_version, "timestamp": event.timestamp,
                "data": {k: v for k, v in vars(event).items()
                         if k not in EVENT_FIELDS_HIDDEN and not k.startswith("originator_") and k != "timestamp"},
            }
            for position, event in self.ledger.read_log(after=after, limit=limit)
        ]
        return {"events": events, "next_after": events[-1]["position"] if len(events) == limit else None}

    # -- access ----------------------------------------------------------------------------------

    def create_key(self, body: models.KeyIn, key: str) -> dict[str, Any]:
        view, token = self.ledger.create_api_key(body.role, body.business_id, body.name, created_by=self.by,
                                                 idempotency_key=self._key(key))
        return {**vars(view), "key": token, "note": None if token is not None else SECRET_SHOWN_ONCE}

    def revoke_key(self, key_id: UUID) -> Any:
        return self.ledger.revoke_api_key(key_id, by=self.by)

    def grant(self, key_id: UUID, body: models.GrantIn, key: str) -> Any:
        return self.ledger.grant_role(key_id, body.role, body.business_id, by=self.by,
                                      idempotency_key=self._key(key))

    def keys(self, limit: int, cursor: str | None, min_position: int | None) -> dict[str, Any]:
        self.services.wait_for(min_position)
        items, following = list_api_keys(self.views, limit=limit, cursor=cursor)
        return {"items": [{**i, "id": i["key_id"], "revoked": i["revoked_by"] is not None} for i in items],
                "next_cursor": following}

    @staticmethod
    def roles() -> list[dict[str, Any]]:
        return [{"role": role.value, "permissions": sorted(p.value for p in ROLE_PERMISSIONS[role])} for role in Role]

    # -- channels and payments ----------------------------------------------------------------

    def catalog(self) -> dict[str, Any]:
        catalog = self.ledger.catalog()
        return {"banks": catalog.banks, "channels": catalog.channels, "routes": catalog.routes}

    def change_catalog(self, key: str, command: str, *args: Any) -> dict[str, Any]:
        catalog = getattr(self.ledger, command)(*args, idempotency_key=self._key(key), by=self.by)
        return {"banks": catalog.banks, "channels": catalog.channels, "routes": catalog.routes}

    def _own_binding(self, binding_id: UUID) -> UUID:
        try:
            self._own(self.ledger.get_binding(binding_id).account_id)
        except AccountNotFound:
            raise NotFound(f"card binding {binding_id} not found") from None
        return binding_id

    def _own_payment(self, payment_id: UUID) -> Any:
        payment = self.ledger.get_payment(payment_id)
        try:
            self._own(payment.account_id)
        except AccountNotFound:
            raise NotFound(f"payment {payment_id} not found") from None
        return payment

    def bind(self, body: models.BindingIn, key: str) -> Any:
        return self.services.payments.bind_card(
            self._own(body.account), body.bank, body.holder_name, body.id_number, body.card_number, body.phone,
            self._key(key),
        )

    def binding(self, binding_id: UUID) -> Any:
        return BindingView.of(self.ledger.get_binding(self._own_binding(binding_id)))

    def unbind(self, binding_id: UUID) -> Any:
        return self.ledger.unbind_card(self._own_binding(binding_id))

    def recharge(self, body: models.RechargeIn, key: str) -> Any:
        return self.services.payments.recharge(
            self._own(body.account), body.amount, body.currency, body.method, self._key(key),
            binding_id=body.binding_id, bank=body.bank,
        )

    def confirm(self, recharge_id: UUID, body: models.ConfirmIn, key: str) -> Any:
        self._own_payment(recharge_id)
        return self.ledger.idempotent(
            self._key(key), "confirm-recharge", ids.fingerprint(recharge_id=recharge_id, sms_code=body.sms_code),
            lambda: self.services.payments.confirm(recharge_id, body.sms_code),
            lambda states: PaymentView.of(*states[0]), target=lambda a: a.id == recharge_id,
            refer=lambda view: [view.id],
        )

    def withdraw(self, body: models.WithdrawalIn, key: str) -> Any:
        return self.services.payments.withdraw(
            self._own(body.account), body.amount, body.currency, body.binding_id, self._key(key))

    def payment(self, payment_id: UUID, kind: str) -> Any:
        payment = self._own_payment(payment_id)
        if type(payment).__name__.lower() != kind:
            raise NotFound(f"{kind} {payment_id} not found")
        return PaymentView.of(payment, self.ledger.latest_position(payment))

    def sweep(self, older_than_s: int, key: str) -> list[Any]:
        def run() -> list[Any]:
            pending = [UUID(row["id"]) for row in open_payments(self.views, self.ledger.clock(), timedelta(seconds=older_than_s))]
            return self.services.payments.sweep(pending)

        # Many saves, none of them the sweep's own: its answer is recorded after it (a sweep run
        # twice settles nothing twice, so a crash in between costs nothing but a second look).
        return self.ledger.idempotent(
            self._key(key), "sweep-payments", ids.fingerprint(older_than_s=older_than_s), run,
            lambda states: [PaymentView.of(payment, position) for payment, position in states],
            refer=lambda views: [view.id for view in views],
        )

    # -- reconciliation --------------------------------------------------------------------------

    def import_statement(self, body: models.ImportIn, key: str) -> Reconciliation:
        data = body.file.encode()
        request = ids.fingerprint(channel=body.channel, date=body.date, currency=body.currency,
                                  file=hashlib.sha256(data).hexdigest())
        return self.ledger.idempotent(
            self._key(key), "import-statement", request,
            lambda: self.services.reconciler.import_statement(
                body.channel, body.date, io.BytesIO(data), str(self.who.key_id), body.currency),
            self._reconciliation, target=lambda a: isinstance(a, Reconciliation), refer=lambda r: [r.id],
        )

    def fetch_statement(self, body: models.FetchIn, key: str) -> Reconciliation:
        """The channel's statement from its gateway, imported as if uploaded; a retry answers with
        the first import, whatever the channel's file says by then."""
        return self.ledger.idempotent(
            self._key(key), "fetch-statement", ids.fingerprint(**body.model_dump(mode="json")),
            lambda: self.services.reconciler.fetch(body.channel, body.date, str(self.who.key_id), body.currency),
            self._reconciliation, target=lambda a: isinstance(a, Reconciliation), refer=lambda r: [r.id],
        )

    def resolve(self, reconciliation_id: UUID, seq: int, body: models.ResolveIn, key: str) -> Reconciliation:
        self.ledger.get_reconciliation(reconciliation_id)
        return self.ledger.idempotent(
            self._key(key), "resolve-difference",
            ids.fingerprint(reconciliation_id=reconciliation_id, seq=seq, **body.model_dump(mode="json")),
            lambda: self.services.reconciler.resolve(reconciliation_id, seq, body.action, str(self.who.key_id), body.reason),
            self._reconciliation, target=lambda a: a.id == reconciliation_id, refer=lambda r: [r.id],
        )

    def close_reconciliation(self, reconciliation_id: UUID, key: str) -> Reconciliation:
        return self.ledger.idempotent(
            self._key(key), "close-reconciliation", ids.fingerprint(reconciliation_id=reconciliation_id),
            lambda: self.services.reconciler.close(reconciliation_id, str(self.who.key_id)),
            self._reconciliation, target=lambda a: a.id == reconciliation_id, refer=lambda r: [r.id],
        )

    def resolution(self, reconciliation: Reconciliation, seq: int) -> dict[str, Any] | None:
        """The resolution of difference `seq`, each transfer it posted with its postings."""
        done = reconciliation.resolutions.get(str(seq))
        if done is None:
            return None
        transfers = [self.ledger.get_transfer(UUID(str(t))) for t in done["transfer_ids"]]
        return {"seq": seq, "action": done["action"], "by": done["by"], "reason": done["reason"],
                "waited": done.get("waited"),
                "transfers": [{"id": t.id, "kind": t.kind, "currency": t.currency, "amount": t.amount,
                               "postings": t.postings, "memo": t.memo} for t in transfers]}

    def overdue(self, reconciliation: Reconciliation, min_position: int | None = None) -> list[dict[str, Any]]:
        self.services.wait_for(min_position)
        return self.services.reconciler.overdue(reconciliation.channel, reconciliation.currency)

    def reconciliations(self, *, channel: str | None, currency: str | None, status: str | None, start: Any, end: Any,
                        limit: int, cursor: str | None, min_position: int | None) -> dict[str, Any]:
        self.services.wait_for(min_position)
        after = None
        if cursor is not None:
            day, last = decode_cursor(cursor, 2)
            after = (day, last)
        items = reconciliation_list(self.views, channel=channel, currency=currency, status=status, start=start,
                                    end=end, after=after, limit=limit + 1)
        following = encode_cursor(items[limit - 1]["day"], items[limit - 1]["id"]) if len(items) > limit else None
        return {"items": items[:limit], "next_cursor": following}

    @staticmethod
    def _reconciliation(states: list[tuple[Any, int | None]]) -> Reconciliation:
        return states[0][0]


STATEMENT_CSV = ("position", "seq", "created_at", "transfer_id", "kind", "side", "amount", "currency", "balance_after",
                 "counterparty_id", "memo")
TRIAL_BALANCE_CSV = ("line", *ACCOUNT_FIELDS, "debit", "credit")
CSV_CHUNK_CHARS = 64 * 1024
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_lines(columns: Iterable[str], rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """CSV text (a header, then a line per row) in chunks of about 64 KiB, as the rows stream in.
    A text cell a spreadsheet would take for a formula gets a leading `'` (numbers are left alone)."""
    columns = tuple(columns)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
        if out.tell() >= CSV_CHUNK_CHARS:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def acting(permission: Permission):
    """A route's dependency: the caller, allowed `permission`, as a Caller."""

    def make(services: ServicesDep, who: Principal = allowed(permission)) -> Caller:  # noqa: B008 - FastAPI's Depends
        return Caller(services, who)

    return Depends(make)
