r"""The per-parameter MLP learned optimizer as an optax transform (DESIGN.md, contract 2);
``kind: mlp`` in the architecture registry (:mod:`l2l.learned.architectures`).

One small MLP, weights shared by every coordinate of every leaf, maps each coordinate's feature
vector :math:`x_i` (:mod:`l2l.learned.tensor_features`: the parameter, the gradient, momenta,
second moments, Adafactor's factored second moments, reciprocal roots, each normalized over its
tensor, and tanh(t / T) progress features) to a direction :math:`d_i` and a log-magnitude
:math:`s_i`:

.. math::

    (d_i, s_i) = \mathrm{MLP}(x_i), \qquad
    u_i = -\,\eta_{\text{step}} \, d_i \, \exp(\eta_{\text{exp}} \, s_i),
    \qquad p_i \leftarrow p_i + u_i,

With ``relative_step`` every leaf's step is multiplied by its parameters' scale,
:math:`u_i \leftarrow u_i \max(\operatorname{rms}(p_{\text{leaf}}), \epsilon_2)`, as
Adafactor's relative step size (Shazeer & Stern, 2018, section 8, :math:`\epsilon_2 = 10^{-3}`):
the per-tensor normalized features tell the network nothing of the scale of the weights, so
without it a step has the same size on every task, whatever the task's scale;
with it a task whose weights are 100 times smaller (``reparam``) takes 100 times smaller steps,
down to the floor. With ``fan_in_scaling`` each matrix's step is also divided by the root of its
fan-in :math:`R` (its rows: every axis but the last, :func:`l2l.learned.tensor_features.
matrix_shape`; 1 for vectors and scalars): a step that moves every weight of a row by the same
relative amount changes a pre-activation :math:`\sum_i w_i x_i`, whose size grows as
:math:`\sqrt{R}`, by an amount that grows as :math:`R`, so the relative change of the
pre-activations is the same at every fan-in (the argument of muP, Yang et al., 2022, that lets
a learned optimizer work on wider networks than it was trained on: muLO, Therien et al., 2024).

with small multipliers (:math:`\eta_{\text{exp}} = \eta_{\text{step}} = 10^{-3}`, Metz et al.)
so that the untrained network, whose output layer starts small, takes small steps. The direction
points uphill, as a gradient does (the update subtracts it). The MLP has ReLU hidden layers and a
linear output layer of 2 units. The state holds the feature accumulators and the number of
updates, a NamedTuple pytree (safe in ``lax.scan``, ``vmap``, checkpoints); the weights are closed
over, so ``jax.grad`` with respect to them flows through every update.

:func:`per_parameter_optimizer` is the same transform around *any* network function of the
feature vectors (a stand-in network reproduces Adam exactly: tests/learned/test_mlp_optimizer.py).

Metz et al., 2020, "Tasks, stability, architecture, and compute for training more effective learned
optimizers, and using them to train themselves"; Metz et al., 2022, "Practical tradeoffs between
memory, compute, and performance in learned optimizers" (``small_fc_lopt``, ``adafac_mlp_lopt``).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable
from typing import Any, ClassVar, Literal, NamedTuple

import jax
import jax.numpy as jnp
import optax

from l2l.config import field
from l2l.learned import batched_mlp
from l2l.learned.architectures import BatchedUpdate, LearnedOptimizerConfig, register
from l2l.learned.tensor_features import (
    TensorFeatureConfig,
    TensorFeatures,
    TensorFeatureState,
    fan_in_scale,
    parameter_scale,
    tensor_features,
)


@register("mlp")
@dataclasses.dataclass(frozen=True)
class MLPOptimizerConfig(LearnedOptimizerConfig):
    """``optimizer: {kind: mlp}``: the per-parameter MLP optimizer of Metz et al. (saved with every
    trained one).

    ``hidden_sizes``: the ReLU hidden layers (two of 32 in Metz et al., 2022); ``features``: see
    :class:`l2l.learned.TensorFeatureConfig`; update = -step_mult * d * exp(exp_mult * s);
    ``output_init_scale``: the std of the output layer's initial weights (its bias starts at 0),
    small so that the untrained optimizer takes small steps.
    """

    SETTINGS: ClassVar[tuple[str, ...]] = ("step_mult", "exp_mult")

    kind: Literal["mlp"] = "mlp"
    hidden_sizes: tuple[int, ...] = (32, 32)
    features: TensorFeatureConfig = field(TensorFeatureConfig())
    exp_mult: float = field(1e-3, gt=0)
    step_mult: float = field(1e-3, gt=0)
    output_init_scale: float = field(1e-2, ge=0)
    relative_step: bool = False  # steps in units of each leaf's parameter rms (module docstring)
    relative_floor: float = field(1e-3, gt=0, help="the smallest parameter scale of relative_step")
    fan_in_scaling: bool = False  # each matrix's step over the root of its fan-in (docstring)

    def __post_init__(self):
        if any(h < 1 for h in self.hidden_sizes):
            raise ValueError(f"hidden_sizes must be positive sizes, got {list(self.hidden_sizes)}")

    @property
    def num_inputs(self) -> int:
        return tensor_features(self.features).num_inputs

    def init_meta_params(self, key: jax.Array):
        return init_mlp(key, self.num_inputs, tuple(self.hidden_sizes), self.output_init_scale)

    def optimizer(self, meta_params) -> optax.GradientTransformationExtraArgs:
        return mlp_optimizer(meta_params, self)

    def batched_update(self, matmul_dtype: str = "float32") -> BatchedUpdate:
        return batched_mlp.batched_update(self, matmul_dtype)


def init_mlp(
    key: jax.Array, num_inputs: int, hidden_sizes: tuple[int, ...], output_init_scale: float
) -> dict:
    """Fresh weights ``{"hidden_0": {"kernel", "bias"}, ..., "output": {"kernel", "bias"}}``:
    hidden kernels LeCun-normal (std 1 / sqrt(fan_in), truncated), the output kernel
    N(0, output_init_scale^2), biases 0; float32."""
    sizes = (num_inputs, *hidden_sizes)
    keys = jax.random.split(key, len(sizes))
    lecun = jax.nn.initializers.lecun_normal()
    weights = {
        f"hidden_{i}": {
            "kernel": lecun(keys[i], (n_in, n_out), jnp.float32),
            "bias": jnp.zeros((n_out,), jnp.float32),
        }
        for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes))
    }
    weights["output"] = {
        "kernel": output_init_scale * jax.random.normal(keys[-1], (sizes[-1], 2), jnp.float32),
        "bias": jnp.zeros((2,), jnp.float32),
    }
    return weights


def apply_mlp(weights: dict, inputs: jax.Array) -> jax.Array:
    """The MLP of :func:`init_mlp` on (n, num_inputs) inputs: (n, 2) outputs, each row
    (direction, log-magnitude)."""
    x = inputs
    for i in range(len(weights) - 1):
        layer = weights[f"hidden_{i}"]
        x = jax.nn.relu(x @ layer["kernel"] + layer["bias"])
    return x @ weights["output"]["kernel"] + weights["output"]["bias"]


class MLPOptimizerState(NamedTuple):
    """State of a per-parameter optimizer."""

    features: TensorFeatureState  # the feature accumulators, each field shaped like the params
    count: jax.Array  # int32 number of updates taken


def per_parameter_optimizer(
    network: Callable[[jax.Array], jax.Array],
    features: TensorFeatures,
    exp_mult: float = 1e-3,
    step_mult: float = 1e-3,
    relative_floor: float | None = None,
    fan_in_scaling: bool = False,
) -> optax.GradientTransformationExtraArgs:
    r"""A per-parameter learned optimizer around any network of the feature vectors.

    Update rule: with :math:`(d_i, s_i)` = ``network(inputs)[i]`` for the features
    :math:`x_i` of coordinate i, :math:`u_i = -\text{step\_mult} \cdot d_i \cdot
    \exp(\text{exp\_mult} \cdot s_i)`, in the dtype of the params.

    Args:
      network: maps the (n, ``features.num_inputs``) features of the n coordinates of all leaves
        to (n, 2) outputs (direction, log-magnitude); e.g. :func:`apply_mlp` with its weights.
      features: the feature map (:func:`l2l.learned.tensor_features.tensor_features`).
      exp_mult: the multiplier of the log-magnitude.
      step_mult: the multiplier of the step.
      relative_floor: where given, each leaf's step is multiplied by max(rms(leaf params),
        relative_floor) (``relative_step``).
      fan_in_scaling: each matrix's step divided by the root of its fan-in.

    ``update`` needs the params (the features read them), and ``value=loss`` where the features
    read the loss (``loss_decays``).
    """

    def init_fn(params):
        return MLPOptimizerState(features.init(params), jnp.zeros((), jnp.int32))

    def update_fn(updates, state, params=None, **extra_args):
        leaves, treedef = jax.tree.flatten(updates)
        inputs, feature_state = features.apply(
            updates, params, state.features, state.count, extra_args.get("value")
        )
        new_state = MLPOptimizerState(feature_state, state.count + 1)
        if not leaves:
            return updates, new_state
        out = network(inputs)
        step = -(step_mult * out[:, 0] * jnp.exp(exp_mult * out[:, 1]))
        bounds = [0]
        for leaf in leaves:
            bounds.append(bounds[-1] + math.prod(leaf.shape))
        steps = [
            jnp.reshape(step[a:b], leaf.shape).astype(leaf.dtype)
            for a, b, leaf in zip(bounds[:-1], bounds[1:], leaves)
        ]
        if fan_in_scaling:
            steps = [u * fan_in_scale(u.shape).astype(u.dtype) for u in steps]
        if relative_floor is not None:
            steps = [
                u * parameter_scale(jnp.reshape(p, (-1,)), relative_floor)[0].astype(u.dtype)
                for u, p in zip(steps, treedef.flatten_up_to(params))
            ]
        return treedef.unflatten(steps), new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def mlp_optimizer(
    meta_params: Any, config: MLPOptimizerConfig
) -> optax.GradientTransformationExtraArgs:
    """The per-parameter MLP optimizer of Metz et al. with weights ``meta_params``.

    Args:
      meta_params: the MLP's weights (from :func:`init_mlp` / ``config.init_meta_params``,
        meta-training, or a saved optimizer).
      config: the architecture, features and multipliers.
    """
    return per_parameter_optimizer(
        lambda inputs: apply_mlp(meta_params, inputs),
        tensor_features(config.features),
        config.exp_mult,
        config.step_mult,
        config.relative_floor if config.relative_step else None,
        config.fan_in_scaling,
    )
