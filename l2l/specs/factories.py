"""optax's factories by name: ``optax``'s, then ``optax.contrib``'s (defined in the base piece
``l2l._optax_factories``, which the hyperoptimizer levels use too)."""

from l2l._optax_factories import find_factory, optax_names

__all__ = ["find_factory", "optax_names"]
