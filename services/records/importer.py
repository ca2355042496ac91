"""`hamafza db import-redis`: an existing deployment's Redis records go into the database, once.

Reads the items stream and item hashes, the results stream (with each ledger's attempts), the dead
letters and the reach snapshots and audiences, in batches, through the same upserts as the recorder:
running it twice, or beside a running recorder, changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from services.keys import Keys, ReachKeys
from services.records import rows
from services.records.repository import Records
from services.runtime import now

BATCH = 1000


async def _entries(redis: Redis, stream: str) -> AsyncIterator[list[tuple[str, dict[bytes, bytes]]]]:
    start = "-"
    while True:
        batch: Any = await redis.xrange(stream, min=start, count=BATCH)
        if not batch:
            return
        yield [(entry_id.decode(), dict(fields)) for entry_id, fields in batch]
        milliseconds, _, sequence = batch[-1][0].decode().partition("-")
        start = f"{milliseconds}-{int(sequence or 0) + 1}"


async def import_redis(redis: Redis, keys: Keys, records: Records) -> dict[str, int]:
    """Copy every record Redis holds under `keys.prefix`; returns how many entries were read, by kind."""
    prefix, counts = keys.prefix, {"items": 0, "results": 0, "dead_letters": 0, "reach_snapshots": 0}
    fanned_out: Any = await redis.zrange(keys.item_index, 0, -1)
    known = {member.decode() for member in fanned_out}
    # The stream has the whole item (links, tags, media); only fanned-out items count as items.
    async for batch in _entries(redis, keys.items):
        found = [rows.item_row(prefix, entry_id, fields) for entry_id, fields in batch]
        kept = rows.latest_by([row for row in found if row and row["id"] in known], ("id",), "entry_id")
        await records.add_items(kept)
    counts["items"] = await _item_hashes(redis, keys, records)
    async for batch in _entries(redis, keys.results):
        results = [result for _, fields in batch if (result := rows.result_of(fields)) is not None]
        async with redis.pipeline(transaction=False) as pipe:
            for result in results:
                pipe.hget(keys.ledger(result.delivery.id), "attempts")
            attempts: list[Any] = await pipe.execute()
        moment = now()
        deliveries = [
            rows.delivery_row(prefix, result, int(count or 0), moment)
            for result, count in zip(results, attempts, strict=True)
        ]
        await records.add_results(rows.latest_by(deliveries, ("id",), "finished_at"))
        counts["results"] += len(deliveries)
    async for batch in _entries(redis, keys.dead):
        letters = [
            row for entry_id, fields in batch if (row := rows.dead_letter_row(prefix, entry_id, fields))
        ]
        await records.add_dead_letters(letters)
        counts["dead_letters"] += len(letters)
    reach = ReachKeys(prefix)
    async for batch in _entries(redis, reach.snapshots):
        snapshots = [row for _, fields in batch if (row := rows.snapshot_row(prefix, fields))]
        await records.add_snapshots(
            rows.latest_by(snapshots, ("delivery_id", "taken_at", "offset_label"), "taken_at"),
            [
                {k: row[k] for k in ("prefix", "delivery_id", "taken_at", *rows.METRIC_COLUMNS)}
                for row in rows.latest_by(snapshots, ("delivery_id",), "taken_at")
            ],
            [],
        )
        counts["reach_snapshots"] += len(snapshots)
    await records.add_audiences(await _audiences(redis, reach, prefix))
    async for batch in _entries(redis, keys.approvals_events):
        approvals = [row for _, fields in batch if (row := rows.approval_row(prefix, fields))]
        await records.add_approvals(rows.latest_by(approvals, ("id",), "order"))
    return counts


async def _item_hashes(redis: Redis, keys: Keys, records: Records) -> int:
    """Items whose stream entries were trimmed still have their hash (agency, text, received time)."""
    indexed: Any = await redis.zrange(keys.item_index, 0, -1)
    ids = [member.decode() for member in indexed]
    total = 0
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        async with redis.pipeline(transaction=False) as pipe:
            for item_id in chunk:
                pipe.hgetall(keys.item(item_id))
            hashes: list[dict[bytes, bytes]] = await pipe.execute()
        found = [
            rows.item_hash_row(keys.prefix, item_id, {k.decode(): v.decode() for k, v in fields.items()})
            for item_id, fields in zip(chunk, hashes, strict=True)
        ]
        kept = [row for row in found if row]
        await records.add_items(kept)
        total += len(kept)
    return total


async def _audiences(redis: Redis, reach: ReachKeys, prefix: str) -> list[dict[str, Any]]:
    stored: Any = await redis.hgetall(reach.audience)
    found = []
    for account, value in stored.items():
        platform, _, agency = account.decode().partition("/")
        try:
            document = json.loads(value)
            found.append(
                {
                    "prefix": prefix,
                    "platform": platform,
                    "agency": agency,
                    "audience": int(document["audience"]),
                    "taken_at": datetime.fromisoformat(document["at"]),
                }
            )
        except (ValueError, KeyError, TypeError):
            continue
    return found
