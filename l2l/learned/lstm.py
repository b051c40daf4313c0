"""The coordinatewise LSTM optimizer as an optax transform (DESIGN.md, contract 2); the first entry
of the architecture registry (``kind: lstm``, :mod:`l2l.learned.architectures`).

``lstm_optimizer(meta_params, config)`` closes over the network weights, so ``jax.grad`` of a
meta-loss with respect to ``meta_params`` flows through every ``update``. The state holds one LSTM
state per scalar parameter of the optimizee, for any params pytree (its leaves are flattened into
one coordinate vector, so a single batched matmul serves every leaf).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Literal

import jax
import optax

from l2l.learned import fused_lstm
from l2l.learned.architectures import (
    BatchedUpdate,
    LearnedOptimizerConfig,
    MatmulDtype,
    register,
)
from l2l.learned.coordinatewise import coordinatewise_optimizer
from l2l.learned.features import FeatureConfig, make_features
from l2l.learned.network import CoordinatewiseLSTM


@register("lstm")
@dataclasses.dataclass(frozen=True)
class LSTMOptimizerConfig(LearnedOptimizerConfig):
    """``optimizer: {kind: lstm}``: a coordinatewise LSTM optimizer (saved with every trained one).

    theta_{t+1} = theta_t + output_scale * feature_scale_t * LSTM(features(g_t), state_t).
    ``output_scale`` is 1.0 for quadratics and 0.1 for MNIST in Andrychowicz et al., 2016.
    """

    SETTINGS: ClassVar[tuple[str, ...]] = ("output_scale",)

    kind: Literal["lstm"] = "lstm"
    hidden_sizes: tuple[int, ...] = (20, 20)
    features: FeatureConfig = dataclasses.field(default_factory=FeatureConfig)
    output_scale: float = dataclasses.field(default=1.0, metadata={"gt": 0})
    output_init_scale: float = dataclasses.field(default=0.01, metadata={"ge": 0})

    def __post_init__(self) -> None:
        if not self.hidden_sizes or any(h < 1 for h in self.hidden_sizes):
            raise ValueError(
                f"hidden_sizes must be one or more positive sizes, got {self.hidden_sizes}"
            )

    @property
    def network(self) -> CoordinatewiseLSTM:
        return CoordinatewiseLSTM(tuple(self.hidden_sizes), self.output_init_scale)

    def init_meta_params(self, key: jax.Array) -> Any:
        return init_lstm_meta_params(key, self)

    def optimizer(self, meta_params: Any) -> optax.GradientTransformationExtraArgs:
        return lstm_optimizer(meta_params, self)

    def training_optimizer(
        self, meta_params: Any, matmul_dtype: MatmulDtype = "float32"
    ) -> optax.GradientTransformationExtraArgs:
        return fused_lstm.fused_lstm_optimizer(meta_params, self, matmul_dtype)

    def batched_update(self, matmul_dtype: MatmulDtype = "float32") -> BatchedUpdate:
        return fused_lstm.batched_update(self, matmul_dtype)


def init_lstm_meta_params(key: jax.Array, config: LSTMOptimizerConfig) -> Any:
    """Fresh network weights for the LSTM ``config`` describes."""
    features = make_features(config.features)
    return config.network.init_meta_params(key, features.num_inputs)


def lstm_optimizer(
    meta_params: Any, config: LSTMOptimizerConfig
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
