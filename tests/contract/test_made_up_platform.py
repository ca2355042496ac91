"""A platform made up in the test package alone passes the contract suite, joins the demo network
and shows in the report by its Persian and English names, with no edit to services/ or schemas/."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import ClassVar

import pytest
import redis.asyncio as aioredis
from rich.console import Console

from sandbox import serve
from services.demo.run import _run
from services.keys import Keys
from services.reach.report import build_report
from services.reach.report.html import render_html
from services.reach.report.labels import platform_titles
from tests.contract.case import PlatformCase, find_case
from tests.contract.madeup import PLATFORM, kabootar_registered
from tests.contract.suite import AdapterContract


class TestMadeUpPlatform(AdapterContract):
    platforms: ClassVar[list[str]] = [PLATFORM]

    @pytest.fixture(autouse=True)
    def registered(self) -> Iterator[None]:
        with kabootar_registered():
            yield

    @pytest.fixture
    def case(self, platform: str) -> PlatformCase:
        return PlatformCase(
            platform=PLATFORM,
            accounts=(
                {"token": "SECRET-kabootar-token-irna", "handle": "irna"},
                {"token": "SECRET-kabootar-token-isna", "handle": "isna"},
            ),
            commit_path="/v1/posts",
        )


async def test_the_made_up_platform_joins_the_demo_and_the_report(
    redis_url: str, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(str(tmp_path))  # the demo writes its HTML report under the working directory
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    console = Console(record=True, width=250)
    client = aioredis.Redis.from_url(redis_url)
    try:
        with kabootar_registered():
            running = await serve()
            try:
                assert await _run(redis_url, running, console, prefix) == 0, console.export_text()
            finally:
                await running.stop()
            english = await build_report(client, Keys(prefix), platform_titles=platform_titles("en"))
            persian = await build_report(client, Keys(prefix), platform_titles=platform_titles("fa"))
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()
    shown = console.export_text()
    # khz-roads and khz-rail each publish one item on it (the others are not theirs, or name their
    # platforms), and each amplifies the other's there.
    posted = [line for line in shown.splitlines() if f" {PLATFORM} " in line and "منتشر شد" in line]
    assert len(posted) == 4, shown
    assert "کبوتر" in shown
    [row] = [row for row in english.platforms if row.platform == PLATFORM]
    assert row.title == "Kabootar" and row.own_posts == 2 and row.amplifications == 2
    assert "Kabootar" in render_html(english, "en", "gregorian")
    assert "کبوتر" in render_html(persian, "fa", "jalali")


def test_a_registered_adapter_without_a_contract_case_fails_loudly() -> None:
    with kabootar_registered(), pytest.raises(pytest.fail.Exception, match="has no contract case"):
        find_case(PLATFORM)
