"""The demo network: platform-neutral agencies and networks (network.yaml) joined with the demo
accounts every registered sandbox fake lends, each platform pointed at the running sandbox.

A platform joins the demo by its fake alone (`Fake.demo`): this module names none.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from importlib import resources
from typing import Any

import yaml

from adapters import Adapter
from sandbox import Fake


def neutral_document() -> dict[str, Any]:
    """network.yaml: the demo's agencies (names) and networks (members, delays), without accounts."""
    text = resources.files("services.demo").joinpath("network.yaml").read_text(encoding="utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    return document


def demo_document(
    neutral: Mapping[str, Any],
    fakes: Mapping[str, type[Fake]],
    adapters: Mapping[str, type[Adapter[Any]]],
    sandbox_url: str,
) -> dict[str, Any]:
    """The network file of the demo: `neutral` plus, for every platform with both an adapter and a
    fake that lends demo accounts, its API base in the sandbox, its accounts and its network verbs."""
    document = copy.deepcopy(dict(neutral))
    platforms = document.setdefault("platforms", {})
    agencies = document.setdefault("agencies", {})
    networks = document.setdefault("networks", {})
    for platform, fake in sorted(fakes.items()):
        if fake.demo is None or platform not in adapters:
            continue
        settings = platforms.setdefault(platform, {})
        settings["api_base"] = f"{sandbox_url}/{platform}"
        if fake.demo.serves_web_pages:
            settings["web_base"] = f"{sandbox_url}/{platform}"
        for agency, credentials in fake.demo.accounts.items():
            if agency not in agencies:
                raise ValueError(f"the {platform} fake lends an account to {agency!r}, not a demo agency")
            agencies[agency].setdefault("accounts", {})[platform] = dict(credentials)
        for agency in fake.demo.channels:
            ingest = agencies[agency].setdefault("ingest", {})
            ingest.setdefault("channels", []).append(platform)
        for network, verb in fake.demo.amplify.items():
            if network not in networks:
                raise ValueError(f"the {platform} fake amplifies in {network!r}, not a demo network")
            networks[network].setdefault("amplify", {})[platform] = verb
    return document
