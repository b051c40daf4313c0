"""Hand-designed optimizers (the classic family), each an ``optax.GradientTransformationExtraArgs``.

``make("adam", lr=0.1)`` builds one by name; ``OPTIMIZERS`` maps the names to the factories.
"""

from l2l.optimizers.adaptive import (
    AdadeltaState,
    AdamaxState,
    adadelta,
    adagrad,
    adam,
    adamax,
    rmsprop,
)
from l2l.optimizers.momentum import (
    MomentumState,
    momentum,
    nesterov,
    sgd,
    smoothed_nesterov,
)
from l2l.optimizers.registry import OPTIMIZERS, UnknownOptimizerError, make

__all__ = [
    "OPTIMIZERS",
    "AdadeltaState",
    "AdamaxState",
    "MomentumState",
    "UnknownOptimizerError",
    "adadelta",
    "adagrad",
    "adam",
    "adamax",
    "make",
    "momentum",
    "nesterov",
    "rmsprop",
    "sgd",
    "smoothed_nesterov",
]
