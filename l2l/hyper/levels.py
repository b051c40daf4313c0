r"""One level of a hyperoptimizer stack: an update rule of the classic family and what it learns.

A ``Level`` names an optimizer of ``l2l.optimizers`` (``'sgd'``, ``'adam'``, ...), the initial
values of its hyperparameters, and which of them are *learned* (each with a parameterization, see
``l2l.hyper.reparam``). On its own a level is just a description; ``l2l.hyper.stack`` turns a list
of levels into one optax transform, where every level learns the hyperparameters of the level
below it and the last level's hyperparameters stay fixed.

The update rule is any factory of ``l2l.optimizers`` whose update reads only the gradient and its
own state; the factories accept JAX scalars (traced ones too) as hyperparameters, so the stack
builds the rule afresh from the current hyperparameters at every step and differentiates it with
respect to them. No update rule is written twice: the hypergradient of every rule comes from
automatic differentiation of the same code that makes the step.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Mapping, Sequence

import jax
import optax

from l2l import optimizers
from l2l.hyper import reparam as reparam_lib

# The rules a level can use: those of the registry whose update needs nothing but the gradient.
RULES = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamax")

# What a level learns when ``learn`` is not given (and it is not the top of a stack).
DEFAULT_LEARNED: dict[str, tuple[str, ...]] = {
    "sgd": ("lr",),
    "momentum": ("lr",),  # Learning the momentum too: learn=('lr', 'gamma').
    "nesterov": ("lr",),
    "adagrad": ("lr",),
    "rmsprop": ("lr", "gamma"),
    "adadelta": ("lr", "gamma"),
    "adam": ("lr", "b1", "b2"),
    "adamax": ("lr", "b1", "b2"),
}


# Where a level's default differs from the factory's (see ``adam``: a finite hypergradient of b2).
LEVEL_DEFAULTS: dict[str, dict[str, Any]] = {"adam": {"eps_root": 1e-16}}


def _factory_defaults(name: str) -> dict[str, Any]:
    signature = inspect.signature(optimizers.OPTIMIZERS[name])
    defaults = {key: p.default for key, p in signature.parameters.items()}
    return {**defaults, **LEVEL_DEFAULTS.get(name, {})}


@dataclasses.dataclass(frozen=True, eq=False)
class Level:
    """One level of a stack (built by ``sgd``, ``adam``, ``adagrad``, ``rmsprop`` or ``level``).

    Attributes:
      optimizer: a name in ``RULES`` (a factory of ``l2l.optimizers``).
      hyperparams: the initial value of every hyperparameter of the factory (the factory's
        defaults filled in, except ``LEVEL_DEFAULTS``); Python numbers or JAX scalars (traced
        ones too, e.g. a swept step size).
      learn: the names of the learned hyperparameters, or ``None`` for ``DEFAULT_LEARNED`` (and for
        nothing at the top of a stack).
      reparam: the parameterization of the learned hyperparameters: one name for all of them
        (``'auto'``: ``log`` for step sizes, ``sigmoid`` for decays; ``'raw'``: the paper's) or a
        mapping from hyperparameter to name (those not in it get ``'auto'``).
    """

    optimizer: str
    hyperparams: Mapping[str, Any]
    learn: tuple[str, ...] | None = None
    reparam: str | Mapping[str, str] = "auto"

    def __post_init__(self):
        if self.optimizer not in RULES:
            raise ValueError(
                f"A hyperoptimizer level cannot use optimizer {self.optimizer!r}: expected one of "
                f"{', '.join(RULES)} (update rules that read only the gradient and their state)."
            )
        accepted = _factory_defaults(self.optimizer)
        unknown = [key for key in self.hyperparams if key not in accepted]
        if unknown:
            raise TypeError(
                f"Optimizer {self.optimizer!r} has no hyperparameter "
                f"{', '.join(map(repr, unknown))}; it accepts: {', '.join(accepted)}."
            )
        object.__setattr__(self, "hyperparams", {**accepted, **self.hyperparams})
        if self.learn is not None:
            if isinstance(self.learn, str):
                raise TypeError(
                    f"`learn` must be a sequence of hyperparameter names, got the string "
                    f"{self.learn!r}; write learn=({self.learn!r},)."
                )
            object.__setattr__(self, "learn", tuple(self.learn))
            for name in self.learn:
                if name not in accepted or name == "points":
                    raise ValueError(
                        f"Optimizer {self.optimizer!r} cannot learn {name!r}: its hyperparameters "
                        f"are {', '.join(k for k in accepted if k != 'points')}."
                    )
        if not isinstance(self.reparam, str):
            object.__setattr__(self, "reparam", dict(self.reparam))
            stray = [k for k in self.reparam if k not in self.learned_names(top=False)]
            if stray:
                raise ValueError(
                    f"`reparam` names {', '.join(map(repr, stray))}, which this {self.optimizer} "
                    f"level does not learn (it learns: {', '.join(self.learned_names(top=False))})."
                )
        self.rule(self.hyperparams)  # The factory checks every concrete value's range.
        if self.learn is not None:  # Else checked by the stack, once it knows what is learned.
            self.check_learnable(self.learn)

    def learned_names(self, *, top: bool) -> tuple[str, ...]:
        """The learned hyperparameters; none at the top of a stack unless asked explicitly."""
        if self.learn is None:
            return () if top else DEFAULT_LEARNED[self.optimizer]
        return self.learn

    def check_learnable(self, names: tuple[str, ...]) -> None:
        """Raises a ``ValueError`` if an initial value is outside its parameterization's domain."""
        for name in names:
            reparam_lib.check_initial(self.parameterization(name), name, self.hyperparams[name])

    def parameterization(self, name: str) -> reparam_lib.Reparameterization:
        """How the learned hyperparameter ``name`` is stored."""
        choice = self.reparam if isinstance(self.reparam, str) else self.reparam.get(name, "auto")
        return reparam_lib.get(choice, name)

    def rule(self, values: Mapping[str, Any]) -> optax.GradientTransformationExtraArgs:
        """The update rule with hyperparameters ``values`` (Python numbers or JAX scalars)."""
        return optimizers.make(self.optimizer, **values)


def _learn_and_reparam(
    learn: Sequence[str] | Mapping[str, str] | None, reparam: str | Mapping[str, str]
) -> tuple[tuple[str, ...] | None, str | Mapping[str, str]]:
    """``learn`` may be a mapping name -> parameterization, which then overrides ``reparam``."""
    if isinstance(learn, Mapping):
        base = reparam if isinstance(reparam, str) else "auto"
        overrides = {} if isinstance(reparam, str) else dict(reparam)
        merged = {name: base for name in learn}
        merged.update({k: v for k, v in overrides.items() if k in learn})
        merged.update(learn)
        return tuple(learn), merged
    return (None if learn is None else tuple(learn)), reparam


def level(
    optimizer: str,
    *,
    learn: Sequence[str] | Mapping[str, str] | None = None,
    reparam: str | Mapping[str, str] = "auto",
    **hyperparams: Any,
) -> Level:
    """A level using any rule of ``RULES`` by name, e.g. ``level('adamax', lr=2e-3)``.

    Args:
      optimizer: the rule's name in ``l2l.optimizers.OPTIMIZERS`` (one of ``RULES``).
      learn: the hyperparameters to learn, as names (``('lr', 'b1')``) or as a mapping from name
        to parameterization (``{'lr': 'raw'}``); ``None`` for the rule's ``DEFAULT_LEARNED``.
      reparam: the parameterization of every learned hyperparameter (``'auto'``, ``'raw'``,
        ``'log'``, ``'sqrt'``, ``'sigmoid'``), or a mapping from name to parameterization.
      **hyperparams: initial values (the factory's defaults for those left out).
    """
    learn, reparam = _learn_and_reparam(learn, reparam)
    return Level(optimizer, hyperparams, learn, reparam)


def sgd(
    lr: Any = 0.01,
    gamma: Any = 0.0,
    *,
    learn: Sequence[str] | Mapping[str, str] | None = None,
    reparam: str | Mapping[str, str] = "auto",
) -> Level:
    r"""SGD, with momentum when ``gamma`` is nonzero or learned.

    .. math::
      v_t = \gamma v_{t-1} + \alpha g_t, \qquad \Delta\theta_t = -v_t

    With :math:`\gamma = 0` (not learned) this is ``l2l.optimizers.sgd(lr)``; otherwise
    ``l2l.optimizers.momentum(lr, gamma)``. Learned by default: ``('lr',)``; learning the momentum
    too is ``learn=('lr', 'gamma')`` (with the default ``sigmoid`` parameterization the initial
    ``gamma`` must lie in (0, 1)). The hypergradient of :math:`\alpha` for plain SGD is Baydin's
    :math:`-g_t \cdot g_{t-1}`.

    References:
      Baydin et al., *Online Learning Rate Adaptation with Hypergradient Descent*, ICLR 2018.
    """
    learn, reparam = _learn_and_reparam(learn, reparam)
    needs_momentum = (learn is not None and "gamma" in learn) or isinstance(gamma, jax.Array)
    if needs_momentum or gamma != 0:
        return Level("momentum", {"lr": lr, "gamma": gamma}, learn, reparam)
    return Level("sgd", {"lr": lr}, learn, reparam)


def adam(
    lr: Any = 0.001,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    eps_root: Any = 1e-16,
    *,
    learn: Sequence[str] | Mapping[str, str] | None = None,
    reparam: str | Mapping[str, str] = "auto",
) -> Level:
    r"""Adam (``l2l.optimizers.adam``); learned by default: ``('lr', 'b1', 'b2')``.

    ``eps_root`` defaults to 1e-16, not 0: a coordinate whose gradient is always 0 (a border pixel
    of MNIST) has :math:`\hat v_t = 0`, where :math:`\sqrt{\cdot}` has an infinite slope and the
    hypergradient of :math:`\beta_2` would be :math:`0 \cdot \infty`. The step is unchanged
    wherever :math:`\hat v_t \gg 10^{-16}`.

    References:
      Kingma & Ba, *Adam: A Method for Stochastic Optimization*, ICLR 2015.
    """
    learn, reparam = _learn_and_reparam(learn, reparam)
    hyperparams = {"lr": lr, "b1": b1, "b2": b2, "eps": eps, "eps_root": eps_root}
    return Level("adam", hyperparams, learn, reparam)


def adagrad(
    lr: Any = 0.01,
    eps: Any = 1e-8,
    *,
    learn: Sequence[str] | Mapping[str, str] | None = None,
    reparam: str | Mapping[str, str] = "auto",
) -> Level:
    """AdaGrad (``l2l.optimizers.adagrad``); learned by default: ``('lr',)``.

    References:
      Duchi, Hazan & Singer, *Adaptive Subgradient Methods*, JMLR 2011.
    """
    learn, reparam = _learn_and_reparam(learn, reparam)
    return Level("adagrad", {"lr": lr, "eps": eps}, learn, reparam)


def rmsprop(
    lr: Any = 0.001,
    gamma: Any = 0.9,
    eps: Any = 1e-8,
    *,
    learn: Sequence[str] | Mapping[str, str] | None = None,
    reparam: str | Mapping[str, str] = "auto",
) -> Level:
    """RMSProp (``l2l.optimizers.rmsprop``); learned by default: ``('lr', 'gamma')``.

    References:
      Tieleman & Hinton, *Lecture 6.5 - RMSProp*, 2012.
    """
    learn, reparam = _learn_and_reparam(learn, reparam)
    return Level("rmsprop", {"lr": lr, "gamma": gamma, "eps": eps}, learn, reparam)
