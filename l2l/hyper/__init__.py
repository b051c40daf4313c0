"""Hyperoptimizers: gradient descent on an optimizer's own hyperparameters, stacked to any height.

    from l2l import hyper
    opt = hyper.stack(hyper.adam(1e-3), hyper.sgd(1e-5))   # the paper's "Adam / SGD(1e-5)"
    state = opt.init(params)
    updates, state = opt.update(grads, state)
    hyper.hyperparams(state)[0]['learning_rate']            # Adam's current step size

Hyperparameters carry optax's names (``learning_rate``, ``momentum``, ``decay``, ``rho``, ``b1``,
``b2``, ``eps``, ``eps_root``) in the levels' arguments, in ``learn=('learning_rate', ...)`` and in
``hyperparams(state)``; the old ``lr`` and ``gamma`` still work for one release, with a
``DeprecationWarning``. A stack is an ``optax.GradientTransformationExtraArgs``;
``l2l.experiments.hyper_mnist`` holds the MNIST experiments of Chandra et al. (2022), ``l2l hyper``.
"""

from l2l.hyper.levels import DEFAULT_LEARNED, RULES, Level, adagrad, adam, level, rmsprop, sgd
from l2l.hyper.reparam import DEFAULT_REPARAMETERIZATION, REPARAMETERIZATIONS, Reparameterization
from l2l.hyper.stack import HyperState, LevelState, find_state, hyperparams, skipped, stack

__all__ = [
    "DEFAULT_LEARNED",
    "DEFAULT_REPARAMETERIZATION",
    "REPARAMETERIZATIONS",
    "RULES",
    "HyperState",
    "Level",
    "LevelState",
    "Reparameterization",
    "adagrad",
    "adam",
    "find_state",
    "hyperparams",
    "level",
    "rmsprop",
    "sgd",
    "skipped",
    "stack",
]
