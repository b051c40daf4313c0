"""Learned optimizers: input features, the coordinatewise LSTM, its optax transform, save/load, zoo."""

from l2l.learned.features import FEATURES, FeatureConfig, Features, log_sign, make_features
from l2l.learned.io import (
    LearnedOptimizerFileError,
    TrainedOptimizer,
    load,
    pretrained,
    read,
    resolve,
    save,
    update_info,
    zoo_names,
)
from l2l.learned.network import CoordinatewiseLSTM
from l2l.learned.optimizer import (
    LSTMOptimizerConfig,
    LSTMOptimizerState,
    coordinatewise_optimizer,
    init_meta_params,
    lstm_optimizer,
)

__all__ = [
    "FEATURES",
    "CoordinatewiseLSTM",
    "FeatureConfig",
    "Features",
    "LSTMOptimizerConfig",
    "LSTMOptimizerState",
    "LearnedOptimizerFileError",
    "TrainedOptimizer",
    "coordinatewise_optimizer",
    "init_meta_params",
    "load",
    "log_sign",
    "lstm_optimizer",
    "make_features",
    "pretrained",
    "read",
    "resolve",
    "save",
    "update_info",
    "zoo_names",
]
