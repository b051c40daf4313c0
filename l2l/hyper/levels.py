r"""One level of a hyperoptimizer stack: an update rule, its hyperparameters, and what it learns.

A ``Level`` names an update rule, the initial values of its hyperparameters, and which of them are
*learned* (each with a parameterization, see ``l2l.hyper.reparam``). On its own a level is just a
description; ``l2l.hyper.stack`` turns a list of levels into one optax transform, where every level
learns the hyperparameters of the level below it and the last level's hyperparameters stay fixed.

The update rule is any optimizer *factory*, a function ``(**hyperparameters) -> optax transform``:

* a classic rule of ``l2l.optimizers`` by name (``RULES``: ``'sgd'``, ``'adam'``, ...), whose
  update reads only the gradient and its own state;
* any factory of ``optax`` or ``optax.contrib``, as a function (``optax.adamw``,
  ``optax.contrib.muon``) or by name (``'adamw'``, ``'lion'``, ``'contrib.muon'``: ``optax`` first,
  then ``optax.contrib``);
* any other function of the same shape, e.g. a learned optimizer's
  (``l2l.learned.zoo.factory('mnist-lstm')``, whose ``output_scale`` can be learned).

As ``optax.inject_hyperparams`` does, the stack builds the rule afresh from the current
hyperparameters at every step, the learned ones as JAX scalars, and differentiates the update with
respect to them. No update rule is written twice: the hypergradient of every rule comes from
automatic differentiation of the same code that makes the step.

Hyperparameters carry the factory's own names and defaults (optax's: ``learning_rate``,
``momentum``, ``decay``, ``b1``, ``b2``, ``eps``, ``weight_decay``, ...), in the initial values, in
``learn`` and in ``reparam`` alike. For the classic rules, the old names (``lr``, ``gamma``) still
work for one release, with a ``DeprecationWarning``. A learned hyperparameter is a real number
(its initial value), since the level above moves it by gradient descent; an integer, a bool, a
function (a schedule, a mask), a string or ``None`` is refused. A hyperparameter that is not
learned may be anything the factory accepts (e.g. an optax schedule for ``learning_rate``).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from l2l import optimizers
from l2l._optax_factories import find_factory
from l2l.hyper import reparam as reparam_lib
from l2l.hyper._trees import unpack
from l2l.optimizers._hyperparams import (
    accepts_old_names,
    is_schedule,
    old_names,
    rename_deprecated,
    rename_deprecated_names,
)

# The rules a level can use: those of the registry whose update needs nothing but the gradient.
RULES = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamax")

# What a level learns when ``learn`` is not given (and it is not the top of a stack): the step size.
# Chandra et al. also learn Adam's betas and RMSProp's decay (``learn=('learning_rate', 'b1',
# 'b2')``); by default we do not, since on the quadratics of ``tests/hyper/test_defaults.py`` the
# one-step hypergradients of the decays, moved as fast as the step size's, drive b1 and b2 far
# from good values while a tiny initial step size is still growing (Adam / SGD from 1e-4 times
# the best step size ended 45x above tuned Adam, against 1.5x learning the step size alone).
# Any other factory learns its ``learning_rate`` by default, where it has one.
DEFAULT_LEARNED: dict[str, tuple[str, ...]] = dict.fromkeys(RULES, ("learning_rate",))


# A level above another steps the log- or logit-coordinates of the hyperparameters below by up to
# about this much per step (see ``Level.normalize``), when its ``learning_rate`` is left unset.
UPPER_LEARNING_RATE = 0.2

# The parameterizations whose hypergradient the level above sees as a cosine by default: steps on
# them are relative changes, so a normalized step makes the rule scale-free.
SCALE_FREE = ("log", "sigmoid")

# Where a level's default differs from the factory's (see ``adam``: a finite hypergradient of b2).
LEVEL_DEFAULTS: dict[str, dict[str, Any]] = {"adam": {"eps_root": 1e-16}}

# Any other factory's ``eps_root`` (``adam_eps_root``, ...) defaulting to 0 defaults to this at a
# level: a coordinate whose gradient is always 0 has v = 0, where the square root's slope is
# infinite, and the whole-run tangents (and b2's hypergradient) would be 0 * inf (see ``adam``).
EPS_ROOT = 1e-16

#: An optimizer factory: keyword hyperparameters -> an optax transform.
Factory = Callable[..., optax.GradientTransformation]


class _Required:
    """The default of a hyperparameter the factory has none for (``optax.adamw``'s step size)."""

    def __repr__(self) -> str:
        return "<required>"


REQUIRED: Any = _Required()


def _old_names(optimizer: str | Factory) -> Mapping[str, str]:
    """The deprecated hyperparameter names of a rule (old -> new); none for other factories."""
    if isinstance(optimizer, str):
        return old_names(optimizers.OPTIMIZERS.get(optimizer))
    return old_names(optimizer)


def _factory_defaults(name: str) -> dict[str, Any]:
    signature = inspect.signature(optimizers.OPTIMIZERS[name])
    defaults = {key: p.default for key, p in signature.parameters.items()}
    return {**defaults, **LEVEL_DEFAULTS.get(name, {})}


def _canonical(optimizer: Any) -> str | Factory:
    """A name of ``RULES`` for a classic rule (by name or function), an optax name as given, or
    the factory itself; a ``ValueError`` for anything else."""
    if isinstance(optimizer, str):
        if optimizer in RULES or find_factory(optimizer) is not None:
            return optimizer
    elif callable(optimizer):
        rules = {id(optimizers.OPTIMIZERS[name]): name for name in RULES}
        if id(optimizer) in rules:
            return rules[id(optimizer)]
        if all(optimizer is not factory for factory in optimizers.OPTIMIZERS.values()):
            return optimizer
    raise ValueError(
        f"A hyperoptimizer level cannot use optimizer {optimizer!r}: expected one of "
        f"{', '.join(RULES)} (update rules that read only the gradient and their state), the name "
        f"of an optax or optax.contrib factory ('adamw', 'contrib.muon'), or a factory function."
    )


def factory_name(optimizer: str | Factory) -> str:
    """How messages and labels name a level's rule: ``'adam'``, ``'optax.adamw'``, ..."""
    if isinstance(optimizer, str):
        return optimizer
    name = getattr(optimizer, "__name__", "")
    if name and getattr(optax, name, None) is optimizer:
        return f"optax.{name}"
    if name and getattr(optax.contrib, name, None) is optimizer:
        return f"optax.contrib.{name}"
    return str(getattr(optimizer, "public_name", None) or name or repr(optimizer))


def _why_not_learnable(value: Any) -> str | None:
    """Why ``value`` cannot be the initial value of a learned hyperparameter (None if it can)."""
    if value is None:
        return "it is None (give it an initial number to learn it)"
    if isinstance(value, (bool, np.bool_)):
        return f"it is a bool ({value!r})"
    if callable(value) and not isinstance(value, (jax.Array, np.ndarray, np.generic)):
        return f"it is a function ({value!r})"
    if isinstance(value, (int, np.integer)):
        return f"it is an integer ({value!r}; write {float(value)!r} if it is a real number)"
    if not isinstance(value, (float, np.floating, np.ndarray, jax.Array)):
        return f"it is not a number ({value!r})"
    if not jnp.issubdtype(jnp.result_type(value), jnp.floating):
        return f"it is an array of {jnp.result_type(value)}, not a real number"
    if jnp.ndim(value) != 0:
        return f"it is an array of shape {jnp.shape(value)}, not a scalar"
    return None


@dataclasses.dataclass(frozen=True)
class RawUpdate:
    """A level's update as a function of the raw values of its learned hyperparameters (see
    ``Level.raw_update``): ``(phi, grads, rule_state, params) -> (step, new rule state)``, with
    ``phi`` the packed vector or the tuple of its k scalars."""

    level: Level
    names: tuple[str, ...]  # the learned hyperparameters, in the order of phi.

    #: ``phi`` may be given as a tuple of its k scalars (forward mode's per-value tangents).
    takes_coordinates = True

    @property
    def reads_params(self) -> bool:
        """Whether the step may depend on the parameters (weight decay), not only the gradient."""
        return self.level.reads_params

    def __call__(self, phi, grads, rule_state, params):
        values = self.level.values(unpack(phi, self.names))
        return self.level.rule(values).update(grads, rule_state, params)


@dataclasses.dataclass(frozen=True, eq=False)
class Level:
    r"""One level of a stack (built by ``sgd``, ``adam``, ``adagrad``, ``rmsprop`` or ``level``).

    Attributes:
      optimizer: the update rule: a name in ``RULES`` (a factory of ``l2l.optimizers``), the name
        of an optax or optax.contrib factory (``'adamw'``, ``'contrib.muon'``), or a factory
        function (``optax.lion``, a learned optimizer's ``l2l.learned.zoo.factory(name)``).
      hyperparams: the initial value of every hyperparameter of the factory, by its name (the
        factory's defaults filled in, except ``LEVEL_DEFAULTS`` and an ``eps_root`` of 0, which
        is ``EPS_ROOT`` = 1e-16 at a level); Python numbers or JAX scalars
        (traced ones too, e.g. a swept step size), or anything the factory takes for one that is
        not learned (a schedule, a mask, an integer).
      learn: the names of the learned hyperparameters, or ``None`` for ``DEFAULT_LEARNED`` (any
        other factory: its ``learning_rate``; and nothing at the top of a stack).
      reparam: the parameterization of the learned hyperparameters: one name for all of them
        (``'auto'``: ``log`` for step sizes and weight decays, ``sigmoid`` for decays; ``'raw'``:
        the paper's) or a mapping from hyperparameter to name (those not in it get ``'auto'``).
      normalize: whether the level above steps this level's learned values with their
        hypergradients normalized, :math:`g_t \cdot J_j / (\lVert g_t \rVert \max_i \lVert
        J_i \rVert) \in [-1, 1]` (:math:`J_j` the last update's tangent in the learned value
        :math:`\phi_j`); ``None`` (default): for those learned in a ``SCALE_FREE``
        parameterization (``log``, ``sigmoid``), not for ``raw`` and ``sqrt``. For a step size
        learned alone as :math:`\log\alpha` this is Baydin et al.'s multiplicative rule: SGD above
        with step :math:`\kappa` changes the step size by a factor :math:`e^{\pm\kappa}` at most
        per step, whatever the scale of the loss and of the step size.

    A ``learning_rate`` of ``None`` means "the default for where the level stands": the rule's
    own default at the bottom of a stack (an optax factory without one, ``optax.adamw``, then needs
    it given), ``UPPER_LEARNING_RATE`` (0.2) at a level above another.
    """

    optimizer: str | Factory
    hyperparams: Mapping[str, Any]
    learn: tuple[str, ...] | None = None
    reparam: str | Mapping[str, str] = "auto"
    normalize: bool | None = None

    def __post_init__(self):
        object.__setattr__(self, "optimizer", _canonical(self.optimizer))
        # Old names, when a Level is built directly (l2l.hyper.sgd, level, ... rename them first).
        renames, who = _old_names(self.optimizer), f"l2l.hyper.Level({self.name!r})"
        object.__setattr__(
            self, "hyperparams", rename_deprecated(self.hyperparams, renames, who=who)
        )
        learn, reparam = _renamed_learn_and_reparam(self.learn, self.reparam, renames, who)
        object.__setattr__(self, "learn", learn)
        object.__setattr__(self, "reparam", reparam)
        accepted = self.defaults()
        unknown = [key for key in self.hyperparams if key not in accepted]
        if unknown:
            raise TypeError(
                f"Optimizer {self.name!r} has no hyperparameter "
                f"{', '.join(map(repr, unknown))}; it accepts: {', '.join(accepted)}."
            )
        missing = [
            key
            for key, default in accepted.items()
            if default is REQUIRED and key != "learning_rate" and key not in self.hyperparams
        ]
        if missing:
            raise TypeError(
                f"Optimizer {self.name!r} has no default for {', '.join(map(repr, missing))}: "
                f"give {'it' if len(missing) == 1 else 'them'} to the level."
            )
        if self.normalize is not None and not isinstance(self.normalize, bool):
            raise TypeError(
                f"`normalize` must be True, False or None (by parameterization), got "
                f"{self.normalize!r}."
            )
        filled = {key: None if value is REQUIRED else value for key, value in accepted.items()}
        object.__setattr__(self, "hyperparams", {**filled, **self.hyperparams})
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
                        f"Optimizer {self.name!r} cannot learn {name!r}: its hyperparameters "
                        f"are {', '.join(k for k in accepted if k != 'points')}."
                    )
        if not isinstance(self.reparam, str):
            object.__setattr__(self, "reparam", dict(self.reparam))
            stray = [k for k in self.reparam if k not in self.learned_names(top=False)]
            if stray:
                raise ValueError(
                    f"`reparam` names {', '.join(map(repr, stray))}, which this {self.name} "
                    f"level does not learn (it learns: {', '.join(self.learned_names(top=False))})."
                )
        # The factory checks concrete ranges (at a step size it can be built with).
        probe = self.placed(upper=accepted.get("learning_rate") is REQUIRED)
        self.rule(probe.hyperparams)
        if self.learn is not None:  # Else checked by the stack, once it knows what is learned.
            probe.check_learnable(self.learn)

    @property
    def name(self) -> str:
        """The rule's name in messages and labels (``'adam'``, ``'optax.adamw'``, ...)."""
        return factory_name(self.optimizer)

    @property
    def factory(self) -> Factory:
        """The factory: ``(**hyperparams) -> optax transform``."""
        if isinstance(self.optimizer, str):
            if self.optimizer in RULES:
                return optimizers.OPTIMIZERS[self.optimizer]
            found = find_factory(self.optimizer)
            assert found is not None  # Checked by _canonical.
            return found
        return self.optimizer

    @property
    def reads_params(self) -> bool:
        """Whether the update may read the parameters (weight decay): any rule but ``RULES``."""
        return not (isinstance(self.optimizer, str) and self.optimizer in RULES)

    def defaults(self) -> dict[str, Any]:
        """Every hyperparameter the factory takes, with its default (``REQUIRED`` if none)."""
        if isinstance(self.optimizer, str) and self.optimizer in RULES:
            return _factory_defaults(self.optimizer)
        defaults = {
            key: REQUIRED if p.default is inspect.Parameter.empty else p.default
            for key, p in inspect.signature(self.factory).parameters.items()
            if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        }
        for key, default in defaults.items():
            if key.endswith("eps_root") and isinstance(default, float) and default == 0.0:
                defaults[key] = EPS_ROOT
        return defaults

    def placed(self, *, upper: bool) -> Level:
        """This level with a ``learning_rate`` of ``None`` given its default for where it stands:
        the rule's own default at the bottom of a stack, ``UPPER_LEARNING_RATE`` above it."""
        if self.hyperparams.get("learning_rate", 0.0) is not None:
            return self
        default = UPPER_LEARNING_RATE if upper else self.defaults()["learning_rate"]
        if default is REQUIRED:
            raise ValueError(
                f"{self.name} has no default `learning_rate`: give one, e.g. "
                f"level({self.name}, learning_rate=1e-3), at the bottom of a stack."
            )
        if default is None:
            return self
        return dataclasses.replace(self, hyperparams={**self.hyperparams, "learning_rate": default})

    def normalized(self, name: str) -> bool:
        """Whether the level above sees the hypergradient of ``name`` as a cosine (see
        ``normalize``)."""
        if self.normalize is not None:
            return self.normalize
        return self.parameterization(name).name in SCALE_FREE

    def learned_names(self, *, top: bool) -> tuple[str, ...]:
        """The learned hyperparameters; none at the top of a stack unless asked explicitly."""
        if self.learn is not None:
            return self.learn
        if top:
            return ()
        if isinstance(self.optimizer, str) and self.optimizer in DEFAULT_LEARNED:
            return DEFAULT_LEARNED[self.optimizer]
        return ("learning_rate",) if "learning_rate" in self.hyperparams else ()

    def check_learnable(self, names: tuple[str, ...]) -> None:
        """Raises a one-line ``ValueError`` if an initial value cannot be learned (a schedule, a
        function, an integer, a bool, ``None``, not a number) or lies outside its
        parameterization's domain."""
        for name in names:
            value = self.hyperparams[name]
            if is_schedule(value) and name == "learning_rate":
                raise ValueError(
                    f"This {self.name} level learns `{name}`, so `{name}` must be a number "
                    f"or a JAX scalar (its initial value), not a schedule ({value!r}): the level "
                    f"above moves a learned hyperparameter by gradient descent. Give `{name}` a "
                    f"number, leave it out of `learn`, or put this level at the top of the stack "
                    f"(whose hyperparameters are fixed)."
                )
            why = _why_not_learnable(value)
            if why is not None:
                raise ValueError(
                    f"{self.name} cannot learn `{name}`: {why}; only a real-valued "
                    f"hyperparameter can be learned, so leave `{name}` out of `learn`."
                )
            reparam_lib.check_initial(self.parameterization(name), name, value)

    def parameterization(self, name: str) -> reparam_lib.Reparameterization:
        """How the learned hyperparameter ``name`` is stored."""
        (name,) = rename_deprecated_names(
            (name,), _old_names(self.optimizer), who=f"l2l.hyper.Level({self.name!r})"
        )
        choice = self.reparam if isinstance(self.reparam, str) else self.reparam.get(name, "auto")
        return reparam_lib.get(choice, name)

    def rule(self, values: Mapping[str, Any]) -> optax.GradientTransformationExtraArgs:
        """The update rule with hyperparameters ``values`` (Python numbers or JAX scalars)."""
        if isinstance(self.optimizer, str) and self.optimizer in RULES:
            return optimizers.make(self.optimizer, **values)
        return optax.with_extra_args_support(self.factory(**values))

    def values(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        r"""Every hyperparameter of the rule: the fixed ones as given, each learned one
        :math:`h = T(\phi)` from its raw value in ``raw`` (name -> :math:`\phi`)."""
        values = dict(self.hyperparams)
        for name, phi in raw.items():
            values[name] = self.parameterization(name).forward(phi)
        return values

    def raw_update(self, names: tuple[str, ...]) -> RawUpdate:
        """This level's update as a function of the raw values of its learned hyperparameters
        ``names``, packed in one vector (in that order): ``(phi, grads, rule_state, params) ->
        (step, new rule state)``, what a hypergradient mode (``l2l.hyper.modes``) differentiates;
        its ``reads_params`` says whether the step may depend on ``params``.
        """
        return RawUpdate(self, tuple(names))


def _renamed_learn_and_reparam(
    learn: Sequence[str] | Mapping[str, str] | None,
    reparam: str | Mapping[str, str],
    renames: Mapping[str, str],
    who: str,
) -> tuple[Any, str | Mapping[str, str]]:
    """``learn`` and ``reparam`` with the old hyperparameter names replaced by the new ones."""
    if isinstance(learn, Mapping):
        learn = rename_deprecated(learn, renames, who=who)
    elif learn is not None and not isinstance(learn, str):  # A string is refused by Level.
        learn = rename_deprecated_names(tuple(learn), renames, who=who)
    if not isinstance(reparam, str):
        reparam = rename_deprecated(reparam, renames, who=who)
    return learn, reparam


def _learn_and_reparam(
    learn: Sequence[str] | Mapping[str, str] | None,
    reparam: str | Mapping[str, str],
    optimizer: str | Factory,
    who: str,
) -> tuple[tuple[str, ...] | None, str | Mapping[str, str]]:
    """``learn`` may be a mapping name -> parameterization, which then overrides ``reparam``.

    Old names (``lr``, ``gamma``) in either are replaced by optax's, with a warning.
    """
    learn, reparam = _renamed_learn_and_reparam(learn, reparam, _old_names(optimizer), who)
    if isinstance(learn, Mapping):
        base = reparam if isinstance(reparam, str) else "auto"
        overrides = {} if isinstance(reparam, str) else dict(reparam)
        merged = dict.fromkeys(learn, base)
        merged.update({k: v for k, v in overrides.items() if k in learn})
        merged.update(learn)
        return tuple(learn), merged
    return (learn if learn is None or isinstance(learn, str) else tuple(learn)), reparam


def level(
    optimizer: str | Factory,
    *,
    learn: Sequence[str] | Mapping[str, str] | None = None,
    reparam: str | Mapping[str, str] = "auto",
    normalize: bool | None = None,
    **hyperparams: Any,
) -> Level:
    r"""A level using any optimizer factory: a rule of ``RULES``, any factory of ``optax`` or
    ``optax.contrib`` (as a function or by name), or any function ``(**hyperparams) -> optax
    transform`` such as a learned optimizer's.

    The level builds the rule from its current hyperparameters at every step (as
    ``optax.inject_hyperparams`` does), the learned ones as JAX scalars, and the stack
    differentiates the update with respect to them in every hypergradient mode. For AdamW
    (``optax.adamw``) learning :math:`\alpha` and :math:`\lambda`,

    .. math::
      u_t = -\alpha \left(\frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon} + \lambda\,\theta_t
      \right), \qquad
      \frac{\partial f(\theta_{t+1})}{\partial \lambda} = -\alpha\, g_{t+1} \cdot \theta_t

    is the one-step hypergradient of the weight decay that forward mode reads off the update's
    tangent (Chandra et al., 2022, do the same for Adam's :math:`\alpha, \beta_1, \beta_2`).

    Examples:
      ``level('adamax', learning_rate=2e-3)``;
      ``level(optax.adamw, learning_rate=1e-3, weight_decay=1e-4, learn=('learning_rate',
      'weight_decay'))``; ``level('lion', learning_rate=1e-4)`` (learns its step size);
      ``level(l2l.learned.zoo.factory('mnist-lstm'), learn=('output_scale',))``.

    Args:
      optimizer: a rule of ``RULES`` by name (``l2l.optimizers``), the name of an optax factory
        (``optax``'s, then ``optax.contrib``'s; ``'contrib.NAME'`` for the latter only), or a
        factory function.
      learn: the hyperparameters to learn, as names (``('learning_rate', 'b1')``) or as a mapping
        from name to parameterization (``{'learning_rate': 'raw'}``); ``None`` for the rule's
        ``DEFAULT_LEARNED`` (any other factory: its ``learning_rate``). Each must be a real
        number: an integer, a bool, a function (a schedule, a mask) or ``None`` is refused with a
        ``ValueError`` that names it and the factory.
      reparam: the parameterization of every learned hyperparameter (``'auto'``, ``'raw'``,
        ``'log'``, ``'sqrt'``, ``'sigmoid'``), or a mapping from name to parameterization.
      **hyperparams: initial values by the factory's names (its defaults for those left out); a
        ``learning_rate`` left out defaults by where the level stands (see ``Level``). For the
        classic rules the old names (``lr``, ``gamma``) are accepted for one release, with a
        warning.

    References:
      Chandra, Xie, Ragan-Kelley & Meijer, *Gradient Descent: The Ultimate Optimizer*,
      NeurIPS 2022; Loshchilov & Hutter, *Decoupled Weight Decay Regularization*, ICLR 2019.
    """
    optimizer = _canonical(optimizer)
    who = f"l2l.hyper.level({factory_name(optimizer)!r})"
    hyperparams = rename_deprecated(hyperparams, _old_names(optimizer), who=who)
    if isinstance(optimizer, str) and optimizer in RULES:
        takes_rate = True
    else:
        factory = find_factory(optimizer) if isinstance(optimizer, str) else optimizer
        takes_rate = "learning_rate" in inspect.signature(factory).parameters
    if takes_rate:
        hyperparams.setdefault("learning_rate", None)  # Its default depends on where it stands.
    learn, reparam = _learn_and_reparam(learn, reparam, optimizer, who)
    return Level(optimizer, hyperparams, learn, reparam, normalize)


@accepts_old_names("l2l.hyper", lr="learning_rate", gamma="momentum")
def sgd(
    learning_rate: Any = None,
    momentum: Any = 0.0,
    *,
    learn: Sequence[str] | Mapping[str, str] | None = None,
    reparam: str | Mapping[str, str] = "auto",
    normalize: bool | None = None,
) -> Level:
    r"""SGD, with momentum when ``momentum`` is nonzero or learned.

    .. math::
      v_t = \gamma v_{t-1} + \alpha g_t, \qquad \Delta\theta_t = -v_t

    with ``learning_rate`` (:math:`\alpha`) and ``momentum`` (:math:`\gamma`). With
    :math:`\gamma = 0` (not learned) this is ``l2l.optimizers.sgd(learning_rate)``; otherwise
    ``l2l.optimizers.momentum(learning_rate, momentum)``. Learned by default:
    ``('learning_rate',)``; learning the momentum too is ``learn=('learning_rate', 'momentum')``
    (with the default ``sigmoid`` parameterization the initial ``momentum`` must lie in (0, 1)).
    The hypergradient of :math:`\alpha` for plain SGD is Baydin's :math:`-g_t \cdot g_{t-1}`.

    References:
      Baydin et al., *Online Learning Rate Adaptation with Hypergradient Descent*, ICLR 2018.
    """
    learn, reparam = _learn_and_reparam(learn, reparam, "momentum", "l2l.hyper.sgd")
    needs_momentum = (learn is not None and "momentum" in learn) or isinstance(momentum, jax.Array)
    if needs_momentum or momentum != 0:
        return Level(
            "momentum",
            {"learning_rate": learning_rate, "momentum": momentum},
            learn,
            reparam,
            normalize,
        )
    return Level("sgd", {"learning_rate": learning_rate}, learn, reparam, normalize)


@accepts_old_names("l2l.hyper", lr="learning_rate")
def adam(
    learning_rate: Any = None,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    eps_root: Any = 1e-16,
    *,
    learn: Sequence[str] | Mapping[str, str] | None = None,
    reparam: str | Mapping[str, str] = "auto",
    normalize: bool | None = None,
) -> Level:
    r"""Adam (``l2l.optimizers.adam``); learned by default: ``('learning_rate',)`` (see
    ``DEFAULT_LEARNED``). Chandra et al.'s Adam learns its betas too:
    ``learn=('learning_rate', 'b1', 'b2')``.

    ``eps_root`` defaults to 1e-16, not 0: a coordinate whose gradient is always 0 (a border pixel
    of MNIST) has :math:`\hat v_t = 0`, where :math:`\sqrt{\cdot}` has an infinite slope and the
    hypergradient of :math:`\beta_2` would be :math:`0 \cdot \infty`. The step is unchanged
    wherever :math:`\hat v_t \gg 10^{-16}`.

    References:
      Kingma & Ba, *Adam: A Method for Stochastic Optimization*, ICLR 2015.
    """
    learn, reparam = _learn_and_reparam(learn, reparam, "adam", "l2l.hyper.adam")
    hyperparams = {
        "learning_rate": learning_rate,
        "b1": b1,
        "b2": b2,
        "eps": eps,
        "eps_root": eps_root,
    }
    return Level("adam", hyperparams, learn, reparam, normalize)


@accepts_old_names("l2l.hyper", lr="learning_rate")
def adagrad(
    learning_rate: Any = None,
    eps: Any = 1e-8,
    *,
    learn: Sequence[str] | Mapping[str, str] | None = None,
    reparam: str | Mapping[str, str] = "auto",
    normalize: bool | None = None,
) -> Level:
    """AdaGrad (``l2l.optimizers.adagrad``); learned by default: ``('learning_rate',)``.

    References:
      Duchi, Hazan & Singer, *Adaptive Subgradient Methods*, JMLR 2011.
    """
    learn, reparam = _learn_and_reparam(learn, reparam, "adagrad", "l2l.hyper.adagrad")
    return Level("adagrad", {"learning_rate": learning_rate, "eps": eps}, learn, reparam, normalize)


@accepts_old_names("l2l.hyper", lr="learning_rate", gamma="decay")
def rmsprop(
    learning_rate: Any = None,
    decay: Any = 0.9,
    eps: Any = 1e-8,
    *,
    learn: Sequence[str] | Mapping[str, str] | None = None,
    reparam: str | Mapping[str, str] = "auto",
    normalize: bool | None = None,
) -> Level:
    """RMSProp (``l2l.optimizers.rmsprop``); learned by default: ``('learning_rate',)`` (see
    ``DEFAULT_LEARNED``). Chandra et al.'s RMSProp learns its decay too:
    ``learn=('learning_rate', 'decay')``.

    References:
      Tieleman & Hinton, *Lecture 6.5 - RMSProp*, 2012.
    """
    learn, reparam = _learn_and_reparam(learn, reparam, "rmsprop", "l2l.hyper.rmsprop")
    hyperparams = {"learning_rate": learning_rate, "decay": decay, "eps": eps}
    return Level("rmsprop", hyperparams, learn, reparam, normalize)
