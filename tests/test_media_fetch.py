"""Fetching media over real HTTP from the sandbox's CMS: what is refused, and that nothing is sent then."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
import yaml
from aiohttp.abc import AbstractResolver, ResolveResult

from sandbox import RunningSandbox
from services.pipeline.media_fetch import MediaFetcher, MediaRefused

CAP = 1_000_000


def any_cap(content_type: str) -> int:
    return CAP


def host_port(sandbox: RunningSandbox) -> str:
    return urlsplit(sandbox.url).netloc  # 127.0.0.1:<port>


@pytest.fixture
async def allowed(sandbox: RunningSandbox) -> AsyncIterator[MediaFetcher]:
    fetcher = MediaFetcher([host_port(sandbox)], timeout_seconds=3)
    yield fetcher
    await fetcher.aclose()


@pytest.fixture
async def strict() -> AsyncIterator[MediaFetcher]:
    fetcher = MediaFetcher([], timeout_seconds=3)
    yield fetcher
    await fetcher.aclose()


def requests_seen(sandbox: RunningSandbox) -> int:
    return sum(sandbox.sandbox.media_requests.values())


async def test_an_allowed_host_port_is_fetched_and_typed_from_the_bytes(
    sandbox: RunningSandbox, allowed: MediaFetcher
) -> None:
    download = await allowed.fetch(f"{sandbox.url}/_sandbox/media/map.png", any_cap)
    assert download.content_type == "image/png" and download.data.startswith(b"\x89PNG")
    assert not download.truncated and download.size == len(download.data)


async def test_loopback_is_refused_without_allow_hosts_and_nothing_is_sent(
    sandbox: RunningSandbox, strict: MediaFetcher
) -> None:
    with pytest.raises(MediaRefused, match=r"127\.0\.0\.1 is a loopback address.*media\.allow_hosts"):
        await strict.fetch(f"{sandbox.url}/_sandbox/media/a.jpg", any_cap)
    assert requests_seen(sandbox) == 0


async def test_an_allowed_port_does_not_exempt_another_port(sandbox: RunningSandbox) -> None:
    port = int(host_port(sandbox).rpartition(":")[2])
    fetcher = MediaFetcher([f"127.0.0.1:{port + 1}"], timeout_seconds=3)
    try:
        with pytest.raises(MediaRefused, match="loopback"):
            await fetcher.fetch(f"{sandbox.url}/_sandbox/media/a.jpg", any_cap)
    finally:
        await fetcher.aclose()
    assert requests_seen(sandbox) == 0


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:6379/", "loopback"),  # a local Redis
        ("http://169.254.169.254/latest/meta-data/", "link-local"),  # cloud metadata
        ("http://10.0.0.8/a.jpg", "private"),
        ("http://192.168.1.1/a.jpg", "private"),
        ("http://224.0.0.1/a.jpg", "multicast"),
        ("http://240.0.0.1/a.jpg", "reserved"),
        ("http://0.0.0.0/a.jpg", "unspecified"),
        ("http://[::1]/a.jpg", "loopback"),
        ("http://[fe80::1]/a.jpg", "link-local"),
        ("http://[fd00::1]/a.jpg", "private"),
        ("http://[::ffff:127.0.0.1]/a.jpg", "loopback"),
        ("http://[::ffff:169.254.169.254]/a.jpg", "link-local"),
        ("http://localhost:6379/", "loopback"),  # a name: refused by the resolver
    ],
)
async def test_every_non_public_address_class_is_refused(
    strict: MediaFetcher, url: str, problem: str
) -> None:
    with pytest.raises(MediaRefused, match=f"a {problem} address"):
        await strict.fetch(url, any_cap)


@pytest.mark.parametrize("url", ["ftp://cms.example/a.jpg", "file:///etc/passwd", "gopher://cms.example/"])
async def test_only_http_and_https_are_fetched(strict: MediaFetcher, url: str) -> None:
    with pytest.raises(MediaRefused, match="only http and https"):
        await strict.fetch(url, any_cap)


async def test_a_redirect_to_a_private_address_is_refused(
    sandbox: RunningSandbox, allowed: MediaFetcher
) -> None:
    for target in ("http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:6379/"):
        url = f"{sandbox.url}/_sandbox/redirect?to={quote(target, safe='')}"
        with pytest.raises(
            MediaRefused, match=r"169\.254\.169\.254 is a link-local|127\.0\.0\.1 is a loopback"
        ):
            await allowed.fetch(url, any_cap)
    assert sandbox.sandbox.media_requests["/_sandbox/redirect"] == 2


async def test_a_redirect_to_another_scheme_is_refused(
    sandbox: RunningSandbox, allowed: MediaFetcher
) -> None:
    url = f"{sandbox.url}/_sandbox/redirect?to={quote('file:///etc/passwd', safe='')}"
    with pytest.raises(MediaRefused, match="only http and https"):
        await allowed.fetch(url, any_cap)


async def test_redirects_are_followed_within_a_bound(sandbox: RunningSandbox) -> None:
    target = f"{sandbox.url}/_sandbox/media/a.jpg"
    url = target
    for _ in range(3):
        url = f"{sandbox.url}/_sandbox/redirect?to={quote(url, safe='')}"
    follows = MediaFetcher([host_port(sandbox)], timeout_seconds=3, max_redirects=3)
    stops = MediaFetcher([host_port(sandbox)], timeout_seconds=3, max_redirects=2)
    try:
        assert (await follows.fetch(url, any_cap)).content_type == "image/jpeg"
        with pytest.raises(MediaRefused, match="more than 2 redirects"):
            await stops.fetch(url, any_cap)
    finally:
        await follows.aclose()
        await stops.aclose()


class Rebinding(AbstractResolver):
    """A name whose first answer is public and every later one loopback (a DNS-rebinding attacker)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.calls = 0

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.calls += 1
        address = "93.184.216.34" if self.calls == 1 else "127.0.0.1"
        return [
            ResolveResult(
                hostname=host, host=address, port=self.port, family=socket.AF_INET, proto=0, flags=0
            )
        ]

    async def close(self) -> None:
        return None


