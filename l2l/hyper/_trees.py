"""Pytree arithmetic of hypergradients: the k learned values of a level as one vector, tangents
stacked along a leading axis of k, their inner products with a gradient and their norms.

Sums and norms are taken in float32 or wider (float64 under ``jax.enable_x64``), whatever the
parameters' dtype; what goes back into a state keeps the state's dtypes (``like``), so a state
keeps its types under ``lax.scan``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def float_dtype():
    """float32, or float64 where x64 is enabled: the dtype of hyperparameters and hypergradients."""
    return jax.dtypes.canonicalize_dtype(jnp.float64)


def like(tree: Any, reference: Any) -> Any:
    """``tree`` in ``reference``'s dtypes (so the state keeps its types under ``lax.scan``)."""
    return jax.tree.map(lambda x, r: jnp.asarray(x, r.dtype), tree, reference)


def select(pred: jax.Array, on_true: Any, on_false: Any) -> Any:
    """``on_true`` where ``pred``, else ``on_false``, leaf by leaf."""
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


def all_finite(tree: Any) -> jax.Array:
    """Whether every entry of every leaf is finite (True for an empty tree)."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def pack(values: dict[str, jax.Array], names: tuple[str, ...]) -> jax.Array:
    """The learned values of a level as one vector: the level above acts on one leaf, not k."""
    return jnp.stack([values[name] for name in names])


def unpack(vector: jax.Array, names: tuple[str, ...]) -> dict[str, jax.Array]:
    """The inverse of ``pack``: ``{name: vector[k]}``."""
    return {name: vector[k] for k, name in enumerate(names)}


def norm(tree: Any) -> jax.Array:
    """The Euclidean norm of a pytree, in float32 or wider."""
    squares = [jnp.sum(jnp.square(jnp.asarray(x, float_dtype()))) for x in jax.tree.leaves(tree)]
    return jnp.sqrt(sum(squares)) if squares else jnp.zeros([], float_dtype())


def contract(grads: Any, tangent: Any) -> jax.Array:
    """``(g . tangent[j])_j``: the inner products of ``grads`` with each of k stacked tangents."""
    dots = [
        jnp.tensordot(jnp.asarray(t, float_dtype()), jnp.asarray(g, float_dtype()), g.ndim)
        for g, t in zip(jax.tree.leaves(grads), jax.tree.leaves(tangent), strict=True)
    ]
    return sum(dots)


def stacked_norms(tangent: Any) -> jax.Array:
    """``(||tangent[j]||)_j`` of k stacked tangents."""
    squares = [
        jnp.sum(jnp.square(jnp.asarray(t, float_dtype())).reshape(t.shape[0], -1), axis=1)
        for t in jax.tree.leaves(tangent)
    ]
    return jnp.sqrt(sum(squares))


def stacked_zeros(tree: Any, k: int) -> Any:
    """k stacked zero tangents of ``tree``: every leaf with a leading axis of k, in its dtype."""
    return jax.tree.map(lambda x: jnp.zeros((k, *jnp.shape(x)), jnp.result_type(x)), tree)


def float_leaves(tree: Any) -> list:
    """The leaves of ``tree`` with a floating (or complex) dtype, in flattening order."""
    return [x for x in jax.tree.leaves(tree) if jnp.issubdtype(jnp.result_type(x), jnp.inexact)]
