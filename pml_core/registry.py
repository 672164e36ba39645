"""Plain-dict registries: config name -> constructor, with a helpful error for unknown names."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from .errors import unknown_name_error


def lookup(kind: str, registry: Mapping[str, Any], name: str) -> Any:
    """``registry[name]``, or a ConfigError naming the valid choices and the closest one."""
    try:
        return registry[name]
    except KeyError:
        raise unknown_name_error(kind, name, registry.keys()) from None


def create(kind: str, registry: Mapping[str, Callable[..., Any]], name: str, *args: Any, **kwargs: Any) -> Any:
    """Look ``name`` up in ``registry`` and call it with the given arguments."""
    return lookup(kind, registry, name)(*args, **kwargs)
