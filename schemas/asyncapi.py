"""The AsyncAPI 3.0 document of Hamafza's Redis streams, built from a list of channels.

Every stream entry has one field, `data`, holding the JSON of one model. The services describe their
streams (`services/streams.py`: addresses from `services/keys.py`, the consumer groups that read each);
this module only turns that description into the document, so it stays beside the wire schemas it
points to and imports nothing of ours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter


@dataclass(frozen=True)
class Channel:
    name: str  # the channel's id in the document: items, deliveries, reachDue…
    address: str  # the stream's key; `{platform}` where there is one stream per platform
    message: str  # the message's id: item, delivery…
    model: type[Any]  # a pydantic model or a dataclass: the JSON in the entry's `data`
    summary: str
    groups: tuple[str, ...] = ()  # the consumer groups that read it; none: a record people read
    parameters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # `{name}` → its values


def asyncapi_document(channels: Sequence[Channel], *, host: str = "127.0.0.1:6379") -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in dict.fromkeys(channel.model for channel in channels):
        schema = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    groups = sorted({group for channel in channels for group in channel.groups})
    document: dict[str, Any] = {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Hamafza streams",
            "version": "1",
            "description": (
                "Redis Streams; see docs/stream-format.md. Every entry has one field, `data`, holding a "
                f"message as JSON. Consumer groups: {', '.join(groups)}."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {"redis": {"host": host, "protocol": "redis"}},
        "channels": {},
        "operations": {},
        "components": {"schemas": schemas, "messages": {}},
    }
    for channel in channels:
        title = channel.model.__name__
        document["components"]["messages"][channel.message] = {
            "name": channel.message,
            "title": title,
            "summary": channel.summary,
            "contentType": "application/json",
            "description": f"A stream entry with one field, `data`, whose value is a {title} as JSON.",
            "payload": {"$ref": f"#/components/schemas/{title}"},
        }
        entry: dict[str, Any] = {
            "address": channel.address,
            "description": channel.summary,
            "messages": {channel.message: {"$ref": f"#/components/messages/{channel.message}"}},
            "x-consumer-groups": list(channel.groups),
        }
        if channel.parameters:
            entry["parameters"] = {
                name: {"description": f"one stream per {name}", **({"enum": list(values)} if values else {})}
                for name, values in channel.parameters.items()
            }
        document["channels"][channel.name] = entry
        messages = [{"$ref": f"#/channels/{channel.name}/messages/{channel.message}"}]
        document["operations"][f"send_{channel.name}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel.name}"},
            "messages": messages,
        }
        document["operations"][f"receive_{channel.name}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel.name}"},
            "messages": messages,
            "description": (
                f"Read by the consumer group(s) {', '.join(channel.groups)}."
                if channel.groups
                else "A record: read with XRANGE, no consumer group."
            ),
        }
    return document
