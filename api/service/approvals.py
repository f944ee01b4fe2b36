"""Four-eyes approval: the gate every held command passes (`submit`), and the approvals' routes' calls.

A gated service method builds its command (a frozen dataclass) and hands it to `submit`:
if the policy (`Settings.approval_policy`) holds it, an Approval is recorded (its id from the
command's idempotency key) and `PendingApproval` answers `202 {approval_id, status}`; nothing
else is written. Otherwise it runs at once, by `run_held`, as it did before the gate.

On approval by another key with the permission the command needs (never the maker's key, nor
another key of the maker's holder: `403 four-eyes`), the command runs through `run_held` with
its original idempotency key and actor, and the approval records what it answered, or its
refusal as problem details. Two concurrent approvals: one saves `Approved` (optimistic
concurrency on the approval) and runs the command; the other is `409 approval-not-pending`.
A run that was cut short (the process died between `Approved` and its outcome) is run again
by the same approver's retry, and the command's own idempotency key answers if it had run.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from fastapi.encoders import jsonable_encoder

from ledger import commands as c
from ledger.approval_commands import ResolveDifference
from ledger.approval_views import ApprovalView
from ledger.domain import ids
from ledger.domain.access import Permission
from ledger.domain.channels import Catalog
from ledger.domain.errors import LedgerError, ValidationError
from ledger.domain.money import exponent
from ledger.domain.reconciliation import Reconciliation
from projections.approvals import list_approvals

from ..deps import Services
from ..problems import ApiProblem, forbidden
from ..settings import ApprovalPolicy
from .caller import Caller

PERMISSIONS: dict[type, Permission] = {
    c.Adjust: Permission.ADJUSTMENTS, ResolveDifference: Permission.RECONCILE,
    c.SetChannelStatus: Permission.CHANNELS_MANAGE, c.SetRoute: Permission.CHANNELS_MANAGE,
    c.ConfigureProduct: Permission.CHANNELS_MANAGE, c.GrantRole: Permission.KEYS_MANAGE,
}


class PendingApproval(Exception):
    """The command waits for approval: the API answers 202 with the approval."""

    def __init__(self, approval: ApprovalView) -> None:
        super().__init__(f"approval {approval.id} {approval.status}")
        self.approval = approval


def held_kind(policy: ApprovalPolicy, command: Any, catalog: Catalog | None = None) -> str | None:
    """What the policy calls `command` if it must wait for approval; None if it may run at once."""
    match command:
        case c.Adjust() if policy.adjustment_above is not None:
            threshold_minor = policy.adjustment_above * Decimal(10) ** exponent(command.currency)  # exact
            return "adjustment" if command.amount > threshold_minor else None
        case ResolveDifference() if command.action in policy.reconciliation_actions:
            return command.action
        case c.SetChannelStatus() if policy.channel_close and command.status == "closed":
            return "channel_close"
        case c.SetRoute() if policy.route_change:
            return "route_change"
        case c.ConfigureProduct() if policy.limit_change:
            return "limit_change" if _limits_change(_current_banks(catalog, command), _bank_settings(command.banks)) else None
        case c.GrantRole() if policy.role_grant:
            return "role_grant"
    return None


def _bank_settings(banks: dict[str, dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    return {bank: (bool(s.get("enabled", True)), s.get("limit_per_transaction"), s.get("limit_per_day"))
            for bank, s in banks.items()}


UNLIMITED = (True, None, None)  # a bank the product does not name: switched on, no limits


def _limits_change(before: dict[str, tuple[Any, ...]], after: dict[str, tuple[Any, ...]]) -> bool:
    return any(before.get(bank, UNLIMITED) != after.get(bank, UNLIMITED) for bank in before.keys() | after.keys())


def _current_banks(catalog: Catalog | None, command: c.ConfigureProduct) -> dict[str, tuple[Any, ...]]:
    channel = (catalog.channels if catalog is not None else {}).get(command.code) or {}
    product = channel.get("products", {}).get(command.method) or {}
    return _bank_settings(product.get("banks", {}))


def submit(caller: Caller, command: Any) -> Any:
    """Run `command` now, or, if the policy holds it, record an approval and raise PendingApproval."""
    policy = caller.services.settings.approval_policy
    catalog = caller.ledger.catalog() if isinstance(command, c.ConfigureProduct) and policy.limit_change else None
    kind = held_kind(policy, command, catalog)
    if kind is None:
        return run_held(caller.services, command)
    expires_at = caller.ledger.clock() + timedelta(seconds=policy.expires_after_s)
    approval = caller.ledger.request_approval(
        command.idempotency_key, kind, PERMISSIONS[type(command)].value, command, caller.by,
        caller.ledger.key_holder(caller.who.key_id), expires_at)
    raise PendingApproval(approval)


def run_held(services: Services, command: Any) -> Any:
    """Run a command as its service method does (the gate passed, or an approval given)."""
    if isinstance(command, ResolveDifference):
        return services.ledger.idempotent(
            command.idempotency_key, "resolve-difference",
            ids.fingerprint(reconciliation_id=command.reconciliation_id, seq=command.seq, action=command.action,
                            reason=command.reason),
            lambda: services.reconciler.resolve(command.reconciliation_id, command.seq, command.action, command.by,
                                                command.reason),
            lambda states: states[0][0], target=lambda a: a.id == command.reconciliation_id, refer=lambda r: [r.id],
        )
    return services.ledger.execute(command)


def outcome(services: Services, command: Any, result: Any) -> dict[str, Any]:
    """What an approval records of its command's answer: enough to find what it made or changed."""
    if isinstance(result, Catalog | Reconciliation):
        shown = {"id": result.id, "version": result.version, "position": services.ledger.latest_position(result)}
        if isinstance(command, ResolveDifference) and isinstance(result, Reconciliation):
            shown["resolution"] = result.resolutions.get(str(command.seq))
        return jsonable_encoder(shown)
    return jsonable_encoder(vars(result))  # a ledger view: a transfer, an API key


