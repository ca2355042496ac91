"""The records database: migrations, the recorder's idempotent upserts, retention in Redis that
never opens a window for a double post, dead letters with who did what, and import-redis."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from redis.asyncio import Redis
from sqlalchemy import Connection
from typer.testing import CliRunner

from services.app import build_runtime
from services.cli import app
from services.config import parse_network
from services.ops.dlq import DeadLetters
from services.ops.status import recorded_item_deliveries
from services.pipeline.consumer import Entry
from services.records import database, rows
from services.records.importer import import_redis
from services.records.models import Base
from services.records.recorder import GROUP, Recorder
from services.records.repository import Records
from services.records.retention import sweep
from services.runtime import Runtime, Settings
from tests.support.harness import running, wait_for, wait_idle, xadd_fields
from tests.support.memory_platform import ERRORS, MemoryPlatform
from tests.test_pipeline import network_document

REGISTRY: dict[str, Any] = {"memory": MemoryPlatform}
PIPELINE = ["fanout", "deliver", "amplify", "scheduler"]


def make_runtime(redis_url: str, prefix: str, **overrides: Any) -> Runtime:
    settings = Settings(prefix=prefix, claim_idle_ms=300, backoff_base_seconds=0.02, backoff_cap_seconds=0.05,
                        scheduler_interval_seconds=0.05, max_attempts=2, **overrides)  # fmt: skip
    return build_runtime(parse_network(network_document(), REGISTRY), redis_url, settings, REGISTRY)


def memory(runtime: Runtime) -> MemoryPlatform:
    adapter = runtime.adapters["memory"]
    assert isinstance(adapter, MemoryPlatform)
    return adapter


async def wipe(redis: Redis, prefix: str) -> None:
    """What a Redis failure, or the retention, leaves: nothing under the prefix."""
    keys = [key async for key in redis.scan_iter(match=f"{prefix}:*", count=1000)]
    if keys:
        await redis.delete(*keys)


@pytest.fixture
async def runtime(redis_url: str, prefix: str, redis: Redis) -> AsyncIterator[Runtime]:
    built = make_runtime(redis_url, prefix)
    yield built
    await built.aclose()


async def test_the_migrations_make_exactly_the_models(records: Records) -> None:
    def differences(connection: Connection) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))

    async with records.engine.connect() as connection:
        assert await connection.run_sync(differences) == []
    assert await database.current_revision(records.engine) == database.head_revision()


async def test_posts_amplifications_and_dead_letters_are_recorded(
    runtime: Runtime, redis: Redis, records: Records
) -> None:
    async with running(runtime) as workers:
        await redis.xadd(runtime.keys.items, xadd_fields({"id": "n1", "agency": "khz-roads", "text": "خبر"}))
        await redis.xadd(runtime.keys.items, xadd_fields({"agency": "nobody", "text": "x"}))
        await wait_idle(workers)
    item = await records.item("n1")
    assert item is not None and item.agency == "khz-roads" and item.document["text"] == "خبر"
    rows = await records.item_deliveries("n1")
    assert {(row.agency, row.action, row.state) for row in rows} == {
        ("khz-roads", "publish", "posted"),
        ("khz-rail", "forward", "posted"),
        ("khz-ports", "forward", "posted"),
    }
    assert all(row.post_id and row.attempts == 1 for row in rows)
    [letter] = await records.dead_letters()
    assert letter.letter["reason"] == "unknown_agency" and letter.status == "open"


async def test_a_redelivered_entry_changes_nothing(runtime: Runtime, redis: Redis, records: Records) -> None:
    async with running(runtime) as workers:
        await redis.xadd(runtime.keys.items, xadd_fields({"id": "r1", "agency": "khz-roads", "text": "x"}))
        await wait_idle(workers)
    before = await records.item_deliveries("r1")
    entries: Any = await redis.xrange(runtime.keys.results)
    again = [Entry(runtime.keys.results, GROUP, i.decode(), dict(f), 2) for i, f in entries]
    recorder = Recorder(runtime, records)
    await recorder.handle_results(again)  # as the claimer would after a crash before the XACK
    await recorder.handle_results(list(reversed(again)))
    assert await records.item_deliveries("r1") == before
    assert (await records.counts())["deliveries"] == 3


async def test_finished_work_expires_and_record_streams_are_trimmed(
    redis_url: str, prefix: str, redis: Redis, records: Records
) -> None:
    runtime = make_runtime(redis_url, prefix, record_retention_days=1 / 86_400)  # one second
    async with running(runtime) as workers:
        await redis.xadd(runtime.keys.items, xadd_fields({"id": "t1", "agency": "khz-roads", "text": "x"}))
        await redis.xadd(runtime.keys.items, xadd_fields({"agency": "nobody", "text": "x"}))
        await wait_idle(workers)
        ttl = await redis.pttl(runtime.keys.ledger("t1/khz-roads/memory/publish"))
        assert 0 < ttl <= 1000
        await asyncio.sleep(1.1)
        await sweep(redis, runtime.keys, runtime.record_retention_ms, reach_window_ms=0)
        assert await redis.xlen(runtime.keys.results) == 0
        assert await redis.xlen(runtime.keys.dead) == 0
        assert await redis.zcard(runtime.keys.item_index) == 0
        assert not await redis.exists(runtime.keys.ledger("t1/khz-roads/memory/publish"))
        assert not await redis.exists(runtime.keys.item("t1"))
    await runtime.aclose()
    assert len(await records.item_deliveries("t1")) == 3  # the database keeps what Redis let go


async def test_nothing_is_trimmed_that_no_recorder_has_recorded(runtime: Runtime, redis: Redis) -> None:
    async with running(runtime, PIPELINE) as workers:
        await redis.xadd(runtime.keys.items, xadd_fields({"id": "k1", "agency": "khz-roads", "text": "x"}))
        await wait_idle(workers)
    await sweep(redis, runtime.keys, retention_ms=0, reach_window_ms=0)
    assert await redis.xlen(runtime.keys.results) == 3


async def test_a_redelivery_after_the_ledger_expired_is_not_posted_again(
    runtime: Runtime, redis: Redis, records: Records
) -> None:
    async with running(runtime) as workers:
        await redis.xadd(runtime.keys.items, xadd_fields({"id": "e1", "agency": "khz-roads", "text": "x"}))
        await wait_idle(workers)
    assert len(memory(runtime).posts) == 3
    await wipe(redis, runtime.keys.prefix)  # every ledger gone, as after the retention
    async with running(runtime) as workers:
        # The same item again: fan-out and amplification plan the same deliveries.
        await redis.xadd(runtime.keys.items, xadd_fields({"id": "e1", "agency": "khz-roads", "text": "x"}))
        await wait_idle(workers)
    assert len(memory(runtime).posts) == 3
    state: Any = await redis.hget(runtime.keys.ledger("e1/khz-roads/memory/publish"), "state")
    assert state == b"posted"  # restored from the records, for the retention again


async def test_without_an_answer_from_the_database_nothing_is_sent(runtime: Runtime, redis: Redis) -> None:
    assert runtime.records is not None
    async with running(runtime, PIPELINE):
        healthy = runtime.records.engine
        # The database goes away while the workers run: nothing listens on port 9.
        runtime.records.engine = database.make_engine("postgresql+asyncpg://postgres@127.0.0.1:9/none")
        await redis.xadd(runtime.keys.items, xadd_fields({"id": "d1", "agency": "khz-roads", "text": "x"}))
        await wait_for(lambda: _deferred(redis, runtime, "d1/khz-roads/memory/publish"), 10, "a deferral")
        assert memory(runtime).posts == []
        assert not await redis.exists(runtime.keys.ledger("d1/khz-roads/memory/publish"))  # not claimed
        await runtime.records.engine.dispose()
        runtime.records.engine = healthy  # it answers again: the delivery goes out, once
        await wait_for(
            lambda: _state_is(redis, runtime, "d1/khz-roads/memory/publish", b"posted"), 10, "post"
        )
    assert len(memory(runtime).posts) == 1


async def _deferred(redis: Redis, runtime: Runtime, delivery_id: str) -> bool:
    members: Any = await redis.zrange(runtime.keys.schedule, 0, -1)
    return any(delivery_id.encode() in member for member in members)


async def _state_is(redis: Redis, runtime: Runtime, delivery_id: str, state: bytes) -> bool:
    found: Any = await redis.hget(runtime.keys.ledger(delivery_id), "state")
    return bool(found == state)


def _cli(*args: str) -> Any:
    return CliRunner(env={"COLUMNS": "250"}).invoke(app, list(args))


async def test_replaying_an_old_letter_whose_delivery_is_posted_sends_nothing(
    redis_url: str, prefix: str, runtime: Runtime, redis: Redis, records: Records
) -> None:
    memory(runtime).failures = [ERRORS["retryable"](), ERRORS["retryable"]()]
    async with running(runtime) as workers:
        await redis.xadd(
            runtime.keys.items,
            xadd_fields({"id": "o1", "agency": "khz-roads", "text": "x", "amplify": False}),
        )
        await wait_idle(workers)
    [(letter_id, letter)] = await DeadLetters(redis, runtime.keys, records).select()
    copy = letter.model_dump_json()
    await DeadLetters(redis, runtime.keys, records, by="ops-1").replay([(letter_id, letter)])
    async with running(runtime) as workers:
        await wait_idle(workers)
    assert len(memory(runtime).posts) == 1
    # An old copy of the letter, recorded before Redis forgot everything (the retention, a failure).
    old_id = (await redis.xadd(runtime.keys.dead, {"data": copy})).decode()
    async with running(runtime) as workers:
        await wait_idle(workers)
    await wipe(redis, prefix)
    replayed = await asyncio.to_thread(
        _cli, "dlq", "replay", old_id, "--redis-url", redis_url, "--prefix", prefix, "--by", "ops-2"
    )
    assert replayed.exit_code == 0, replayed.output
    assert '"already_posted": 1' in replayed.output and "nothing was sent" in replayed.output
    async with running(runtime) as workers:
        await wait_idle(workers)
    assert len(memory(runtime).posts) == 1
    listed = await asyncio.to_thread(
        _cli, "dlq", "list", "--json", "--redis-url", redis_url, "--prefix", prefix
    )
    assert listed.output.strip() == ""  # nothing open
    everything = await asyncio.to_thread(
        _cli, "dlq", "list", "--all", "--json", "--redis-url", redis_url, "--prefix", prefix
    )
    handled = {row["id"]: row for row in map(json.loads, everything.output.splitlines())}
    assert handled[letter_id]["status"] == "replayed" and handled[letter_id]["handled_by"] == "ops-1"
    assert handled[letter_id]["outcome"] == "replayed"
    assert handled[old_id]["handled_by"] == "ops-2" and handled[old_id]["outcome"] == "already_posted"
    assert handled[old_id]["handled_at"]


async def test_status_and_purge_read_and_write_the_records(
    redis_url: str, prefix: str, runtime: Runtime, redis: Redis, records: Records
) -> None:
    async with running(runtime) as workers:
        await redis.xadd(runtime.keys.items, xadd_fields({"id": "s1", "agency": "khz-roads", "text": "x"}))
        await redis.xadd(runtime.keys.items, xadd_fields({"agency": "nobody", "text": "x"}))
        await wait_idle(workers)
    await wipe(redis, prefix)
    status = await asyncio.to_thread(
        _cli, "status", "s1", "--json", "--redis-url", redis_url, "--prefix", prefix
    )
    assert status.exit_code == 0, status.output
    assert status.output.count('"posted"') == 3
    assert len(await recorded_item_deliveries(redis, runtime.keys, records, "s1")) == 3
    purged = await asyncio.to_thread(
        _cli, "dlq", "purge", "--all", "--by", "ops-3", "--redis-url", redis_url, "--prefix", prefix
    )
    assert "purged 1" in purged.output
    [row] = await records.dead_letters(handled=True)
    assert (row.status, row.handled_by) == ("purged", "ops-3")


async def test_import_redis_copies_an_existing_deployment_once(
    redis_url: str, prefix: str, runtime: Runtime, redis: Redis, records: Records
) -> None:
    async with running(runtime, PIPELINE) as workers:  # a deployment from before the recorder
        await redis.xadd(runtime.keys.items, xadd_fields({"id": "i1", "agency": "khz-roads", "text": "x"}))
        await redis.xadd(runtime.keys.items, xadd_fields({"agency": "nobody", "text": "x"}))
        await wait_idle(workers)
    assert await records.counts() == {"items": 0, "deliveries": 0, "reach_snapshots": 0, "dead_letters": 0}
    first = await asyncio.to_thread(_cli, "db", "import-redis", "--redis-url", redis_url, "--prefix", prefix)
    assert first.exit_code == 0, first.output
    counted = await records.counts()
    assert counted == {"items": 1, "deliveries": 3, "reach_snapshots": 0, "dead_letters": 1}
    rows = await records.item_deliveries("i1")
    await import_redis(redis, runtime.keys, records)  # again: nothing changes
    assert await records.counts() == counted and await records.item_deliveries("i1") == rows


async def test_run_refuses_an_unmigrated_database(database_url: str) -> None:
    from sqlalchemy.engine import make_url

    empty = make_url(database_url).set(database=f"hamafza_empty_{uuid.uuid4().hex[:8]}")
    url = empty.render_as_string(hide_password=False)
    await database.ensure_database(url)
    try:
        refused = await asyncio.to_thread(
            _cli, "run", "all", "--config", "deploy/network.example.yaml", "--database-url", url
        )
        assert refused.exit_code == 2
        assert "not migrated" in refused.output and "hamafza db upgrade" in refused.output
        upgraded = await asyncio.to_thread(_cli, "db", "upgrade", "--database-url", url)
        assert upgraded.exit_code == 0 and "none → " in upgraded.output
        engine = database.make_engine(url, pool_size=1)
        await database.check_migrated(engine)  # raises if not
        await engine.dispose()
    finally:
        await database.drop_database(url)


def test_the_embedded_default_serves_where_no_database_answers() -> None:
    """`make demo` and the tests where no PostgreSQL runs: pgserver's, on a Unix socket of its own."""
    from services.records.embedded import throwaway_database

    async def use(url: str) -> dict[str, int]:
        records = Records(database.make_engine(url, pool_size=1), "embedded")
        try:
            await database.check_migrated(records.engine)
            await records.add_items(
                [rows.item_row("embedded", "1-0", {b"data": b'{"agency": "khz-roads", "text": "x"}'})]  # type: ignore[list-item]
            )
            return await records.counts()
        finally:
            await records.aclose()

    with throwaway_database("postgresql+asyncpg://postgres@127.0.0.1:9/hamafza") as url:
        assert "127.0.0.1:9" not in url and "host=" in url  # a socket, not the silent port
        assert asyncio.run(use(url))["items"] == 1


