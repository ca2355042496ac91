"""The council's report through the real workers and Redis: approvals granted, declined and expired
counted as the approval records say; the report over HTTP for the council's token only; the council's
outcome notes written from the CLI and over HTTP, and shown in every format."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from redis.asyncio import Redis
from typer.testing import CliRunner

from services.app import WORKER_SERVICES, build_runtime
from services.cli import app as cli
from services.config import parse_network
from services.governance.approvals import ApprovalState
from services.governance.desk import ApprovalDesk
from services.ingress.tokens import token_sha256
from services.reach.report import build_report, print_table, to_json
from services.reach.report.html import render_html
from services.runtime import Runtime, Settings
from tests.support.api import api_client
from tests.support.harness import running, wait_idle
from tests.test_approvals_pipeline import APPROVE_PORTS, AskingMemory, network_document, posts, publish

COUNCIL_TOKEN = "hmz_council-test-token-0123456789abcdefghijklmnopqrstuv"
AGENCY_TOKEN = "hmz_roads-test-token-0123456789abcdefghijklmnopqrstuvwx"


def council_runtime(redis_url: str, prefix: str, policy: dict[str, Any]) -> Runtime:
    document = network_document(policy)
    document["council"] = {"api_token_sha256": token_sha256(COUNCIL_TOKEN)}
    document["agencies"]["khz-roads"]["ingest"] = {"api_token_sha256": token_sha256(AGENCY_TOKEN)}
    registry: dict[str, Any] = {"memory": AskingMemory}
    settings = Settings(prefix=prefix, claim_idle_ms=300, scheduler_interval_seconds=0.05, max_attempts=3)
    return build_runtime(parse_network(document, registry), redis_url, settings, registry)


async def test_approvals_granted_declined_and_expired_as_the_records_say(
    redis_url: str, prefix: str, redis: Redis
) -> None:
    AskingMemory.asked.clear()
    # khz-ports approves within ~1 s: one approval granted, one declined, one left to expire.
    policy = {
        "partners": {"khz-ports": {**APPROVE_PORTS["partners"]["khz-ports"], "approve_within_hours": 0.0004}}
    }
    runtime = council_runtime(redis_url, prefix, policy)
    desk = ApprovalDesk(runtime)
    async with running(runtime, WORKER_SERVICES) as workers:  # the API through its ASGI app
        for item_id in ("tw-a", "tw-b", "tw-c"):
            await publish(runtime, redis, item_id, campaign="transport-week")
        await wait_idle(workers)
        await desk.decide("tw-a.khz-ports", ApprovalState.APPROVED, "cli:council-test")
        await desk.decide("tw-b.khz-ports", ApprovalState.DECLINED, "cli:council-test")
        await asyncio.sleep(1.6)
        await desk.sweep()
        await wait_idle(workers)
    records = await desk.approvals.of_agency("khz-ports", None)
    states = Counter(a.state for a in records)
    assert states == {ApprovalState.APPROVED: 1, ApprovalState.DECLINED: 1, ApprovalState.EXPIRED: 1}

    report = await build_report(redis, runtime.keys)
    responsiveness = report.to_dict()["responsiveness"]
    assert responsiveness["approvals_granted"] == states[ApprovalState.APPROVED]
    assert responsiveness["approvals_declined"] == states[ApprovalState.DECLINED]
    assert responsiveness["approvals_expired"] == states[ApprovalState.EXPIRED]
    assert responsiveness["approvals_awaiting"] == 0
    # What the platform posted: rail forwarded all three, ports only the approved one.
    forwards = [handle for handle, action in posts(runtime) if action == "forward"]
    assert report.totals.amplifications == len(forwards) == 4
    assert responsiveness["amplified_items"] == 3
    assert responsiveness["first_amplification_seconds"] is not None
    assert responsiveness["first_amplification_seconds"] >= 0
    [campaign] = report.cycle.campaigns
    assert (campaign.period, campaign.items, campaign.amplifications) == ("transport-week", 3, 4)
    await runtime.aclose()
    await runtime.redis.aclose()


async def test_the_report_over_http_is_for_the_council_only_and_notes_are_shown(
    redis_url: str, prefix: str, redis: Redis
) -> None:
    AskingMemory.asked.clear()
    runtime = council_runtime(redis_url, prefix, {})
    async with running(runtime, WORKER_SERVICES) as workers:  # the API through its ASGI app
        await publish(runtime, redis, "tw-h", campaign="nowruz")
        await wait_idle(workers)
    async with api_client(runtime, max_body_bytes=32 * 1024) as http:
        nobody = await http.get("/v1/report")
        stranger = await http.get("/v1/report", headers={"Authorization": "Bearer hmz_nobody"})
        agency = await http.get("/v1/report", headers={"Authorization": f"Bearer {AGENCY_TOKEN}"})
        assert (nobody.status_code, stranger.status_code, agency.status_code) == (401, 401, 403)
        for refused in (nobody, stranger, agency):
            assert "khz-" not in refused.text and "tw-h" not in refused.text  # learns nothing
        refused_note = await http.put(
            "/v1/report/notes/nowruz",
            json={"text": "x"},
            headers={"Authorization": f"Bearer {AGENCY_TOKEN}"},
        )
        assert refused_note.status_code == 403

        council = {"Authorization": f"Bearer {COUNCIL_TOKEN}"}
        note = await http.put(
            "/v1/report/notes/nowruz", json={"text": "سفرهای نوروزی بی‌حادثه گذشت"}, headers=council
        )
        assert note.status_code == 200, note.text
        assert (
            await http.put("/v1/report/notes/nowruz", json={"text": "  "}, headers=council)
        ).status_code == 422

        as_json = await http.get("/v1/report", headers={**council, "Accept": "application/json"})
        assert as_json.status_code == 200 and as_json.headers["content-type"].startswith("application/json")
        document = as_json.json()
        assert document["totals"]["items"] == 1 and document["totals"]["amplifications"] == 2
        coverage = {a["agency"]: (a["channels"], a["coverage"]) for a in document["agencies"]}
        assert coverage["khz-roads"] == (["memory"], 1.0)  # its one channel carried its item
        assert document["outcomes"][0]["text"] == "سفرهای نوروزی بی‌حادثه گذشت"
        assert document["campaigns"][0]["note"] == "سفرهای نوروزی بی‌حادثه گذشت"
        as_html = await http.get("/v1/report", headers={**council, "Accept": "text/html"})
        assert as_html.headers["content-type"].startswith("text/html")
        assert 'dir="rtl"' in as_html.text and "سفرهای نوروزی بی‌حادثه گذشت" in as_html.text
        assert "اداره khz-rail" in as_html.text  # agencies by their names
        bad = await http.get("/v1/report?since=yesterday", headers=council)
        assert bad.status_code == 400 and "1404-01-05" in bad.json()["detail"]

    # The CLI writes a note the same way; the latest replaces the earlier one.
    result = await asyncio.to_thread(
        CliRunner().invoke,
        cli,
        [
            "report",
            "note",
            "nowruz",
            "بازنشر همکاران دو برابر شد",
            "--redis-url",
            redis_url,
            "--prefix",
            prefix,
        ],
    )
    assert result.exit_code == 0, result.output
    report = await build_report(redis, runtime.keys)
    assert [o["text"] for o in report.cycle.outcomes] == ["بازنشر همکاران دو برابر شد"]
    assert "بازنشر همکاران دو برابر شد" in render_html(report) and "بازنشر همکاران دو برابر شد" in to_json(
        report
    )
    await runtime.aclose()
    await runtime.redis.aclose()


def test_token_new_council_prints_the_top_level_section() -> None:
    result = CliRunner().invoke(cli, ["token", "new", "--council"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    token = next(line for line in lines if line.startswith("hmz_"))
    assert f'council:\n  api_token_sha256: "{token_sha256(token)}"' in result.output
    assert CliRunner().invoke(cli, ["token", "new"]).exit_code == 2
    assert CliRunner().invoke(cli, ["token", "new", "khz-roads", "--council"]).exit_code == 2


def test_print_table_names_agencies_not_slugs() -> None:
    from rich.console import Console

    from services.reach.report import Rows, compute
    from services.reach.report.model import ItemRow, PostRow

    rows = Rows(
        items=(
            ItemRow(
                "a", "khz-roads", None, "t", None, (PostRow("d", "khz-roads", "khz-roads", "x", "publish"),)
            ),
        )
    )
    console = Console(record=True, width=240)
    print_table(compute(rows, agency_names={"khz-roads": "اداره راه"}), console)
    text = console.export_text()
    assert "اداره راه" in text and "khz-roads" not in text
