"""Hamafza's wire format and configuration models.

This package imports nothing else of Hamafza's: agencies' tools, the services and the adapters all
depend on it, never the other way round.
"""

from schemas.items import Item, Media, TextOverride
from schemas.messages import (
    Action,
    DeadLetter,
    DeadReason,
    Delivery,
    DeliveryState,
    PostRef,
    Result,
)
from schemas.network import AgencyConfig, MediaSettings, NetworkConfig, NetworkFile, PlatformSettings

__all__ = [
    "Action",
    "AgencyConfig",
    "DeadLetter",
    "DeadReason",
    "Delivery",
    "DeliveryState",
    "Item",
    "Media",
    "MediaSettings",
    "NetworkConfig",
    "NetworkFile",
    "PlatformSettings",
    "PostRef",
    "Result",
    "TextOverride",
]
