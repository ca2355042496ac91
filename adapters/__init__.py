"""Platform adapters: one module per platform, found by the registry, never named by the services.

A module registers its adapter with `@register`; `load_adapters()` imports every module of this
package, so adding a platform is adding a module.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, TypeVar

from adapters.base import (
    Adapter,
    AmbiguousError,
    AuthError,
    ButtonPress,
    CannotReconcile,
    ChannelPost,
    Choice,
    ContentError,
    DeliveryError,
    Engagement,
    MediaFile,
    PermanentError,
    Posted,
    RateLimitedError,
    RemoteFile,
    RetryableError,
    Updates,
)

__all__ = [
    "Adapter",
    "AmbiguousError",
    "AuthError",
    "ButtonPress",
    "CannotReconcile",
    "ChannelPost",
    "Choice",
    "ContentError",
    "DeliveryError",
    "Engagement",
    "MediaFile",
    "PermanentError",
    "Posted",
    "RateLimitedError",
    "RemoteFile",
    "RetryableError",
    "Updates",
    "load_adapters",
    "register",
]

_REGISTRY: dict[str, type[Adapter[Any]]] = {}
AdapterT = TypeVar("AdapterT", bound=type[Adapter[Any]])


def register(cls: AdapterT) -> AdapterT:
    if cls.platform in _REGISTRY and _REGISTRY[cls.platform] is not cls:
        raise ValueError(f"two adapters claim platform {cls.platform!r}")
    _REGISTRY[cls.platform] = cls
    return cls


def load_adapters() -> dict[str, type[Adapter[Any]]]:
    """Every adapter of this package, by platform name."""
    for module in pkgutil.iter_modules(__path__):
        if module.name != "base" and not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")
    return dict(sorted(_REGISTRY.items()))
