"""Learned optimizers: architectures (registered), input features, the optax transform around
them, the self-describing file format, and the zoo of trained ones.

A trained optimizer is one ``.l2l`` file: ``read(path)`` gives its weights, config and info,
``load(path)`` its optax transform; ``pretrained(name)`` and ``resolve(name)`` do the same for the
zoo's (:func:`zoo_names`), offline.

A new architecture is one module: a :class:`LearnedOptimizerConfig` subclass with
``init_meta_params`` and ``optimizer`` (and optionally a fast ``batched_update`` for
meta-training), registered with :func:`register` (see :mod:`l2l.learned.architectures`).
Registered here: the coordinatewise LSTM (``lstm``), the per-parameter MLP of Metz et al.
(``mlp``, :mod:`l2l.learned.mlp_optimizer`), and a network per group of parameters (``grouped``,
:mod:`l2l.learned.groups`).

Examples:
    >>> import jax, jax.numpy as jnp, l2l
    >>> opt = l2l.learned.pretrained("quadratic-lstm")  # a trained one, offline
    >>> trained = l2l.learned.resolve("quadratic-lstm")  # its weights, config and info
    >>> trained.config.kind, trained.config.hidden_sizes
    ('lstm', (20, 20))

    A new one from its config; its weights are an argument, so ``jax.grad`` flows to them:

    >>> cfg = l2l.learned.LSTMOptimizerConfig(hidden_sizes=(20, 20))  # or MLPOptimizerConfig()
    >>> meta_params = l2l.learned.init_meta_params(jax.random.key(0), cfg)
    >>> def loss_after_one_step(meta_params):
    ...     opt = l2l.learned.make_optimizer(meta_params, cfg)
    ...     theta = jnp.array([1.0, -2.0])
    ...     updates, _ = opt.update(2 * theta, opt.init(theta), theta)  # f = |theta|^2
    ...     return jnp.sum((theta + updates) ** 2)
    >>> meta_grad = jax.jit(jax.grad(loss_after_one_step))(meta_params)
    >>> any(bool(jnp.any(g != 0)) for g in jax.tree.leaves(meta_grad))
    True
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
