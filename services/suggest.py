"""Did you mean: the closest allowed key for a key a pydantic model refused as unknown."""

from __future__ import annotations

import difflib
import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types behind Optional[...] / A | B / Annotated[...]."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return [t for arg in get_args(annotation) for t in _unwrap(arg) if t is not type(None)]
    if origin is not None and getattr(origin, "__name__", "") == "Annotated":
        return _unwrap(get_args(annotation)[0])
    if hasattr(annotation, "__metadata__"):  # typing.Annotated
        return _unwrap(annotation.__origin__)
    return [annotation]


def fields_at(model: type[BaseModel], path: list[str | int]) -> list[str]:
    """The field names allowed at `path` (a pydantic error location without its last part)."""
    current: list[Any] = [model]
    for part in path:
        following: list[Any] = []
        for candidate in current:
            for kind in _unwrap(candidate):
                if isinstance(kind, type) and issubclass(kind, BaseModel):
                    field = kind.model_fields.get(str(part))
                    if field is not None:
                        following.extend(_unwrap(field.annotation))
                elif get_origin(kind) in (dict, list) and get_args(kind):
                    following.extend(_unwrap(get_args(kind)[-1]))
        current = following
    names: list[str] = []
    for candidate in current:
        for kind in _unwrap(candidate):
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                names.extend(field.alias or name for name, field in kind.model_fields.items())
    return names


def did_you_mean(key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        return f"; did you mean `{close[0]}`?"
    return f" (allowed: {', '.join(sorted(allowed))})" if allowed else ""
