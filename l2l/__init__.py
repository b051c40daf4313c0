"""l2l: a JAX toolkit for optimizers that learn.

Every optimizer here is an ``optax.GradientTransformationExtraArgs``:

- ``l2l.optimizers``: the classic hand-designed family (``l2l.adam(0.1)``, ``l2l.nesterov(...)``).
- ``l2l.learned``: learned optimizers (the coordinatewise LSTM of Andrychowicz et al., 2016), their
  save/load, and a zoo of trained ones (``l2l.pretrained("quadratic-lstm")``).
- ``l2l.hyper``: hyperoptimizers that tune their own hyperparameters by gradient descent.
- ``l2l.tasks``: optimizees (quadratics, MLPs, 2-D surfaces); ``l2l.data``: MNIST.
- ``l2l.meta``: meta-training; ``l2l.evaluate``: comparisons under the baseline tuning protocol.
"""

from l2l import data, hyper, learned, optimizers, tasks
from l2l.learned import load, lstm_optimizer, pretrained
from l2l.optimizers import (
    adadelta,
    adagrad,
    adam,
    adamax,
    momentum,
    nesterov,
    rmsprop,
    sgd,
    smoothed_nesterov,
)

__version__ = "0.1.0"

__all__ = [
    "adadelta",
    "adagrad",
    "adam",
    "adamax",
    "data",
    "hyper",
    "learned",
    "load",
    "lstm_optimizer",
    "momentum",
    "nesterov",
    "optimizers",
    "pretrained",
    "rmsprop",
    "sgd",
    "smoothed_nesterov",
    "tasks",
]
