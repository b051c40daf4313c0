"""Learned optimizers: architectures (registered), input features, the optax transform around
them, the self-describing file format, and the zoo of trained ones.

    opt = l2l.learned.pretrained("quadratic-lstm")          # a trained one, offline
    trained = l2l.learned.read("runs/x/best.l2l")           # weights, config, info
    cfg = l2l.learned.LSTMOptimizerConfig(hidden_sizes=(20, 20))  # or MLPOptimizerConfig()
    meta_params = l2l.learned.init_meta_params(key, cfg)
    opt = l2l.learned.make_optimizer(meta_params, cfg)      # jax.grad flows to meta_params

A new architecture is one module: a :class:`LearnedOptimizerConfig` subclass with
``init_meta_params`` and ``optimizer`` (and optionally a fast ``batched_update`` for
meta-training), registered with :func:`register` (see :mod:`l2l.learned.architectures`).
Registered here: the coordinatewise LSTM (``lstm``), the per-parameter MLP of Metz et al.
(``mlp``, :mod:`l2l.learned.mlp_optimizer`), and a network per group of parameters (``grouped``,
:mod:`l2l.learned.groups`).
"""

from l2l.learned.architectures import (
    ARCHITECTURES,
    BatchedUpdate,
    LearnedOptimizerConfig,
    init_meta_params,
    make_optimizer,
    register,
)
from l2l.learned.coordinatewise import LSTMOptimizerState, coordinatewise_optimizer
from l2l.learned.features import FEATURES, FeatureConfig, Features, log_sign, make_features
from l2l.learned.groups import (
    GroupConfig,
    GroupedOptimizerConfig,
    UnassignedParametersError,
    grouped_optimizer,
)
from l2l.learned.io import (
    LearnedOptimizerFileError,
    TrainedOptimizer,
    read,
    save,
    update_info,
)
from l2l.learned.lstm import LSTMOptimizerConfig, lstm_optimizer
from l2l.learned.mlp_optimizer import (
    MLPOptimizerConfig,
    MLPOptimizerState,
    mlp_optimizer,
    per_parameter_optimizer,
)
from l2l.learned.network import CoordinatewiseLSTM
from l2l.learned.tensor_features import TensorFeatureConfig, tensor_features
from l2l.learned.zoo import UnknownZooNameError, load, pretrained, resolve, zoo_names

__all__ = [
    "ARCHITECTURES",
    "FEATURES",
    "BatchedUpdate",
    "CoordinatewiseLSTM",
    "FeatureConfig",
    "Features",
    "GroupConfig",
    "GroupedOptimizerConfig",
    "LSTMOptimizerConfig",
    "LSTMOptimizerState",
    "LearnedOptimizerConfig",
    "LearnedOptimizerFileError",
    "MLPOptimizerConfig",
    "MLPOptimizerState",
    "TensorFeatureConfig",
    "TrainedOptimizer",
    "UnassignedParametersError",
    "UnknownZooNameError",
    "coordinatewise_optimizer",
    "grouped_optimizer",
    "init_meta_params",
    "load",
    "log_sign",
    "lstm_optimizer",
    "make_features",
    "make_optimizer",
    "mlp_optimizer",
    "per_parameter_optimizer",
    "pretrained",
    "read",
    "register",
    "resolve",
    "save",
    "tensor_features",
    "update_info",
    "zoo_names",
]
