"""What `GET /v1/items/{id}` shows: an item of the caller's agency, its posts and amplifications."""

from __future__ import annotations

from typing import Any

from services.ingress.deps import ApiState
from services.ingress.models import DeliveryOut, ItemStatusOut
from services.ops.status import item_deliveries, recorded_item_deliveries
from services.runtime import epoch_ms


async def item_status(state: ApiState, agency: str, item_id: str) -> ItemStatusOut | None:
    """None unless `agency` owns `item_id` (so another agency's item looks missing). The records
    database first; Redis for an item not recorded yet, and for work still in flight."""
    records, redis, keys = state.runtime.records, state.runtime.redis, state.runtime.keys
    recorded = await records.item(item_id) if records is not None else None
    item: dict[str, Any] | None
    received: int | None
    if recorded is not None:
        if recorded.agency != agency:
            return None
        item, received = recorded.document, epoch_ms(recorded.received_at)
    else:
        if await state.ingest.owner(item_id) != agency:
            return None
        item, received = await state.ingest.item_of(item_id)
    found = (
        await recorded_item_deliveries(redis, keys, records, item_id)
        if records is not None
        else await item_deliveries(redis, keys, item_id)
    )
    rows = [DeliveryOut(**{k: v for k, v in row.__dict__.items() if k != "item_id"}) for row in found]
    own = [row for row in rows if row.agency == agency and row.action == "publish"]
    return ItemStatusOut(
        id=item_id,
        agency=agency,
        received_ms=received,
        item=item,
        deliveries=own,
        amplifications=[row for row in rows if row not in own],
    )
