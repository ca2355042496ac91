"""Pure decisions of the media step: which addresses may be fetched, what bytes are, and whether a
platform takes them. No I/O here; `media_fetch` and `media` do the calls."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Magic numbers of the kinds Hamafza passes on (the content type is what the bytes are, never what a
# server claims). MP4 and QuickTime share the ISO base-media `ftyp` box; its brand tells them apart.
SNIFF_BYTES = 16


def sniff(head: bytes) -> str | None:
    """The content type of a file from its first bytes; None for anything not passed on."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        return "video/quicktime" if head[8:12] == b"qt  " else "video/mp4"
    return None


def kind_of(content_type: str) -> str:
    return "video" if content_type.startswith("video/") else "image"


# --- addresses -------------------------------------------------------------------------------------


def address_problem(address: IPAddress) -> str | None:
    """Why an address must not be fetched from (a class name people recognise), or None if public.

    IPv4 inside IPv6 (mapped `::ffff:a.b.c.d`, 6to4, Teredo) is judged by the IPv4 address it carries,
    so `::ffff:127.0.0.1` is loopback, not an unknown IPv6 address.
    """
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if inner is not None:
            return address_problem(inner)
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
    )
    for name, hit in checks:
        if hit:
            return name
    if not address.is_global:
        return "not publicly routable"
    return None


@dataclass(frozen=True, slots=True)
class AllowList:
    """`media.allow_hosts`: `host` exempts every port of a host, `host:port` that port only."""

    hosts: frozenset[str]
    host_ports: frozenset[tuple[str, int]]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        hosts: set[str] = set()
        host_ports: set[tuple[str, int]] = set()
        for raw in entries:
            entry = raw.strip().lower()
            host, port = _split_host_port(entry)
            if port is None:
                hosts.add(host)
            else:
                host_ports.add((host, port))
        return cls(frozenset(hosts), frozenset(host_ports))

    def allows(self, host: str, port: int) -> bool:
        host = host.strip("[]").lower().rstrip(".")
        return host in self.hosts or (host, port) in self.host_ports


def _split_host_port(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):  # [::1]:8080 or [::1]
        host, _, rest = entry[1:].partition("]")
        port = rest.removeprefix(":")
        return host, int(port) if port.isdigit() else None
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        if port.isdigit():
            return host.rstrip("."), int(port)
    return entry.rstrip("."), None


def literal_address(host: str) -> IPAddress | None:
    """The address a URL's host names directly (`127.0.0.1`, `[::1]`); None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None


# --- platform limits -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FetchedMedia:
    """What the media step learnt of one media URL: its type and size, or why it was not fetched.

    `size` is a lower bound when `truncated`: the fetch stopped once the file outgrew every limit.
    """

    index: int
    url: str
    content_type: str | None = None
    size: int = 0
    truncated: bool = False
    refused: str | None = None


@dataclass(frozen=True, slots=True)
class MediaRules:
    """One platform's declared media limits, as the adapter states them."""

    platform: str
    media_limit: int
    media_kinds: frozenset[str]
    media_max_bytes: Mapping[str, int]


def shown(url: str) -> str:
    """A URL as logs and dead letters show it: without its query, where signed URLs keep their tokens."""
    parts = urlsplit(url)
    return urlunsplit(
        (parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "…" if parts.query else "", "")
    )


def megabytes(size: int) -> str:
    """A size as people read it: `40 kB`, `1.5 MB`, `512 MB`."""
    if size < 1_000_000:
        return f"{max(size // 1000, 1)} kB"
    return f"{size / 1_000_000:.1f} MB" if size < 10_000_000 else f"{size / 1_000_000:.0f} MB"


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def media_violation(rules: MediaRules, media: Sequence[FetchedMedia], store_cap: int) -> str | None:
    """Why these media cannot go to this platform, in words a PR officer can act on; None if they can.

    Only the first `media_limit` media are sent (the rest are left out, see `Adapter.render`), so only
    those are judged. `store_cap` is Hamafza's own bound on one file.
    """
    for medium in media[: rules.media_limit]:
        number = f"media {medium.index + 1} ({shown(medium.url)})"
        if medium.refused is not None:
            return f"{number} was not fetched: {medium.refused}"
        assert medium.content_type is not None
        kind = kind_of(medium.content_type)
        if kind not in rules.media_kinds:
            takes = " and ".join(sorted(f"{name}s" for name in rules.media_kinds)) or "no media"
            return (
                f"{number} is {_a(kind)} ({medium.content_type}); {rules.platform} takes {takes} only. "
                f"Remove it, or leave {rules.platform} out of `platforms`"
            )
        limit = rules.media_max_bytes.get(kind, 0)
        size = f"over {megabytes(medium.size)}" if medium.truncated else megabytes(medium.size)
        if medium.size > limit:
            return (
                f"{number} is {size}, over the limit of {megabytes(limit)} for {_a(kind)} on {rules.platform}. "
                f"Make it smaller (a picture 2048 px wide as JPEG is well under), or leave "
                f"{rules.platform} out of `platforms`"
            )
        if medium.truncated or medium.size > store_cap:
            return (
                f"{number} is {size}, over Hamafza's limit of {megabytes(store_cap)} for one file "
                "(HAMAFZA_MEDIA_MAX_BYTES). Make it smaller, or ask the operator to raise the limit"
            )
    return None


def fetch_cap(kind: str, platforms: Sequence[MediaRules], store_cap: int) -> int:
    """How many bytes of a file of this kind are worth reading: the largest any target takes."""
    limits = [rules.media_max_bytes.get(kind, 0) for rules in platforms if kind in rules.media_kinds]
    return min(max(limits, default=0), store_cap)
