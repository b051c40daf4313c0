"""Coordinatewise learned optimizers: one small recurrent network applied to every scalar parameter
(weights shared, a state per coordinate), as an optax transform around any such network.

For any params pytree, the leaves are flattened into one coordinate vector, so a single batched
computation serves every leaf. Andrychowicz et al., 2016.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from l2l.learned.features import Features


class LSTMOptimizerState(NamedTuple):
    """Per-coordinate state of a coordinatewise learned optimizer."""

    lstm: Any  # the network's carry; for the LSTM ((c, h), ...) per layer, each (n, hidden)
    features: Any  # the feature map's own per-coordinate state
    # int32 number of updates taken
    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as in optax's states


def coordinatewise_optimizer(
    apply_fn: Callable[[Any, jax.Array], Any],
    initial_carry: Callable[[int, Any], Any],
    features: Features,
    output_scale: Any = 1.0,
) -> optax.GradientTransformationExtraArgs:
    """A coordinatewise learned optimizer around any recurrent network.

    ``apply_fn(carry, inputs) -> (carry, out)`` maps the (n, num_inputs) features of the n
    coordinates to n outputs; ``initial_carry(n, dtype)`` is its state for n coordinates. The
    update of coordinate i is ``output_scale * feature_scale_i * out_i``; features with an
    ``observe`` hook then see that update and the multiplier ``output_scale * out_i`` of their scale
    (e.g. to scale the next output by the update).
    """

    def init_fn(params: optax.Params) -> LSTMOptimizerState:
        flat, _ = ravel_pytree(params)
        return LSTMOptimizerState(
            lstm=initial_carry(flat.size, flat.dtype),
            features=features.init(flat),
            count=jnp.zeros((), jnp.int32),
        )

    def update_fn(
        updates: optax.Updates,
        state: LSTMOptimizerState,
        params: optax.Params | None = None,
        **extra_args: Any,
    ) -> tuple[optax.Updates, LSTMOptimizerState]:
        del params, extra_args
        flat_g, unravel = ravel_pytree(updates)
        inputs, feature_state, scale = features.apply(flat_g, state.features)
        carry, out = apply_fn(state.lstm, inputs.astype(flat_g.dtype))
        step = output_scale * scale * out
        if features.observe is not None:
            feature_state = features.observe(step, output_scale * out, feature_state)
        return unravel(step), LSTMOptimizerState(carry, feature_state, state.count + 1)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
