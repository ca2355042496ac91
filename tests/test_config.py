"""The network file: every mistake is reported with the path of its key, before anything starts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters import load_adapters
from services.config import ConfigError, load_network, parse_network

ADAPTERS = load_adapters()


def document() -> dict[str, Any]:
    return {
        "platforms": {"telegram": {"api_base": "http://127.0.0.1:9/telegram"}},
        "agencies": {
            "khz-roads": {
                "name": "اداره کل راه و شهرسازی خوزستان",
                "accounts": {
                    "x": {"consumer_key": "ck", "consumer_secret": "cs", "access_token": "1001-abc",
                          "access_token_secret": "ats"},
                    "telegram": {"bot_token": "${ROADS_TOKEN}", "chat_id": "@khz_roads"},
                },
            },
            "khz-rail": {"name": "راه‌آهن", "accounts": {"telegram": {"bot_token": "1002:AAxxxxxxxxxxxxxxxxxxxxxxxx", "chat_id": "-100123"}}},
        },
        "networks": {"khz-transport": {"members": ["khz-roads", "khz-rail"], "amplify": {"telegram": "forward"}}},
    }  # fmt: skip


ENV = {"ROADS_TOKEN": "1001:AAroadsroadsroadsroadsroads"}


def test_a_good_file_is_indexed_and_its_secrets_collected() -> None:
    network = parse_network(document(), ADAPTERS, environ=ENV)
    assert network.platforms_of("khz-roads") == ["telegram", "x"]
    assert [name for name, _ in network.networks_of("khz-rail")] == ["khz-transport"]
    # Every secret credential value is known to the log redactor; the non-secret chat ids are not.
    assert {ENV["ROADS_TOKEN"], "cs", "1001-abc", "ats", "ck"} <= network.secrets
    assert "@khz_roads" not in network.secrets


def mutate(path: str, value: Any) -> dict[str, Any]:
    doc = document()
    *parents, last = path.split(".")
    node: Any = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            "agencies.khz-roads.accounts.x.access_token",
            KeyError,
            "agencies.khz-roads.accounts.x.access_token",
        ),
        (
            "agencies.khz-roads.accounts.x.access_token",
            "no-user-id",
            "agencies.khz-roads.accounts.x.access_token",
        ),
        ("agencies.khz-roads.accounts.telegram.bot_token", "${MISSING_VAR}", "MISSING_VAR is not set"),
        (
            "agencies.khz-roads.accounts.myspace",
            {"user": "x"},
            "agencies.khz-roads.accounts.myspace: no adapter",
        ),
        ("agencies.khz-roads.name", KeyError, "agencies.khz-roads.name"),
        ("agencies.khz-roads.colour", "blue", "agencies.khz-roads.colour"),
        (
            "networks.khz-transport.members",
            ["khz-roads", "ghost"],
            "networks.khz-transport.members.1: unknown agency",
        ),
        ("networks.khz-transport.members", ["khz-roads"], "networks.khz-transport.members"),
        (
            "networks.khz-transport.amplify",
            {"telegram": "retweet"},
            "networks.khz-transport.amplify.telegram",
        ),
        ("networks.khz-transport.delay_seconds", [10, 1], "delay_seconds"),
        ("platforms.telegram.api_base", 42, "platforms.telegram.api_base"),
        ("platforms.myspace", {"api_base": "http://x"}, "platforms.myspace: no adapter"),
    ],
)
def test_mistakes_name_the_bad_key(path: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_network(mutate(path, value), ADAPTERS, environ=ENV)
    assert message in str(raised.value)


def test_a_bad_token_is_not_echoed_in_the_error() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_network(
            mutate("agencies.khz-roads.accounts.telegram.bot_token", "secret value with spaces"), ADAPTERS
        )
    assert "secret value" not in str(raised.value)


def test_env_defaults_and_files(tmp_path: Path) -> None:
    doc = mutate("agencies.khz-roads.accounts.telegram.bot_token", "${NOPE:-1001:AAfallbackfallbackfallback}")
    assert parse_network(doc, ADAPTERS, environ={}).account("khz-roads", "telegram") is not None
    broken = tmp_path / "network.yaml"
    broken.write_text("agencies: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_network(broken, ADAPTERS)
    with pytest.raises(ConfigError, match="cannot read"):
        load_network(tmp_path / "absent.yaml", ADAPTERS)


def test_the_deploy_example_is_a_valid_network_file() -> None:
    example = Path(__file__).parent.parent / "deploy" / "network.example.yaml"
    names = re.findall(r"\$\{([A-Z0-9_]+)\}", example.read_text(encoding="utf-8"))
    plausible = {
        "TOKEN_SHA256": "ab" * 32,
        "TELEGRAM_TOKEN": "1001:AAexampleexampleexampleexample",
        "BALE_TOKEN": "2001:BAexampleexampleexampleexample",
        "ACCESS_TOKEN": "1001-example-access-token",
    }
    environ = {
        name: next(
            (value for suffix, value in plausible.items() if name.endswith(suffix)), "example-secret-value-42"
        )
        for name in names
    }
    network = load_network_with(example, environ)
    assert network.platforms_of("khz-roads") == ["bale", "telegram", "x"]


def load_network_with(path: Path, environ: dict[str, str]) -> Any:
    return parse_network(yaml.safe_load(path.read_text(encoding="utf-8")), ADAPTERS, environ=environ)
