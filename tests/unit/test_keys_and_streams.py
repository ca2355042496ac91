"""Every Redis key is built in services/keys.py, and the AsyncAPI document lists every stream and group."""

from __future__ import annotations

import re
from pathlib import Path

from services import streams
from services.keys import Keys
from services.pipeline import amplify, deliver, fanout
from services.reach import collect as reach

SERVICES = Path(__file__).resolve().parents[2] / "services"
# A key spelled out: the prefix followed by a colon, in an f-string or a literal.
BUILT_HERE = re.compile(r"""prefix\}:|["']hamafza:""")


def test_no_key_is_built_outside_keys_py() -> None:
    offenders = [
        f"{path.relative_to(SERVICES.parent)}:{number}: {line.strip()}"
        for path in sorted(SERVICES.rglob("*.py"))
        if path.name != "keys.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if BUILT_HERE.search(line) and not line.lstrip().startswith("#")
    ]
    assert offenders == []


def test_the_asyncapi_document_lists_every_stream_and_group() -> None:
    keys = Keys("pfx")
    document = streams.document(keys, ["memory", "other"])
    channels = document["channels"]
    addresses = {channel["address"] for channel in channels.values()}
    assert {
        keys.items,
        keys.deliveries("{platform}"),
        keys.results,
        keys.dead,
        keys.reach.due,
        keys.reach.snapshots,
        keys.approvals_events,
    } <= addresses
    groups = {group for channel in channels.values() for group in channel["x-consumer-groups"]}
    assert groups == {fanout.GROUP, deliver.GROUP, amplify.GROUP, reach.GROUP}
    assert channels["reachDue"]["x-consumer-groups"] == [reach.GROUP]
    assert channels["deliveries"]["parameters"]["platform"]["enum"] == ["memory", "other"]
    for name, channel in channels.items():
        [message] = channel["messages"].values()
        model = message["$ref"].rsplit("/", 1)[-1]
        payload = document["components"]["messages"][model]["payload"]["$ref"].rsplit("/", 1)[-1]
        assert payload in document["components"]["schemas"], name
        assert f"send_{name}" in document["operations"] and f"receive_{name}" in document["operations"]
