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
from schemas.network import (
    AgencyConfig,
    AmplificationPolicy,
    Approver,
    CouncilConfig,
    MediaSettings,
    NetworkConfig,
    NetworkFile,
    PartnerPolicy,
    PlatformSettings,
    PolicyMode,
    UrgentRule,
)

__all__ = [
    "Action",
    "AgencyConfig",
    "AmplificationPolicy",
    "Approver",
    "CouncilConfig",
    "DeadLetter",
    "DeadReason",
    "Delivery",
    "DeliveryState",
    "Item",
    "Media",
    "MediaSettings",
    "NetworkConfig",
    "NetworkFile",
    "PartnerPolicy",
    "PlatformSettings",
    "PolicyMode",
    "PostRef",
    "Result",
    "TextOverride",
    "UrgentRule",
]