class Fixed(Rebinding):
    def __init__(self, port: int, addresses: list[str]) -> None:
        super().__init__(port)
        self.addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.calls += 1
        return [
            ResolveResult(hostname=host, host=a, port=self.port, family=socket.AF_INET, proto=0, flags=0)
            for a in self.addresses
        ]


async def test_a_name_resolving_to_a_private_address_is_refused(sandbox: RunningSandbox) -> None:
    port = int(host_port(sandbox).rpartition(":")[2])
    for addresses in (["127.0.0.1"], ["93.184.216.34", "127.0.0.1"]):  # any private answer refuses
        fetcher = MediaFetcher([], timeout_seconds=3, resolver=Fixed(port, addresses))
        try:
            with pytest.raises(MediaRefused, match=r"cms.example resolves to 127.0.0.1, a loopback"):
                await fetcher.fetch(f"http://cms.example:{port}/_sandbox/media/a.jpg", any_cap)
        finally:
            await fetcher.aclose()
    assert requests_seen(sandbox) == 0


async def test_the_connection_goes_to_the_address_that_was_checked(sandbox: RunningSandbox) -> None:
    """Rebinding: the check and the connection use one resolution, so the later loopback answer is
    never asked for, and the sandbox on 127.0.0.1 sees no request."""
    port = int(host_port(sandbox).rpartition(":")[2])
    resolver = Rebinding(port)
    fetcher = MediaFetcher([], timeout_seconds=1, resolver=resolver)
    try:
        # The checked public address is unreachable here: the fetch fails, and never reaches 127.0.0.1.
        with pytest.raises(MediaRefused, match=r"could not connect|did not send it"):
            await fetcher.fetch(f"http://rebind.example:{port}/_sandbox/media/a.jpg", any_cap)
    finally:
        await fetcher.aclose()
    assert resolver.calls == 1
    assert requests_seen(sandbox) == 0


async def test_size_is_bounded_while_reading(sandbox: RunningSandbox, allowed: MediaFetcher) -> None:
    for query in ("bytes=3000000", "bytes=3000000&chunked=1"):
        download = await allowed.fetch(f"{sandbox.url}/_sandbox/media/big.jpg?{query}", any_cap)
        assert download.truncated and download.content_type == "image/jpeg"
        assert len(download.data) <= CAP + 64 * 1024 and download.size > CAP


async def test_a_kind_nobody_takes_is_not_read(sandbox: RunningSandbox, allowed: MediaFetcher) -> None:
    download = await allowed.fetch(
        f"{sandbox.url}/_sandbox/media/clip.mp4?bytes=500000", lambda t: 0 if t.startswith("video/") else CAP
    )
    assert download.truncated and download.content_type == "video/mp4" and len(download.data) <= 1


async def test_a_compressed_body_is_never_inflated(sandbox: RunningSandbox, allowed: MediaFetcher) -> None:
    # 20 MB of zeros gzip to a few kB: inflating it is what a decompression bomb relies on.
    url = f"{sandbox.url}/_sandbox/media/bomb.jpg?bytes=20000000&gzip=1"
    with pytest.raises(MediaRefused, match="not a JPEG"):
        await allowed.fetch(url, any_cap)


async def test_a_page_is_not_a_picture(sandbox: RunningSandbox, allowed: MediaFetcher) -> None:
    with pytest.raises(MediaRefused, match=r"not a JPEG, PNG, GIF, WebP, MP4 or MOV.*text/html"):
        await allowed.fetch(f"{sandbox.url}/_sandbox/media/news.html", any_cap)


async def test_a_missing_file_names_the_status(sandbox: RunningSandbox, allowed: MediaFetcher) -> None:
    with pytest.raises(MediaRefused, match="answered 404"):
        await allowed.fetch(f"{sandbox.url}/_sandbox/media/gone.bmp", any_cap)


async def test_a_slow_server_times_out(sandbox: RunningSandbox) -> None:
    fetcher = MediaFetcher([host_port(sandbox)], timeout_seconds=0.3)
    try:
        with pytest.raises(MediaRefused, match="did not send it within"):
            await fetcher.fetch(f"{sandbox.url}/_sandbox/media/a.jpg?delay_ms=2000", any_cap)
    finally:
        await fetcher.aclose()


async def run_cli(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "200"},
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_the_cli_checks_a_url_as_the_media_step_would(sandbox: RunningSandbox, tmp_path: Path) -> None:
    url = f"{sandbox.url}/_sandbox/media/poster.jpg?bytes=2000000"
    code, output = await run_cli("media", "check", url)
    assert code == 1 and "127.0.0.1 is a loopback address" in output
    assert requests_seen(sandbox) == 0
    config = tmp_path / "network.yaml"
    document = {
        "media": {"allow_hosts": [host_port(sandbox)]},
        "agencies": {"qom": {"name": "قم", "accounts": {}}},
    }
    config.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    code, output = await run_cli("media", "check", url, "--config", str(config))
    assert code == 0, output
    assert "image/jpeg (image), 2.0 MB" in output
    assert "over the limit of 1.0 MB for an image on bluesky" in output
    assert requests_seen(sandbox) == 1
