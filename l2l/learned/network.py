"""The coordinatewise deep LSTM of Andrychowicz et al., 2016 (flax).

Every scalar parameter of the optimizee is one row of a batch: the weights are shared by all
coordinates, each coordinate has its own hidden state. A linear layer maps the top hidden state
to one number per coordinate.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

#: An LSTM's state: ``(c, h)`` per layer, each (coordinates, hidden).
LSTMCarry = tuple[tuple[jax.Array, jax.Array], ...]


class CoordinatewiseLSTM(nn.Module):
    """Stacked LSTM cells over a batch of coordinates, then a linear output.

    ``__call__(carry, inputs)``: ``carry`` is a tuple of ``(c, h)`` per layer, each (n, hidden);
    ``inputs`` is (n, num_inputs). Returns the new carry and the output, shape (n,).
    ``output_init_scale`` sets the std of the output layer's initial weights (small values make
    the untrained optimizer take small steps).
    """

    hidden_sizes: tuple[int, ...] = (20, 20)
    output_init_scale: float = 0.01

    @nn.compact
    def __call__(self, carry: LSTMCarry, inputs: jax.Array) -> tuple[LSTMCarry, jax.Array]:
        x = inputs
        new_carry = []
        for i, size in enumerate(self.hidden_sizes):
            layer_carry, x = nn.OptimizedLSTMCell(size, name=f"lstm_{i}")(carry[i], x)
            new_carry.append(layer_carry)
        out = nn.Dense(
            1, name="output", kernel_init=nn.initializers.normal(self.output_init_scale)
        )(x)
        return tuple(new_carry), out[:, 0]

    def initial_carry(self, n: int, dtype: Any = jnp.float32) -> LSTMCarry:
        return tuple(
            (jnp.zeros((n, s), dtype), jnp.zeros((n, s), dtype)) for s in self.hidden_sizes
        )

    def init_meta_params(self, key: jax.Array, num_inputs: int) -> Any:
        return self.init(key, self.initial_carry(1), jnp.zeros((1, num_inputs)))
