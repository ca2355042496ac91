"""What `GET /v1/items/{id}` shows: an item of the caller's agency, its posts and amplifications."""

from __future__ import annotations

from services.ingress.deps import ApiState
from services.ingress.models import DeliveryOut, ItemStatusOut
from services.ops.status import item_deliveries


async def item_status(state: ApiState, agency: str, item_id: str) -> ItemStatusOut | None:
    """None unless `agency` owns `item_id` (so another agency's item looks missing)."""
    if await state.ingest.owner(item_id) != agency:
        return None
    item, received = await state.ingest.item_of(item_id)
    rows = [
        DeliveryOut(**{k: v for k, v in row.__dict__.items() if k != "item_id"})
        for row in await item_deliveries(state.runtime.redis, state.runtime.keys, item_id)
    ]
    own = [row for row in rows if row.agency == agency and row.action == "publish"]
    return ItemStatusOut(
        id=item_id,
        agency=agency,
        received_ms=received,
        item=item,
        deliveries=own,
        amplifications=[row for row in rows if row not in own],
    )