def problem_of(error: LedgerError | ApiProblem) -> dict[str, Any]:
    code = error.code
    return {"type": code, "title": code.replace("-", " ").capitalize(), "status": error.status, "detail": error.detail}


class Approvals(Caller):
    """The approvals routes' calls (any staff key reads; deciding takes the held command's permission)."""

    def _staff(self) -> None:
        if self.who.business_id is not None:
            raise forbidden("approvals are for staff keys")

    def approvals(self, status: str | None, kind: str | None, limit: int, cursor: str | None,
                  min_position: int | None) -> dict[str, Any]:
        self._staff()
        self.services.wait_for(min_position)
        rows, following = list_approvals(self.views, now=self.ledger.clock(), status=status, kind=kind, limit=limit,
                                         cursor=cursor)
        return {"items": [self.ledger.get_approval(UUID(row["id"])) for row in rows], "next_cursor": following}

    def approval(self, approval_id: UUID) -> ApprovalView:
        self._staff()
        return self.ledger.get_approval(approval_id)

    def _may_decide(self, approval_id: UUID) -> str:
        """The deciding key's holder, once it is known to have the permission the held command needs."""
        needed = Permission(self.approval(approval_id).permission)
        if not self.who.can(needed):
            raise forbidden(f"the {self.who.role.value} role may not decide this approval (needs {needed.value})")
        return self.ledger.key_holder(self.who.key_id)

    def approve(self, approval_id: UUID, key: str) -> ApprovalView:
        return self.ledger.idempotent(self._key(key), "approve", ids.fingerprint(approval_id=approval_id),
                                      lambda: self._approve(approval_id), self._replayed, refer=lambda view: [view.id])

    def reject(self, approval_id: UUID, reason: str, key: str) -> ApprovalView:
        return self.ledger.idempotent(self._key(key), "reject", ids.fingerprint(approval_id=approval_id, reason=reason),
                                      lambda: self._reject(approval_id, reason), self._replayed,
                                      refer=lambda view: [view.id])

    def _replayed(self, states: list[tuple[Any, int | None]]) -> ApprovalView:
        return ApprovalView.of(states[0][0], self.ledger.clock(), states[0][1])

    def _approve(self, approval_id: UUID) -> ApprovalView:
        holder = self._may_decide(approval_id)
        view, to_run = self.ledger.approve(approval_id, self.by, holder)
        if not to_run:
            return view
        command = self.ledger.held_command(approval_id)
        try:
            result, problem = outcome(self.services, command, run_held(self.services, command)), None
        except (LedgerError, ApiProblem) as error:
            result, problem = None, problem_of(error)
        return self.ledger.record_execution(approval_id, result, problem, self.by)

    def _reject(self, approval_id: UUID, reason: str) -> ApprovalView:
        holder = self._may_decide(approval_id)
        if not reason.strip():
            raise ValidationError("reason is required")
        return self.ledger.reject(approval_id, self.by, holder, reason)
