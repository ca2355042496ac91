"""HTTP for approvals: an agency lists and decides the amplifications waiting for *its* approval.

The tenant is always the bearer token's agency: another agency's approvals are answered 404, as if
they did not exist, so nothing is learnt about other tenants.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, Field

from services.governance.approvals import STATE_FILTERS, Approval, ApprovalState
from services.governance.desk import ApprovalDesk
from services.ingress.deps import Agency, State
from services.ingress.models import ERRORS

router = APIRouter(tags=["approvals"])
ApprovalId = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,200}$", description="<item id>.<partner>")
]


class ApproverOut(BaseModel):
    platform: str
    chat_id: str


class ApprovalOut(BaseModel):
    id: str = Field(description="<item id>.<partner>")
    item_id: str
    partner: str = Field(description="The amplifying agency: the token's agency.")
    origin_agency: str
    network: str
    platforms: list[str]
    state: str = Field(description="awaiting_approval, approved, declined or expired")
    approver: ApproverOut
    requested_at: str
    expires_at: str
    decided_by: str | None = None
    decided_at: str | None = None


class DecisionOut(ApprovalOut):
    changed: bool = Field(description="False when this decision had already been made.")


def _out(approval: Approval) -> ApprovalOut:
    return ApprovalOut.model_validate(approval.as_dict())


@router.get("/v1/amplifications", responses=ERRORS, summary="The token's agency's approvals")
async def list_amplifications(
    state: State,
    agency: Agency,
    filter_state: Annotated[
        Literal["pending", "awaiting_approval", "approved", "declined", "expired", "all"],
        Query(alias="state", description="pending (= awaiting_approval), approved, declined, expired or all"),
    ] = "pending",
) -> list[ApprovalOut]:
    desk = ApprovalDesk(state.runtime)
    wanted = None if filter_state == "all" else STATE_FILTERS[filter_state]
    return [_out(a) for a in await desk.approvals.of_agency(agency, wanted)]


async def _decide(state: State, agency: str, approval_id: str, verdict: ApprovalState) -> DecisionOut:
    desk = ApprovalDesk(state.runtime)
    approval = await desk.approvals.get(approval_id)
    if approval is None or approval.partner != agency:
        raise HTTPException(404, "no such amplification awaiting this agency's approval")
    decision = await desk.decide(approval_id, verdict, by=f"http:{agency}")
    final = decision.approval or approval
    if not decision.changed and final.state is not verdict:
        raise HTTPException(409, f"already {final.state.value} by {final.decided_by} at {final.decided_at}")
    return DecisionOut(**_out(final).model_dump(), changed=decision.changed)


@router.post(
    "/v1/amplifications/{approval_id}/approve", responses=ERRORS, summary="Approve: it is scheduled at once"
)
async def approve(approval_id: ApprovalId, state: State, agency: Agency) -> DecisionOut:
    return await _decide(state, agency, approval_id, ApprovalState.APPROVED)


@router.post(
    "/v1/amplifications/{approval_id}/decline", responses=ERRORS, summary="Decline: nothing is posted"
)
async def decline(approval_id: ApprovalId, state: State, agency: Agency) -> DecisionOut:
    return await _decide(state, agency, approval_id, ApprovalState.DECLINED)
