"""Handlers: request, approve, reject an approval, and keep its command's outcome.

An approval's id comes from its held command's idempotency key: the maker's retry finds the
same approval (another command under the key is `409 idempotency-conflict`). Deciding is an
event saved with optimistic concurrency on the approval: of two concurrent approvals one
saves `Approved`, the other retries on fresh state and is refused (`approval-not-pending`).
The caller (api/service/approvals.py) runs the held command after `Approved` and records its
outcome with `record_execution`, once.
"""

from __future__ import annotations

from uuid import UUID

from ..approval_commands import ApproveApproval, RecordExecution, RejectApproval, RequestApproval, encode_command
from ..approval_views import ApprovalView
from ..domain import ids
from ..domain.approvals import Approval, ApprovalExpired, ApprovalNotFound, ApprovalStatus
from ..domain.errors import IdempotencyConflict
from ..domain.inputs import NAME_LENGTH_MAX, TEXT_LENGTH_MAX, check_key, check_text
from ..unit_of_work import Attempt, UnitOfWork


def approval_id(idempotency_key: str) -> UUID:
    return ids.command_id("approval", idempotency_key)


def request_approval(uow: UnitOfWork, cmd: RequestApproval) -> ApprovalView:
    check_key(cmd.idempotency_key)
    check_text(cmd.requested_by_holder, "holder", required=True, length_max=NAME_LENGTH_MAX)
    held = encode_command(cmd.command)
    request = ids.fingerprint(kind=cmd.kind, command=held)
    the_id = approval_id(cmd.idempotency_key)

    def decide(attempt: Attempt) -> ApprovalView:
        existing = attempt.find(Approval, the_id)
        if existing is not None:
            if existing.request_hash != request:
                raise IdempotencyConflict("idempotency key was already used for another request with different arguments")
            existing = uow.fresh(existing)
            return ApprovalView.of(existing, uow.clock(), uow.position(existing.id, 1))
        approval = Approval(id=the_id, kind=cmd.kind, permission=cmd.permission, command=held, request_hash=request,
                            requested_by=cmd.requested_by, requested_by_holder=cmd.requested_by_holder,
                            expires_at=cmd.expires_at)
        return ApprovalView.of(approval, uow.clock(), attempt.commit(approval))

    return uow.run(decide)


def approval(uow: UnitOfWork, the_id: UUID) -> Approval:
    return uow.fresh(uow.get(Approval, the_id, ApprovalNotFound, "approval"))


def approve(uow: UnitOfWork, cmd: ApproveApproval) -> tuple[ApprovalView, bool]:
    """The approval, approved by `cmd.by`, and whether its command is still to run (False: it ran;
    True also when this approver approved it before and its run was not recorded: run it again,
    its own idempotency key answers if it had run). Past its time: `Expired` is recorded, then
    ApprovalExpired."""

    def decide(attempt: Attempt) -> tuple[ApprovalView, bool]:
        found = uow.fresh(attempt.get(Approval, cmd.approval_id, ApprovalNotFound, "approval"))
        now = uow.clock()
        found.check_decider(cmd.by, cmd.holder)
        if found.expire(cmd.by, now):
            return ApprovalView.of(found, now, attempt.commit(found)), False
        if found.decided_by == cmd.by and found.status in (ApprovalStatus.APPROVED, ApprovalStatus.EXECUTED,
                                                          ApprovalStatus.FAILED):
            return ApprovalView.of(found, now), found.status == ApprovalStatus.APPROVED  # this approver's retry
        found.approve(cmd.by, cmd.holder)
        return ApprovalView.of(found, now, attempt.commit(found)), True

    view, to_run = uow.run(decide)
    if view.status == ApprovalStatus.EXPIRED:
        raise ApprovalExpired(f"approval {view.id} expired at {view.expires_at.isoformat()}")
    return view, to_run


def reject(uow: UnitOfWork, cmd: RejectApproval) -> ApprovalView:
    check_text(cmd.reason, "reason", required=True, length_max=TEXT_LENGTH_MAX)

    def decide(attempt: Attempt) -> ApprovalView:
        found = uow.fresh(attempt.get(Approval, cmd.approval_id, ApprovalNotFound, "approval"))
        now = uow.clock()
        found.check_decider(cmd.by, cmd.holder)
        if found.expire(cmd.by, now):
            return ApprovalView.of(found, now, attempt.commit(found))
        if found.status == ApprovalStatus.REJECTED and found.decided_by == cmd.by and found.reason == cmd.reason:
            return ApprovalView.of(found, now)  # this rejecter's retry
        found.reject(cmd.by, cmd.holder, cmd.reason)
        return ApprovalView.of(found, now, attempt.commit(found))

    view = uow.run(decide)
    if view.status == ApprovalStatus.EXPIRED:
        raise ApprovalExpired(f"approval {view.id} expired at {view.expires_at.isoformat()}")
    return view


def record_execution(uow: UnitOfWork, cmd: RecordExecution) -> ApprovalView:
    def decide(attempt: Attempt) -> ApprovalView:
        found = uow.fresh(attempt.get(Approval, cmd.approval_id, ApprovalNotFound, "approval"))
        now = uow.clock()
        if not found.record_execution(cmd.result, cmd.problem, cmd.by):
            return ApprovalView.of(found, now)  # recorded by a concurrent run of the same approval
        return ApprovalView.of(found, now, attempt.commit(found))

    return uow.run(decide)
