"""A learned optimizer as an optax transform (DESIGN.md, contract 2).

``lstm_optimizer(meta_params, config)`` closes over the network weights, so ``jax.grad`` of a
meta-loss with respect to ``meta_params`` flows through every ``update``. The state holds one LSTM
state per scalar parameter of the optimizee, for any params pytree (its leaves are flattened into
one coordinate vector, so a single batched matmul serves every leaf).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from l2l.learned.features import FeatureConfig, Features, make_features
from l2l.learned.network import CoordinatewiseLSTM


@dataclasses.dataclass(frozen=True)
class LSTMOptimizerConfig:
    """The architecture of a coordinatewise LSTM optimizer (saved with every trained one).

    theta_{t+1} = theta_t + output_scale * feature_scale_t * LSTM(features(g_t), state_t).
    ``output_scale`` is 1.0 for quadratics and 0.1 for MNIST in Andrychowicz et al., 2016.
    """

    hidden_sizes: tuple[int, ...] = (20, 20)
    features: FeatureConfig = dataclasses.field(default_factory=FeatureConfig)
    output_scale: float = dataclasses.field(default=1.0, metadata={"gt": 0})
    output_init_scale: float = dataclasses.field(default=0.01, metadata={"ge": 0})

    def __post_init__(self):
        if not self.hidden_sizes or any(h < 1 for h in self.hidden_sizes):
            raise ValueError(
                f"hidden_sizes must be one or more positive sizes, got {self.hidden_sizes}"
            )

    @property
    def network(self) -> CoordinatewiseLSTM:
        return CoordinatewiseLSTM(tuple(self.hidden_sizes), self.output_init_scale)


class LSTMOptimizerState(NamedTuple):
    """Per-coordinate state of a learned optimizer."""

    lstm: tuple  # ((c, h), ...) per LSTM layer, each (num_coordinates, hidden)
    features: Any  # the feature map's own per-coordinate state
    count: jax.Array  # int32 number of updates taken


def init_meta_params(key: jax.Array, config: LSTMOptimizerConfig):
    """Fresh network weights for ``config``."""
    features = make_features(config.features)
    return config.network.init_meta_params(key, features.num_inputs)


def coordinatewise_optimizer(
    apply_fn: Callable, initial_carry: Callable, features: Features, output_scale=1.0
) -> optax.GradientTransformationExtraArgs:
    """A coordinatewise learned optimizer around any recurrent network.

    ``apply_fn(carry, inputs) -> (carry, out)`` maps the (n, num_inputs) features of the n
    coordinates to n outputs; ``initial_carry(n, dtype)`` is its state for n coordinates. The
    update of coordinate i is ``output_scale * feature_scale_i * out_i``; features with an
    ``observe`` hook then see that update and the multiplier ``output_scale * out_i`` of their scale
    (e.g. to scale the next output by the update).
    """

    def init_fn(params):
        flat, _ = ravel_pytree(params)
        return LSTMOptimizerState(
            lstm=initial_carry(flat.size, flat.dtype),
            features=features.init(flat),
            count=jnp.zeros((), jnp.int32),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        flat_g, unravel = ravel_pytree(updates)
        inputs, feature_state, scale = features.apply(flat_g, state.features)
        carry, out = apply_fn(state.lstm, inputs.astype(flat_g.dtype))
        step = output_scale * scale * out
        if features.observe is not None:
            feature_state = features.observe(step, output_scale * out, feature_state)
        return unravel(step), LSTMOptimizerState(carry, feature_state, state.count + 1)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def lstm_optimizer(
    meta_params, config: LSTMOptimizerConfig
) -> optax.GradientTransformationExtraArgs:
    """The coordinatewise LSTM optimizer of Andrychowicz et al., 2016 with weights ``meta_params``.

    Update rule: for every scalar parameter i, (out_i, s_i) = LSTM(features(g_i), s_i) with weights
    shared across coordinates; update_i = output_scale * feature_scale_i * out_i.

    Args:
      meta_params: the network's weights (from :func:`init_meta_params`, meta-training, or a
        saved optimizer).
      config: the architecture and features.
    """
    net = config.network
    return coordinatewise_optimizer(
        lambda carry, inputs: net.apply(meta_params, carry, inputs),
        net.initial_carry,
        make_features(config.features),
        config.output_scale,
    )
