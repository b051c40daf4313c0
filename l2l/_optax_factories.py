"""optax's factories by name: ``optax``'s, then ``optax.contrib``'s (a base piece: it imports
nothing of l2l, so the optimizer specs and the hyperoptimizer levels resolve names alike)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import optax


def find_factory(name: str) -> Callable[..., Any] | None:
    """The optax factory called ``name`` (``optax``, then ``optax.contrib``; ``contrib.NAME``
    looks in ``optax.contrib`` only), or None."""
    spaces = [optax, optax.contrib]
    if name.startswith("contrib."):
        name, spaces = name.removeprefix("contrib."), [optax.contrib]
    for space in spaces:
        factory = getattr(space, name, None)
        if inspect.isfunction(factory) and not name.startswith("_"):
            return factory
    return None


def optax_names() -> list[str]:
    """The names :func:`find_factory` knows (optax's and optax.contrib's public functions)."""
    return sorted(
        name
        for space in (optax, optax.contrib)
        for name in dir(space)
        if not name.startswith("_") and inspect.isfunction(getattr(space, name))
    )
