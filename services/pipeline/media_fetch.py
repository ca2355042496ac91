"""Fetching an item's media safely: never from a private, loopback or link-local address.

A media URL is chosen by whoever publishes an item, so without care an item could make Hamafza read a
cloud metadata address (169.254.169.254) or a local Redis and post it. Every hop is checked:
- only http(s); an IP literal is judged before anything is sent;
- a name is resolved once, by `GuardedResolver`, which refuses if any address is not public, and the
  connection goes to exactly the addresses it checked (aiohttp connects to what the resolver returns),
  so a name that resolves to something else a moment later (DNS rebinding) gains nothing;
- redirects are followed by hand, each target checked the same way, at most `max_redirects`;
- bodies are read in chunks and abandoned once past the largest size any target platform takes;
- one deadline for the whole fetch, redirects included.
`media.allow_hosts` exempts hosts (or host:port) from the address check only.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from services.pipeline.media_guard import SNIFF_BYTES, AllowList, address_problem, literal_address, sniff

CHUNK = 64 * 1024
# A sniffed content type → the most bytes worth reading of it (0: not wanted at all).
CapFor = Callable[[str], int]
REDIRECTS = frozenset({301, 302, 303, 307, 308})


class MediaRefused(Exception):
    """A media URL that was not fetched, or not whole; `str()` says why, for a dead letter."""


@dataclass(frozen=True, slots=True)
class Download:
    content_type: str
    data: bytes
    truncated: bool = False  # stopped at the cap: `data` holds only its first bytes
    size: int = 0  # the file's size; when truncated, at least this (or as the server announced)


class GuardedResolver(AbstractResolver):
    """Resolves names once and refuses any that leads to a non-public address, unless allowed."""

    def __init__(self, allow: AllowList, inner: AbstractResolver | None = None) -> None:
        self.allow = allow
        self.inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self.inner.resolve(host, port, family)
        if self.allow.allows(host, port):
            return results
        for result in results:
            address = literal_address(result["host"])
            problem = address_problem(address) if address is not None else "not an IP address"
            if problem is not None:
                # OSError is what aiohttp expects of a resolver; it becomes a ClientConnectorError.
                raise _AddressRefused(host, result["host"], problem)
        return results

    async def close(self) -> None:
        await self.inner.close()


class _AddressRefused(OSError):
    def __init__(self, host: str, address: str, problem: str) -> None:
        super().__init__(f"{host} resolves to {address}, a {problem} address")
        self.explanation = f"{host} resolves to {address}, a {problem} address"


class MediaFetcher:
    """One aiohttp session whose every connection went through `GuardedResolver`."""

    def __init__(
        self,
        allow_hosts: list[str],
        timeout_seconds: float = 20.0,
        max_redirects: int = 5,
        resolver: AbstractResolver | None = None,
    ) -> None:
        self.allow = AllowList.parse(allow_hosts)
        self.timeout_seconds = timeout_seconds
        self.max_redirects = max_redirects
        self._resolver = resolver
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                resolver=GuardedResolver(self.allow, self._resolver),
                use_dns_cache=False,  # every connection is checked by a fresh resolution
                limit=20,
            )
            # trust_env=False: an HTTP(S)_PROXY in the environment would make the proxy connect for us.
            # auto_decompress=False with `identity`: pictures and video are compressed already, and a
            # gzip bomb is never inflated (a compressed body fails the type check instead).
            self._session = aiohttp.ClientSession(
                connector=connector,
                trust_env=False,
                auto_decompress=False,
                headers={
                    "Accept": "image/*, video/*",
                    "Accept-Encoding": "identity",
                    "User-Agent": "Hamafza media fetcher",
                },
            )
        return self._session

    async def fetch(self, url: str, cap_for: CapFor) -> Download:
        """The file at `url`, at most `cap_for(content_type) + 1` bytes of it; MediaRefused otherwise."""
        try:
            async with asyncio.timeout(self.timeout_seconds):
                return await self._follow(url, cap_for)
        except TimeoutError:
            raise MediaRefused(
                f"the server did not send it within {self.timeout_seconds:.0f} seconds; check that the "
                "address opens, then replay"
            ) from None

    async def _follow(self, url: str, cap_for: CapFor) -> Download:
        for _hop in range(self.max_redirects + 1):
            self._check_url(url)
            try:
                async with self._get_session().get(url, allow_redirects=False) as response:
                    if response.status in REDIRECTS and "Location" in response.headers:
                        url = urljoin(url, response.headers["Location"])
                        continue
                    if response.status != 200:
                        raise MediaRefused(
                            f"the server answered {response.status} {response.reason or ''}".rstrip()
                            + "; check the address, then replay"
                        )
                    return await _read(response, cap_for)
            except aiohttp.ClientConnectorError as error:
                refused = error.os_error
                if isinstance(refused, _AddressRefused):
                    raise MediaRefused(_private(refused.explanation)) from None
                raise MediaRefused(
                    f"could not connect to {error.host}:{error.port}; check the address, then replay"
                ) from None
            except aiohttp.ClientError as error:
                raise MediaRefused(
                    f"the download failed ({type(error).__name__}); check the address, then replay"
                ) from None
        raise MediaRefused(f"more than {self.max_redirects} redirects; give the file's final address")

    def _check_url(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"}:
            raise MediaRefused(f"{parts.scheme or 'no'} scheme: only http and https addresses are fetched")
        host = parts.hostname
        if not host:
            raise MediaRefused("the address has no host")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise MediaRefused("the address has an invalid port") from None
        address = literal_address(host)
        # Names are checked by the resolver; literals never reach it, so they are checked here.
        if address is not None and not self.allow.allows(host, port):
            problem = address_problem(address)
            if problem is not None:
                raise MediaRefused(_private(f"{host} is a {problem} address"))

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _private(what: str) -> str:
    return (
        f"{what}, which Hamafza never fetches from (it could expose internal systems); publish the "
        "file at a public address, or ask the operator to add its host to `media.allow_hosts`"
    )


async def _read(response: aiohttp.ClientResponse, cap_for: CapFor) -> Download:
    """Reads in chunks, sniffing the type from the first bytes and stopping past its cap."""
    data = bytearray()
    content_type: str | None = None
    cap = 0
    async for chunk in response.content.iter_chunked(CHUNK):
        data += chunk
        if content_type is None and len(data) >= SNIFF_BYTES:
            content_type, cap = _typed(bytes(data[:SNIFF_BYTES]), cap_for, response)
            announced = response.content_length
            if announced is not None and announced > cap:
                # Announced as too large: no need to read the rest.
                return Download(content_type, bytes(data[: cap + 1]), truncated=True, size=announced)
        if content_type is not None and len(data) > cap:
            return Download(content_type, bytes(data[: cap + 1]), truncated=True, size=len(data))
    if content_type is None:
        content_type, cap = _typed(bytes(data), cap_for, response)
        if len(data) > cap:
            return Download(content_type, bytes(data[: cap + 1]), truncated=True, size=len(data))
    return Download(content_type, bytes(data), size=len(data))


def _typed(head: bytes, cap_for: CapFor, response: aiohttp.ClientResponse) -> tuple[str, int]:
    content_type = sniff(head)
    if content_type is None:
        claimed = response.headers.get("Content-Type", "unknown")
        raise MediaRefused(
            f"it is not a JPEG, PNG, GIF, WebP, MP4 or MOV file (the server calls it {claimed!r}); "
            "link the picture or video file itself, not a page"
        )
    return content_type, cap_for(content_type)
