"""Hyperoptimizers: gradient descent on an optimizer's own hyperparameters, stacked to any height.

Examples:
  >>> import jax.numpy as jnp
  >>> from l2l import hyper
  >>> opt = hyper.stack(hyper.adam(1e-3), hyper.sgd())  # Adam whose step size SGD learns
  >>> params, grads = {"w": jnp.ones(3)}, {"w": jnp.full(3, 0.5)}
  >>> state = opt.init(params)
  >>> updates, state = opt.update(grads, state)
  >>> round(float(updates["w"][0]), 6)  # Adam's first step: about -learning_rate * sign(g)
  -0.001
  >>> updates, state = opt.update(grads, state)  # the same gradient again: a longer step pays
  >>> float(hyper.hyperparams(state)[0]["learning_rate"]) > 1e-3  # Adam's current step size
  True

  The paper's "Adam / SGD(1e-5)" (raw hyperparameters, betas learned too), and whole-run
  hypergradients discounted by 0.99 (``update(grads, state, params, grad_fn=...)``):

  >>> paper = hyper.stack(
  ...     hyper.adam(1e-3, learn=("learning_rate", "b1", "b2"), reparam="raw"), hyper.sgd(1e-5)
  ... )
  >>> whole_run = hyper.stack(hyper.sgd(0.01), hyper.sgd(), mode="run", discount=0.99)

Any optax or optax.contrib factory, or a learned optimizer's, is a level too:
``hyper.level(optax.adamw, learning_rate=1e-3, learn=('learning_rate', 'weight_decay'))``
(``l2l.hyper.levels``).

Hyperparameters carry optax's names (``learning_rate``, ``momentum``, ``decay``, ``rho``, ``b1``,
``b2``, ``eps``, ``eps_root``) in the levels' arguments, in ``learn=('learning_rate', ...)`` and in
``hyperparams(state)``; the old ``lr`` and ``gamma`` still work for one release, with a
``DeprecationWarning``. A stack is an ``optax.GradientTransformationExtraArgs``;
``l2l.experiments.hyper_mnist`` holds the MNIST experiments of Chandra et al. (2022), ``l2l hyper``.
"""

from l2l.hyper.levels import (
    DEFAULT_LEARNED,
    RULES,
    SCALE_FREE,
    UPPER_LEARNING_RATE,
    Level,
    adagrad,
    adam,
    level,
    rmsprop,
    sgd,
)
from l2l.hyper.reparam import DEFAULT_REPARAMETERIZATION, REPARAMETERIZATIONS, Reparameterization
from l2l.hyper.stack import MODES, stack
from l2l.hyper.state import (
    HyperState,
    LevelState,
    Rollback,
    find_state,
    guarded,
    hyperparams,
    rolled_back,
    skipped,
)

__all__ = [
    "DEFAULT_LEARNED",
    "DEFAULT_REPARAMETERIZATION",
    "MODES",
    "REPARAMETERIZATIONS",
    "RULES",
    "SCALE_FREE",
    "UPPER_LEARNING_RATE",
    "HyperState",
    "Level",
    "LevelState",
    "Reparameterization",
    "Rollback",
    "adagrad",
    "adam",
    "find_state",
    "guarded",
    "hyperparams",
    "level",
    "rmsprop",
    "rolled_back",
    "sgd",
    "skipped",
    "stack",
]