async def test_approvals_are_recorded_with_who_decided_and_when(
    runtime: Runtime, redis: Redis, records: Records
) -> None:
    from datetime import UTC, datetime, timedelta

    from services.governance.approvals import Approval, Approvals, ApprovalState

    approvals = Approvals(redis, runtime.keys)
    asked = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    approval_id = Approval.make_id("a1", "khz-rail")
    approval = Approval(
        id=approval_id, item_id="a1", partner="khz-rail", origin_agency="khz-roads", network="khz-transport",
        approver_platform="memory", approver_chat="approvers", state=ApprovalState.AWAITING,
        requested_at=asked.isoformat(), expires_at=(asked + timedelta(hours=2)).isoformat(),
        code=Approval.make_code(approval_id),
    )  # fmt: skip
    await approvals.hold(approval, "a1/khz-rail/memory/forward", "memory", "{}")
    await approvals.decide(approval_id, ApprovalState.APPROVED, "rail-head", asked + timedelta(minutes=5))
    await approvals.decide(approval_id, ApprovalState.DECLINED, "late-press", asked + timedelta(minutes=6))
    async with running(runtime, ["recorder"]) as workers:
        await wait_idle(workers)
    [row] = await records.approvals("a1")
    assert (row["state"], row["decided_by"], row["partner"]) == ("approved", "rail-head", "khz-rail")
    assert row["decided_at"] == asked + timedelta(minutes=5) and row["platforms"] == "memory"


async def test_text_postgresql_cannot_hold_is_recorded_readably(
    runtime: Runtime, redis: Redis, records: Records
) -> None:
    async with running(runtime) as workers:
        raw = '{"id": "nul1", "agency": "khz-roads", "text": "a\\u0000b"}'  # a JSON escape
        await redis.xadd(runtime.keys.items, {"data": raw})
        await wait_idle(workers)
    item = await records.item("nul1")
    assert item is not None and item.document["text"] == "a\ufffdb" and item.agency == "khz-roads"
    assert len(await records.item_deliveries("nul1")) == 3


def test_plain_postgresql_urls_get_the_asyncpg_driver() -> None:
    assert database.async_url("postgresql://h@db:5432/x") == "postgresql+asyncpg://h@db:5432/x"
    assert database.async_url("postgres://h@db/x") == "postgresql+asyncpg://h@db/x"
    assert database.async_url("postgresql+asyncpg://h@db/x") == "postgresql+asyncpg://h@db/x"
