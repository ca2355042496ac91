"""`hamafza dlq resolve` (issue 16): a person who checked an `unconfirmed` delivery settles it through
the ledger. `--posted <url or id>` records the post (partners then amplify it, nothing is re-sent);
`--absent` sends it once more. Both keep who resolved it and when."""

from __future__ import annotations

import asyncio
import getpass

from redis.asyncio import Redis
from typer.testing import CliRunner

from schemas import Action, DeadReason
from services.cli import app
from services.ops.dlq import DeadLetters
from tests.support.harness import running, wait_idle
from tests.test_dlq import ERRORS, make_runtime, memory, publish


async def resolve(redis_url: str, prefix: str, *args: str) -> tuple[int, str]:
    runner = CliRunner(env={"COLUMNS": "250"})
    result = await asyncio.to_thread(
        runner.invoke, app, ["dlq", "resolve", *args, "--redis-url", redis_url, "--prefix", prefix]
    )
    return result.exit_code, result.output


async def unconfirmed(redis_url: str, prefix: str, redis: Redis, item_id: str, amplify: bool) -> str:
    runtime = make_runtime(redis_url, prefix)
    memory(runtime).failures = [ERRORS["ambiguous"]()]
    await publish(runtime, redis, {"id": item_id, "agency": "khz-roads", "text": "گم", "amplify": amplify})
    [(letter_id, letter)] = await DeadLetters(redis, runtime.keys).select()
    assert letter.reason is DeadReason.UNCONFIRMED
    return letter_id


async def test_resolved_as_posted_its_partners_amplify_it_and_nothing_is_resent(
    redis_url: str, prefix: str, redis: Redis
) -> None:
    letter_id = await unconfirmed(redis_url, prefix, redis, "seen", amplify=True)
    code, output = await resolve(
        redis_url, prefix, letter_id, "--posted", "memory://khz-roads/4711", "--by", "operator-1"
    )
    assert code == 0, output
    runtime = make_runtime(redis_url, prefix)
    async with running(runtime) as workers:
        await wait_idle(workers)
    ledger = await redis.hgetall(runtime.keys.ledger("seen/khz-roads/memory/publish"))
    assert ledger[b"state"] == b"posted" and ledger[b"post_id"] == b"4711"
    assert ledger[b"resolution"] == b"posted" and ledger[b"resolved_by"] == b"operator-1"
    assert int(ledger[b"resolved_ms"]) > 0
    posts = memory(runtime).posts
    assert sorted((handle, d.action) for handle, d in posts) == [
        ("khz-ports", Action.FORWARD),
        ("khz-rail", Action.FORWARD),
    ]
    assert {d.source.post_id for _, d in posts if d.source} == {"4711"}
    assert await DeadLetters(redis, runtime.keys).select() == []
    # resolving the same letter again finds nothing to do
    assert (await resolve(redis_url, prefix, letter_id, "--posted", "4711"))[0] == 1


async def test_resolved_as_absent_it_is_sent_once_more_and_the_who_is_the_os_user(
    redis_url: str, prefix: str, redis: Redis
) -> None:
    letter_id = await unconfirmed(redis_url, prefix, redis, "missing", amplify=False)
    code, output = await resolve(redis_url, prefix, letter_id, "--absent")
    assert code == 0, output
    runtime = make_runtime(redis_url, prefix)
    async with running(runtime) as workers:
        await wait_idle(workers)
    assert [d.id for _, d in memory(runtime).posts] == ["missing/khz-roads/memory/publish"]
    ledger = await redis.hgetall(runtime.keys.ledger("missing/khz-roads/memory/publish"))
    assert ledger[b"state"] == b"posted"
    assert ledger[b"resolution"] == b"absent" and ledger[b"resolved_by"] == getpass.getuser().encode()


async def test_only_unconfirmed_letters_resolve_and_exactly_one_way(
    redis_url: str, prefix: str, redis: Redis
) -> None:
    runtime = make_runtime(redis_url, prefix)
    await publish(runtime, redis, {"agency": "nobody", "text": "x"})
    [(letter_id, _)] = await DeadLetters(redis, runtime.keys).select()
    code, output = await resolve(redis_url, prefix, letter_id, "--absent")
    assert code == 1 and "unconfirmed" in output
    assert (await resolve(redis_url, prefix, letter_id))[0] == 2
    assert (await resolve(redis_url, prefix, letter_id, "--absent", "--posted", "1"))[0] == 2
