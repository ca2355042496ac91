"""The media step's pure decisions: address classes, the allow list, sniffing, platform limits."""

from __future__ import annotations

import ipaddress

import pytest
from pydantic import ValidationError

from sandbox.media_files import HEADERS
from schemas.network import MediaSettings
from services.pipeline.media_guard import (
    AllowList,
    FetchedMedia,
    MediaRules,
    address_problem,
    fetch_cap,
    media_violation,
    shown,
    sniff,
)


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "not publicly routable"),  # carrier-grade NAT
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:10.0.0.1", "private"),
        ("2002:7f00:0001::1", "loopback"),  # 6to4 carrying 127.0.0.1
        ("93.184.216.34", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:93.184.216.34", None),
    ],
)
def test_address_classes(address: str, problem: str | None) -> None:
    assert address_problem(ipaddress.ip_address(address)) == problem


def test_allow_list_host_exempts_every_port_and_host_port_only_that_port() -> None:
    allow = AllowList.parse(["cms.example", "127.0.0.1:8081", "[::1]:9000", "Media.Example."])
    assert allow.allows("cms.example", 80) and allow.allows("cms.example", 8443)
    assert allow.allows("127.0.0.1", 8081)
    assert not allow.allows("127.0.0.1", 6379)
    assert allow.allows("[::1]", 9000) and not allow.allows("::1", 80)
    assert allow.allows("media.example", 443)
    assert not allow.allows("other.example", 80)


@pytest.mark.parametrize(
    ("extension", "expected"),
    [
        ("jpg", "image/jpeg"),
        ("png", "image/png"),
        ("gif", "image/gif"),
        ("webp", "image/webp"),
        ("mp4", "video/mp4"),
        ("mov", "video/quicktime"),
        ("html", None),
    ],
)
def test_type_is_read_from_the_bytes(extension: str, expected: str | None) -> None:
    assert sniff(HEADERS[extension][1][:16]) == expected


X_RULES = MediaRules("x", 4, frozenset({"image", "video"}), {"image": 5_000_000, "video": 512_000_000})
BSKY_RULES = MediaRules("bluesky", 4, frozenset({"image"}), {"image": 1_000_000})


def picture(index: int, size: int, truncated: bool = False) -> FetchedMedia:
    return FetchedMedia(index, f"https://cms.example/{index}.jpg", "image/jpeg", size, truncated)


def test_within_limits_passes() -> None:
    assert media_violation(X_RULES, [picture(0, 900_000), picture(1, 4_000_000)], 50_000_000) is None


def test_a_picture_over_a_platforms_size_limit_names_the_limit_and_what_to_do() -> None:
    problem = media_violation(BSKY_RULES, [picture(0, 100), picture(1, 1_500_000)], 50_000_000)
    assert problem is not None
    assert (
        "media 2" in problem
        and "1.5 MB" in problem
        and "over the limit of 1.0 MB for an image on bluesky" in problem
    )
    assert "smaller" in problem and "`platforms`" in problem


def test_a_video_where_only_pictures_are_taken() -> None:
    video = FetchedMedia(0, "https://cms.example/a.mp4", "video/mp4", 3_000_000)
    problem = media_violation(BSKY_RULES, [video], 50_000_000)
    assert problem is not None and "video" in problem and "images only" in problem


def test_only_the_media_a_platform_is_sent_are_judged() -> None:
    rules = MediaRules("one", 1, frozenset({"image"}), {"image": 1_000})
    assert media_violation(rules, [picture(0, 10), picture(1, 10_000)], 50_000_000) is None


def test_a_refused_fetch_is_a_violation_everywhere_with_its_reason() -> None:
    refused = FetchedMedia(0, "http://10.0.0.5/a.jpg", refused="10.0.0.5 is a private address")
    for rules in (X_RULES, BSKY_RULES):
        assert media_violation(rules, [refused], 50_000_000) == (
            "media 1 (http://10.0.0.5/a.jpg) was not fetched: 10.0.0.5 is a private address"
        )


def test_over_hamafzas_own_bound_names_the_setting() -> None:
    big = picture(0, 2_000_001, truncated=True)
    problem = media_violation(X_RULES, [big], 2_000_000)
    assert problem is not None and "HAMAFZA_MEDIA_MAX_BYTES" in problem


def test_fetch_cap_is_the_largest_any_target_takes_within_the_store_bound() -> None:
    assert fetch_cap("image", [X_RULES, BSKY_RULES], 50_000_000) == 5_000_000
    assert fetch_cap("video", [X_RULES, BSKY_RULES], 50_000_000) == 50_000_000
    assert fetch_cap("video", [BSKY_RULES], 50_000_000) == 0


@pytest.mark.parametrize(
    "entry", ["cms.agency.ir", "cms.agency.ir:8443", "10.0.0.5", "[fd00::5]:8080", "fd00::5"]
)
def test_allow_hosts_takes_hosts_and_host_ports(entry: str) -> None:
    assert MediaSettings(allow_hosts=[entry]).allow_hosts == [entry]


@pytest.mark.parametrize("entry", ["http://cms.agency.ir", "cms.agency.ir/media", "", "cms agency"])
def test_allow_hosts_refuses_urls_and_paths_with_a_hint(entry: str) -> None:
    with pytest.raises(ValidationError, match="is not a host or host:port"):
        MediaSettings(allow_hosts=[entry])


def test_dead_letters_and_logs_show_urls_without_their_tokens() -> None:
    url = "https://user:pass@cms.example/a.jpg?X-Amz-Signature=SECRET&token=SECRET"
    assert shown(url) == "https://cms.example/a.jpg?…"
    refused = FetchedMedia(0, url, refused="the server answered 403 Forbidden")
    problem = media_violation(X_RULES, [refused], 50_000_000)
    assert problem is not None and "SECRET" not in problem and "pass" not in problem
