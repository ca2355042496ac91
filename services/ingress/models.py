"""What the HTTP API returns, and the patterns its path parameters must match."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

# As schemas.items (ItemId, Slug): a path parameter is checked before any Redis key is built from it.
ITEM_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
AGENCY_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class AcceptedOut(BaseModel):
    id: str = Field(description="The item id: the idempotency key fan-out and the ledger use.")
    duplicate: bool = Field(default=False, description="True when nothing new was published (a replay).")


class DeliveryOut(BaseModel):
    delivery_id: str
    agency: str
    platform: str
    action: str
    state: str = Field(
        description="scheduled, sending, posted or dead; an amplification held for its partner's "
        "approval: awaiting_approval, approved, declined or expired; an intent: requested"
    )
    post_id: str | None = None
    url: str | None = None
    reason: str | None = None
    attempts: int = 0
    decided_by: str | None = Field(
        default=None, description="Who approved or declined it (held amplifications)."
    )
    decided_at: str | None = Field(default=None, description="When that was decided (ISO 8601).")


class ItemStatusOut(BaseModel):
    id: str
    agency: str
    received_ms: int | None = None
    item: dict[str, Any] | None = None
    deliveries: list[DeliveryOut] = Field(description="The item's own posts, one per account.")
    amplifications: list[DeliveryOut] = Field(description="Partners' retweets and forwards.")


class ErrorOut(BaseModel):
    """Every error, whatever raised it: one human-readable sentence."""

    detail: str


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 422)
}
