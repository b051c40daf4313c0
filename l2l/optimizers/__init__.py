"""Hand-designed optimizers (the classic family), each an ``optax.GradientTransformationExtraArgs``.

Every factory takes optax's names for its hyperparameters, ``learning_rate`` first (Adadelta's
comes last, after Zeiler's ``rho``, ``eps`` and ``initial_delta``)::

    sgd(learning_rate=0.01)
    momentum(learning_rate=0.01, momentum=0.9)
    nesterov(learning_rate=0.01, momentum=0.9)
    smoothed_nesterov(learning_rate=0.01, momentum=0.9, points=4)
    adagrad(learning_rate=0.01, eps=1e-8)
    rmsprop(learning_rate=0.001, decay=0.9, eps=1e-8)
    adadelta(rho=0.9, eps=1e-6, initial_delta=0.0, learning_rate=1.0)
    adam(learning_rate=0.001, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0)
    adamax(learning_rate=0.002, b1=0.9, b2=0.999, eps=1e-8)

``learning_rate`` may be a number, a JAX scalar (traced under ``jit``, differentiated by a
hyperoptimizer) or an optax schedule, a function of the update count, e.g.
``adam(learning_rate=optax.cosine_decay_schedule(1e-2, 100))``; each factory's docstring says what
a changing step size does in its rule. Other hyperparameters are numbers or JAX scalars (to vary one
over time, use ``optax.inject_hyperparams``).

The names used before optax's (``lr`` for ``learning_rate``; ``gamma`` for ``momentum``, RMSProp's
``decay`` and Adadelta's ``rho``) still work for one release, with a ``DeprecationWarning``, in a
call of a factory or of ``make``; ``optax.inject_hyperparams`` binds to the signature, so it needs
the new names.

``make("adam", learning_rate=0.1)`` builds one by name; ``OPTIMIZERS`` maps the names to the
factories.
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
