"""Pytree queries every layer may use."""

from __future__ import annotations

from typing import Any

import jax


def nodes_of(tree: Any, node_type: type) -> list[Any]:
    """Every node of type ``node_type`` in ``tree``, in leaf order (e.g. the states of one kind of
    optimizer inside an ``optax.chain``)."""
    is_node = lambda n: isinstance(n, node_type)  # noqa: E731
    return [x for x in jax.tree.leaves(tree, is_leaf=is_node) if is_node(x)]


def find_node(tree: Any, node_type: type) -> Any:
    """The first node of type ``node_type`` in ``tree``; a ``LookupError`` naming the type when
    there is none."""
    found = nodes_of(tree, node_type)
    if not found:
        raise LookupError(f"no {node_type.__name__} in this state")
    return found[0]
