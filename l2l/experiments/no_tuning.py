r"""``l2l no-tuning``: which optimizer needs no tuning? Hyperoptimizer stacks against the
parameter-free family, on Fashion-MNIST, ``configs/no_tuning.yaml``.

The promise of Chandra et al. (2022) is that a short stack with a fixed step at the top makes
training insensitive to the initial hyperparameters; the parameter-free optimizers of
``optax.contrib`` (Prodigy, D-Adaptation, DoG, Mechanic, COCOB, schedule-free AdamW) make the same
promise another way. This experiment puts both families side by side on one problem:

* **Problem.** Chandra et al.'s MLP 784-128 (tanh)-10 (or any ``task`` of kind ``mlp`` or
  ``conv``), minibatches of 256 drawn with replacement from the 55,000 training images of
  Fashion-MNIST (the official 60,000-image training split less a seeded 5,000-image validation
  carve, :func:`l2l.data.load_dataset`); every run is scored on the official 10,000-image test
  split. The final training loss is the cross-entropy over all 55,000 training images.
* **Tuning (the reference).** Plain ``optax.sgd`` and ``optax.adam`` run on a log grid of step
  sizes (``tuning``) with their own seeds; the step size :math:`\alpha^*` with the lowest final
  *validation* loss (mean over the tuning seeds; ``tuning.metric``) is each one's tuned step size.
  Nothing of the test split is seen before the runs are scored.
* **Contenders** (``contenders``), each run from its **defaults** (what a user gets without tuning:
  the factory's own default of the swept argument, e.g. Adam's 1e-3, the bottom rule's default
  for a stack, ``optax.contrib``'s defaults) and from **bad starts**: the swept argument set to
  :math:`m \times` its reference for every ``multipliers`` :math:`m` (default
  :math:`10^{-3} \dots 10`), the reference being the tuned step size of plain SGD or Adam, or the
  argument's default. Plain SGD and Adam at :math:`m \alpha^*` are the failure hyperoptimizers are
  meant to fix; their :math:`m = 1` runs are the tuned references. A stack starts its bottom step
  size at :math:`m \alpha^*` and learns it (``hyper.stack`` with its defaults: :math:`\log\alpha`
  learned by SGD(0.2) on the normalized hypergradient, the divergence guard on), one-step
  (``mode: forward``) or through the whole run (``mode: run``, discount :math:`\mu`).
* **Numbers.** For every run cell (contender x start): test error and final training loss (mean and
  sample sd over ``seeds``), the gap to tuned Adam (paired seed by seed), the step size of the last
  update where the optimizer has one (a stack's bottom step size; Prodigy's and D-Adaptation's
  ``learning_rate`` x d; DoG's; Mechanic's inner step size x its scale), and for a stack how often
  the divergence guard cut the step size and how many hyper-steps were skipped (a non-finite
  hypergradient leaves the step size where it is).
  Per contender: the worst test error over the starts, the spread of the final training loss over
  the starts (:math:`\log_{10}` max / min of the per-start medians over seeds; a start whose median
  diverged is counted apart), and the wall time per step relative to plain Adam (a jitted run of
  each, timed right after plain Adam at its tuned step size, ``timing.repeats`` times; the median
  of the paired ratios, robust to a shared CPU's drifting load).
* **Most robust** is the contender with the lowest worst-case test error over its defaults and all
  its starts (each start's mean over seeds), among those swept over the starts.

Seed :math:`k` of every contender is the same: its first key draws the initial weights, its second
the minibatch stream (step :math:`t`'s minibatch from ``fold_in(stream key, t)``), so every
difference between contenders is paired. Every run of a contender (all starts, all seeds) is one
jitted program, a ``lax.scan`` over the steps ``vmap`` ped over starts and seeds. The shipped
config (17 contenders, 5 starts, 5 seeds, 430 steps) takes about 13 minutes on a 2-core CPU; the
``conv`` task runs about 250 times slower per step there (0.4 s), so it is a config override for
an accelerator, not the default.

References:
  Chandra, Xie, Ragan-Kelley & Meijer, *Gradient Descent: The Ultimate Optimizer*, NeurIPS 2022;
  Mishchenko & Defazio, *Prodigy: An Expeditiously Adaptive Parameter-Free Learner*, ICML 2024;
  Defazio & Mishchenko, *Learning-Rate-Free Learning by D-Adaptation*, ICML 2023;
  Ivgi, Hinder & Carmon, *DoG is SGD's Best Friend: A Parameter-Free Dynamic Step Size Schedule*,
  ICML 2023; Cutkosky, Defazio & Mehta, *Mechanic: A Learning Rate Tuner*, NeurIPS 2023;
  Orabona & Tommasi, *Training Deep Networks without Learning Rates Through Coin Betting*,
  NeurIPS 2017; Defazio et al., *The Road Less Scheduled*, NeurIPS 2024; Xiao, Rasul & Vollgraf,
  *Fashion-MNIST*, 2017.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from l2l import hyper, unroll
from l2l._suggest import did_you_mean
from l2l.config import field, save, to_dict
from l2l.experiments.seeds import Stats
from l2l.plots import hyper as hyper_plots
from l2l.tasks import ConvConfig, MLPConfig, TaskConfig

# --------------------------------------------------------------------------- the optimizers


def _sgd(learning_rate=0.01, momentum=None):
    """``optax.sgd``; the default step size is ``l2l.optimizers.sgd``'s (and Keras's), 0.01."""
    return optax.sgd(learning_rate, momentum)


def _adam(learning_rate=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    """``optax.adam``; the default step size is Kingma & Ba's, 1e-3."""
    return optax.adam(learning_rate, b1, b2, eps)


def _prodigy(learning_rate=1.0, b1=0.9, b2=0.999, eps=1e-8, estim_lr0=1e-6, weight_decay=0.0):
    """``optax.contrib.prodigy``; ``estim_lr0`` is the initial step-size estimate d0."""
    return optax.contrib.prodigy(
        learning_rate, (b1, b2), eps=eps, estim_lr0=estim_lr0, weight_decay=weight_decay
    )


def _dadapt_adamw(learning_rate=1.0, b1=0.9, b2=0.999, eps=1e-8, estim_lr0=1e-6, weight_decay=0.0):
    """``optax.contrib.dadapt_adamw``; ``estim_lr0`` is the initial step-size estimate d0."""
    return optax.contrib.dadapt_adamw(
        learning_rate, (b1, b2), eps=eps, estim_lr0=estim_lr0, weight_decay=weight_decay
    )


def _dog(learning_rate=1.0, reps_rel=1e-6, init_learning_rate=None, eps=1e-8):
    """``optax.contrib.dog``: ``init_step=('heuristic', reps_rel)`` (r_eps = reps_rel (1 +
    ||x0||), the default), or ``('learning_rate', init_learning_rate)`` when that is given (the
    first step's size eta_0)."""
    init_step = (
        ("heuristic", reps_rel)
        if init_learning_rate is None
        else ("learning_rate", init_learning_rate)
    )
    return optax.contrib.dog(learning_rate, init_step=init_step, eps=eps)


def _mechanic_adam(learning_rate=1.0, b1=0.9, b2=0.999, weight_decay=0.01, s_init=1e-6):
    """``optax.contrib.mechanize(optax.adam(learning_rate, b1, b2))``; ``learning_rate`` is the
    inner Adam's (optax's docstring: "base learning rate set to 1.0", which Mechanic rescales)."""
    return optax.contrib.mechanize(
        optax.adam(learning_rate, b1, b2), weight_decay=weight_decay, s_init=s_init
    )


def _cocob(learning_rate=1.0, alpha=100.0, eps=1e-8, weight_decay=0.0):
    """``optax.contrib.cocob``."""
    return optax.contrib.cocob(learning_rate, alpha, eps, weight_decay)


def _schedule_free_adamw(
    learning_rate=0.0025, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0, weight_lr_power=2.0
):
    """``optax.contrib.schedule_free_adamw`` (no warmup); scored at its averaged point
    (``optax.contrib.schedule_free_eval_params``)."""
    return optax.contrib.schedule_free_adamw(
        learning_rate,
        b1=b1,
        b2=b2,
        eps=eps,
        weight_decay=weight_decay,
        weight_lr_power=weight_lr_power,
    )


def _find(opt_state, state_type):
    """The one node of type ``state_type`` in an optimizer state (e.g. inside a chain)."""
    found = [
        x
        for x in jax.tree.leaves(opt_state, is_leaf=lambda n: isinstance(n, state_type))
        if isinstance(x, state_type)
    ]
    return found[0]


def _d_times(kwargs, state_type):
    """Prodigy's and D-Adaptation's step size: learning_rate x the estimate d."""
    return lambda s: kwargs["learning_rate"] * _find(s, state_type).estim_lr


def _dog_step(kwargs):
    """DoG's step size of its last update, max_k ||x_k - x_0|| / sqrt(sum_k ||g_k||^2)."""

    def step_size(s):
        dog = _find(s, optax.contrib.DoGState)
        return (
            kwargs["learning_rate"] * dog.max_dist / jnp.sqrt(dog.sum_sq_norm_grads + kwargs["eps"])
        )

    return step_size


def _mechanic_step(kwargs):
    """Mechanic's step size: the inner Adam's times the learned scale, sum of s over the betas."""
    return lambda s: kwargs["learning_rate"] * jnp.sum(_find(s, optax.contrib.MechanicState).s)


class Factory(NamedTuple):
    """An optimizer a contender may name: ``make(**arguments)``, whose Python defaults are the
    optimizer's defaults; optionally ``step_size(arguments)`` (all of them, defaults filled in)
    -> a reader of the current step size from the optimizer's state; and the parameters a run is
    scored at, ``eval_params(state, params)``."""

    make: Callable[..., optax.GradientTransformation]
    step_size: Callable[[dict], Callable[[Any], jax.Array]] | None = None
    eval_params: Callable[[Any, Any], Any] | None = None


def _constant(kwargs):
    """A fixed step size: the ``learning_rate`` argument's value."""
    return lambda s: jnp.asarray(kwargs["learning_rate"], jnp.float32)


#: The optimizers a contender may name with ``optimizer:`` (a stack names ``stack:`` instead).
OPTIMIZERS: dict[str, Factory] = {
    "sgd": Factory(_sgd, _constant),
    "adam": Factory(_adam, _constant),
    "prodigy": Factory(_prodigy, lambda kw: _d_times(kw, optax.contrib.ProdigyState)),
    "dadapt_adamw": Factory(_dadapt_adamw, lambda kw: _d_times(kw, optax.contrib.DAdaptAdamWState)),
    "dog": Factory(_dog, _dog_step),
    "mechanic_adam": Factory(_mechanic_adam, _mechanic_step),
    "cocob": Factory(_cocob),
    "schedule_free_adamw": Factory(
        _schedule_free_adamw,
        _constant,
        optax.contrib.schedule_free_eval_params,
    ),
}

#: The rules a stack's levels may use, each with l2l.hyper's defaults for where it stands.
LEVELS = {"sgd": hyper.sgd, "adam": hyper.adam, "adagrad": hyper.adagrad, "rmsprop": hyper.rmsprop}


def arguments(optimizer: str) -> dict[str, Any]:
    """The arguments a config may set for ``optimizer``, with their defaults (None: not set)."""
    params = inspect.signature(OPTIMIZERS[optimizer].make).parameters
    return {name: p.default for name, p in params.items()}


# --------------------------------------------------------------------------- configs


@dataclasses.dataclass(frozen=True)
class ContenderConfig:
    """One contender: an optimizer of :data:`OPTIMIZERS` (``optimizer``) or a hyperoptimizer stack
    (``stack``: rule names bottom first, e.g. ``[adam, sgd]``, each level with ``l2l.hyper``'s
    defaults), its fixed ``hyperparams``, and the argument ``sweep`` that the bad starts set to
    ``multiplier x reference``: ``reference`` is the tuned step size of plain ``sgd`` or ``adam``,
    or the argument's ``default`` (``auto``: the tuned step size of the optimizer itself, or of a
    stack's bottom rule, where that is SGD or Adam; else the default). ``sweep: null``: the
    defaults only. For a stack, ``sweep`` is
    ``learning_rate`` (the bottom's initial step size), ``hyperparams`` go to the bottom level, and
    ``mode`` (``forward``: one-step; ``run``: whole-run, with ``discount``) is ``hyper.stack``'s.
    """

    name: str
    optimizer: str | None = None
    stack: tuple[str, ...] = ()
    mode: Literal["forward", "reverse", "run"] = "forward"
    discount: float = field(0.99, ge=0.0, le=1.0, help="mode run only")
    hyperparams: dict[str, float] = field({})
    sweep: str | None = "learning_rate"
    reference: Literal["auto", "sgd", "adam", "default"] = "auto"

    def __post_init__(self):
        if (self.optimizer is None) == (not self.stack):
            raise ValueError(
                f"contender {self.name!r}: give either `optimizer` (one of "
                f"{', '.join(OPTIMIZERS)}) or `stack` (rule names bottom first, e.g. [adam, sgd])"
            )
        if self.stack:
            self._check_stack()
        else:
            self._check_optimizer()
        if self.sweep is None:
            return
        if self.source == "default" and self.default_value() is None:
            raise ValueError(
                f"contender {self.name!r}: reference 'default' needs a default value of "
                f"{self.sweep!r}, which has none; use reference sgd or adam"
            )
        self.build(self.reference_value({"sgd": 0.01, "adam": 1e-3}))  # Checks the values.

    def _check_optimizer(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"contender {self.name!r}: unknown optimizer {self.optimizer!r}."
                f"{did_you_mean(self.optimizer, OPTIMIZERS)} Known: {', '.join(OPTIMIZERS)}"
            )
        accepted = arguments(self.optimizer)
        for key in [*self.hyperparams, *([self.sweep] if self.sweep else [])]:
            if key not in accepted:
                raise ValueError(
                    f"contender {self.name!r}: {self.optimizer} has no argument {key!r}."
                    f"{did_you_mean(key, accepted)} It accepts: {', '.join(accepted)}"
                )
        if self.sweep in self.hyperparams:
            raise ValueError(
                f"contender {self.name!r}: {self.sweep!r} is swept, so it cannot also be fixed "
                "in `hyperparams`"
            )
        self.build(None)  # The factory checks the fixed values.

    def _check_stack(self) -> None:
        if len(self.stack) < 2:
            raise ValueError(
                f"contender {self.name!r}: a stack needs two levels or more (one level is the "
                f"plain optimizer: use `optimizer: {self.stack[0] if self.stack else 'adam'}`)"
            )
        for rule in self.stack:
            if rule not in LEVELS:
                raise ValueError(
                    f"contender {self.name!r}: a stack level cannot be {rule!r}."
                    f"{did_you_mean(rule, LEVELS)} Known: {', '.join(LEVELS)}"
                )
        if self.sweep not in (None, "learning_rate"):
            raise ValueError(
                f"contender {self.name!r}: a stack sweeps its bottom's initial `learning_rate`, "
                f"not {self.sweep!r}"
            )
        if "learning_rate" in self.hyperparams:
            raise ValueError(
                f"contender {self.name!r}: the bottom's initial `learning_rate` is the default or "
                "a swept start, not a fixed hyperparameter"
            )
        try:
            self.build(None)
        except TypeError as err:
            raise ValueError(f"contender {self.name!r}: {err}") from None

    @property
    def source(self) -> str:
        """What ``reference`` resolves to: ``auto`` is the tuned step size of a plain SGD or Adam
        (of a stack's bottom rule, when SGD or Adam), else the swept argument's default."""
        if self.reference != "auto":
            return self.reference
        rule = self.stack[0] if self.stack else self.optimizer
        return rule if rule in ("sgd", "adam") and self.sweep == "learning_rate" else "default"

    @property
    def family(self) -> str:
        """``stack``, ``plain`` (optax.sgd / optax.adam) or ``parameter-free``."""
        if self.stack:
            return "stack"
        return "plain" if self.optimizer in ("sgd", "adam") else "parameter-free"

    def default_value(self) -> float | None:
        """The swept argument's default (None: the optimizer has none; it is then not passed)."""
        if self.sweep is None:
            return None
        if self.stack:
            bottom = LEVELS[self.stack[0]](**self.hyperparams).placed(upper=False)
            return float(bottom.hyperparams["learning_rate"])
        default = arguments(self.optimizer)[self.sweep]
        return None if default is None else float(default)

    def reference_value(self, tuned: dict[str, float]) -> float | None:
        """What the multipliers multiply: a tuned step size or the argument's default."""
        if self.sweep is None:
            return None
        return self.default_value() if self.source == "default" else tuned[self.source]

    def build(self, value: Any) -> optax.GradientTransformationExtraArgs:
        """The optimizer with the swept argument set to ``value`` (None: its default)."""
        given = {} if value is None or self.sweep is None else {self.sweep: value}
        if self.stack:
            bottom = LEVELS[self.stack[0]](**self.hyperparams, **given)
            upper = [LEVELS[rule]() for rule in self.stack[1:]]
            options = {"mode": self.mode}
            if self.mode == "run":
                options["discount"] = self.discount
            return hyper.stack(bottom, *upper, **options)
        return optax.with_extra_args_support(
            OPTIMIZERS[self.optimizer].make(**self.hyperparams, **given)
        )

    def step_size(self, value: Any) -> Callable[[Any], jax.Array] | None:
        """optimizer state -> the step size of the last update, where the optimizer has one."""
        if self.stack:
            return lambda s: hyper.hyperparams(s)[0]["learning_rate"]
        given = {} if value is None or self.sweep is None else {self.sweep: value}
        reader = OPTIMIZERS[self.optimizer].step_size
        if reader is None:
            return None
        return reader({**arguments(self.optimizer), **self.hyperparams, **given})

    def scored_params(self, opt_state, params):
        """The parameters a run is scored at (schedule-free: its averaged point)."""
        evaluate = None if self.stack else OPTIMIZERS[self.optimizer].eval_params
        return params if evaluate is None else evaluate(opt_state, params)


def _plain(name, optimizer, reference):
    return ContenderConfig(name, optimizer=optimizer, reference=reference)


def _stack(name, rules, mode):
    return ContenderConfig(name, stack=rules, mode=mode, reference=rules[0])


def _free(name, optimizer, sweep, reference):
    return ContenderConfig(name, optimizer=optimizer, sweep=sweep, reference=reference)


DEFAULT_CONTENDERS = (
    _plain("SGD", "sgd", "sgd"),
    _plain("Adam", "adam", "adam"),
    _stack("SGD / SGD, one-step", ("sgd", "sgd"), "forward"),
    _stack("SGD / SGD, whole run", ("sgd", "sgd"), "run"),
    _stack("Adam / SGD, one-step", ("adam", "sgd"), "forward"),
    _stack("Adam / SGD, whole run", ("adam", "sgd"), "run"),
    _stack("Adam / Adam / SGD, one-step", ("adam", "adam", "sgd"), "forward"),
    _stack("Adam / Adam / SGD, whole run", ("adam", "adam", "sgd"), "run"),
    _free("Prodigy, d0 = m α*", "prodigy", "estim_lr0", "adam"),
    _free("Prodigy, lr = m", "prodigy", "learning_rate", "default"),
    _free("D-Adapt Adam, d0 = m α*", "dadapt_adamw", "estim_lr0", "adam"),
    _free("D-Adapt Adam, lr = m", "dadapt_adamw", "learning_rate", "default"),
    _free("DoG, η0 = m α*(SGD)", "dog", "init_learning_rate", "sgd"),
    _free("DoG, reps_rel = m 1e-6", "dog", "reps_rel", "default"),
    _free("Mechanic(Adam), inner α = m α*", "mechanic_adam", "learning_rate", "adam"),
    _free("COCOB", "cocob", None, "default"),
    _free("Schedule-free AdamW, α = m α*", "schedule_free_adamw", "learning_rate", "adam"),
)


@dataclasses.dataclass(frozen=True)
class TuningConfig:
    """The log grid on which plain SGD and Adam are tuned, and what picks the best step size."""

    lr_min: float = field(1e-4, gt=0)
    lr_max: float = field(10.0, gt=0)
    num_lrs: int = field(11, ge=2)
    seeds: int = field(2, ge=1, help="tuning seeds, apart from the reported ones")
    metric: Literal["validation_loss", "train_loss"] = "validation_loss"

    def __post_init__(self):
        if self.lr_max <= self.lr_min:
            raise ValueError(f"lr_max ({self.lr_max}) must exceed lr_min ({self.lr_min})")

    def grid(self) -> np.ndarray:
        return np.geomspace(self.lr_min, self.lr_max, self.num_lrs)


@dataclasses.dataclass(frozen=True)
class TimingConfig:
    """Time per step: a jitted run of ``steps`` steps of each contender, right after plain Adam's,
    ``repeats`` times."""

    enabled: bool = True
    steps: int = field(200, ge=1)
    repeats: int = field(5, ge=1)


def _default_task() -> MLPConfig:
    return MLPConfig(
        hidden_sizes=(128,),
        activation="tanh",
        batch_size=256,
        dataset="fashion-mnist",
    )


@dataclasses.dataclass(frozen=True)
class Config:
    """``l2l no-tuning``: every contender from its defaults and from bad starts; see the module
    docstring. ``steps`` (None: ``epochs`` epochs of the training split) overrides ``epochs``."""

    task: TaskConfig = field(_default_task())
    seeds: int = field(5, ge=1)
    seed: int = field(0, ge=0)
    epochs: int = field(2, ge=1)
    steps: int | None = field(None, ge=1, help="None: epochs x ceil(N / batch_size)")
    multipliers: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
    tuning: TuningConfig = field(TuningConfig())
    timing: TimingConfig = field(TimingConfig())
    contenders: tuple[ContenderConfig, ...] = field(DEFAULT_CONTENDERS)
    output_dir: str = "runs/no_tuning"

    def __post_init__(self):
        if not isinstance(self.task, (MLPConfig, ConvConfig)):
            raise TypeError(f"task.kind must be 'mlp' or 'conv', got {self.task.kind!r}")
        if self.task.split != "train":
            raise ValueError(
                f"task.split is {self.task.split!r}: train on 'train' (validation tunes the "
                "baselines, the test split scores every run)"
            )
        if not self.multipliers or any(m <= 0 for m in self.multipliers):
            raise ValueError(f"multipliers must be positive, got {list(self.multipliers)}")
        if 1.0 not in self.multipliers:
            raise ValueError(
                f"multipliers must include 1 (the tuned step size itself), got "
                f"{list(self.multipliers)}"
            )
        names = [c.name for c in self.contenders]
        if len(set(names)) != len(names):
            raise ValueError(f"contender names must be unique, got {names}")
        if tuned_adam(self) is None:
            raise ValueError(
                "contenders must include plain Adam swept from the tuned step size (`optimizer: "
                "adam, sweep: learning_rate, reference: adam`): the reference of every gap"
            )


def tuned_adam(cfg: Config) -> ContenderConfig | None:
    """The contender whose m = 1 start is tuned Adam, the reference of every gap."""
    for c in cfg.contenders:
        plain = c.optimizer == "adam" and not c.hyperparams
        if plain and c.sweep == "learning_rate" and c.source == "adam":
            return c
    return None


# --------------------------------------------------------------------------- the report


@dataclasses.dataclass
class Cell:
    """The runs of one contender from one start, one per seed."""

    start: str  # "default", or the multiplier as text ("0.001")
    multiplier: float | None  # None for the default start
    value: float | None  # the swept argument's value (None: not passed, the optimizer's default)
    test_error: Stats  # % of the test split misclassified
    train_loss: Stats  # cross-entropy on the whole training split at the end (inf: diverged)
    validation_loss: Stats
    gap: Stats | None  # test error minus tuned Adam's, seed by seed (points)
    diverged: int  # seeds whose final training loss is not finite
    step_size: Stats | None  # the step size of the last update, where the optimizer has one
    step_size_trace: list[float] | None  # its median over seeds at each tenth of the run
    guard_cuts: Stats | None  # stacks: how often the divergence guard cut the bottom step size
    skipped: Stats | None  # stacks: the bottom's hyper-steps skipped (non-finite hypergradient)
    loss_curve: list[float]  # mean minibatch loss of each tenth of the run (mean over seeds)

    @property
    def median_train_loss(self) -> float:
        return float(np.median(self.train_loss.per_seed))

    def to_json(self) -> dict:
        return {
            "start": self.start,
            "multiplier": self.multiplier,
            "value": self.value,
            "test_error": self.test_error.to_json(),
            "train_loss": self.train_loss.to_json(),
            "validation_loss": self.validation_loss.to_json(),
            "gap": None if self.gap is None else self.gap.to_json(),
            "diverged": self.diverged,
            "step_size": None if self.step_size is None else self.step_size.to_json(),
            "step_size_trace": self.step_size_trace,
            "guard_cuts": None if self.guard_cuts is None else self.guard_cuts.to_json(),
            "skipped": None if self.skipped is None else self.skipped.to_json(),
            "loss_curve": self.loss_curve,
        }


@dataclasses.dataclass
class Result:
    """One contender: its default start, its bad starts and what they add up to."""

    name: str
    contender: ContenderConfig
    family: str
    reference_value: float | None  # what the multipliers multiply
    default: Cell
    starts: list[Cell]  # one per multiplier (none when not swept)
    worst_test_error: float  # the highest mean test error over the default and all starts
    worst_start: str
    test_error_range: float | None  # max - min of the starts' mean test errors (points)
    spread_decades: float | None  # log10(max / min) of the starts' finite median train losses
    diverged_starts: int  # starts whose median final training loss is not finite
    seconds: float
    ms_per_step: float | None = None  # fastest timed run
    time_ratio: Stats | None = None  # paired ratios to plain Adam's time, one per repeat

    @property
    def median_time_ratio(self) -> float | None:
        """The median of the paired ratios (robust to a shared CPU's load)."""
        return None if self.time_ratio is None else float(np.median(self.time_ratio.per_seed))

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "contender": to_dict(self.contender),
            "family": self.family,
            "reference_value": self.reference_value,
            "default": self.default.to_json(),
            "starts": [cell.to_json() for cell in self.starts],
            "worst_test_error": self.worst_test_error,
            "worst_start": self.worst_start,
            "test_error_range": self.test_error_range,
            "spread_decades": self.spread_decades,
            "diverged_starts": self.diverged_starts,
            "seconds": self.seconds,
            "ms_per_step": self.ms_per_step,
            "time_ratio": None if self.time_ratio is None else self.time_ratio.to_json(),
            "median_time_ratio": self.median_time_ratio,
        }


@dataclasses.dataclass
class Tuning:
    """One plain optimizer's tuning grid."""

    optimizer: str
    grid: list[float]
    validation_loss: list[float]  # mean over the tuning seeds, one per step size
    train_loss: list[float]
    metric: str
    best: float
    at_edge: bool  # the best step size is an end of the grid: widen the grid

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Report:
    config: Config
    data: str
    num_train: int
    num_validation: int
    num_test: int
    steps: int
    device: str
    tuning: dict[str, Tuning]
    results: list[Result]
    most_robust: str | None
    timing_minutes: float
    minutes: float

    def to_json(self) -> dict:
        return {
            "config": to_dict(self.config),
            "data": self.data,
            "num_train": self.num_train,
            "num_validation": self.num_validation,
            "num_test": self.num_test,
            "steps": self.steps,
            "device": self.device,
            "tuning": {k: v.to_json() for k, v in self.tuning.items()},
            "results": [r.to_json() for r in self.results],
            "most_robust": self.most_robust,
            "timing_minutes": self.timing_minutes,
            "minutes": self.minutes,
        }


# --------------------------------------------------------------------------- running

EVAL_CHUNK = 2500  # examples per forward pass when scoring a whole split


class Split(NamedTuple):
    """A split cut into equal chunks (zero-padded; ``weights`` 0 on the padding)."""

    images: jax.Array  # (chunks, EVAL_CHUNK, features)
    labels: jax.Array  # (chunks, EVAL_CHUNK)
    weights: jax.Array  # (chunks, EVAL_CHUNK) 1.0 on real examples

    @classmethod
    def of(cls, images, labels, chunk: int = EVAL_CHUNK) -> Split:
        images, labels = np.asarray(images, np.float32), np.asarray(labels, np.int32)
        n = labels.shape[0]
        chunk = min(chunk, n)
        pad = (-n) % chunk
        weights = np.concatenate([np.ones(n, np.float32), np.zeros(pad, np.float32)])
        images = np.concatenate([images, np.zeros((pad, images.shape[1]), np.float32)])
        labels = np.concatenate([labels, np.zeros(pad, np.int32)])
        return cls(
            jnp.asarray(images.reshape(-1, chunk, images.shape[1])),
            jnp.asarray(labels.reshape(-1, chunk)),
            jnp.asarray(weights.reshape(-1, chunk)),
        )


class Data(NamedTuple):
    """The training task (its data set on device) and the splits every run is scored on."""

    task: Any
    train: Split
    validation: Split
    test: Split


def _split_score(task, params, split: Split) -> tuple[jax.Array, jax.Array]:
    """(mean cross-entropy, error rate) of ``params`` on a whole split, chunk by chunk."""

    def chunk(args):
        images, labels, weights = args
        logits = task.logits(params, images)
        nll = -jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=-1)[:, 0]
        wrong = (jnp.argmax(logits, axis=-1) != labels).astype(jnp.float32)
        return jnp.sum(weights * nll), jnp.sum(weights * wrong)

    nll, wrong = jax.lax.map(chunk, tuple(split))
    n = jnp.sum(split.weights)
    return jnp.sum(nll) / n, jnp.sum(wrong) / n


@jax.jit
def _score(data: Data, params) -> jax.Array:
    """(training loss, validation loss, test error %) of one run's ``params``."""
    train_loss, _ = _split_score(data.task, params, data.train)
    validation_loss, _ = _split_score(data.task, params, data.validation)
    _, test_error = _split_score(data.task, params, data.test)
    return jnp.stack([train_loss, validation_loss, 100 * test_error])


def _scores(data: Data, params_batch) -> dict[str, np.ndarray]:
    """Training loss, validation loss and test error (%) of every run of a (V, S, ...) batch of
    params (NumPy arrays), one run at a time (the memory of one forward pass per chunk)."""
    leading = jax.tree.leaves(params_batch)[0].shape[:2]
    scores = np.asarray(
        [
            np.asarray(_score(data, jax.tree.map(lambda x, i=i, j=j: x[i, j], params_batch)))
            for i in range(leading[0])
            for j in range(leading[1])
        ]
    ).reshape(*leading, 3)
    names = ("train_loss", "validation_loss", "test_error")
    return {name: scores[..., k] for k, name in enumerate(names)}


def steps_for(cfg: Config, num_train: int) -> int:
    """``cfg.steps``, else ``cfg.epochs`` epochs of ``ceil(num_train / batch_size)`` steps."""
    if cfg.steps is not None:
        return cfg.steps
    return cfg.epochs * math.ceil(num_train / cfg.task.batch_size)


def _tenths(x: jax.Array, steps: int) -> jax.Array:
    """The mean of each tenth of a run (of each step, for fewer than ten)."""
    chunks = min(10, steps)
    usable = steps - steps % chunks
    return jnp.mean(x[:usable].reshape(chunks, -1), axis=1)


def _tenth_ends(steps: int) -> np.ndarray:
    """The last step of each tenth of a run (of each step, for fewer than ten)."""
    chunks = min(10, steps)
    return np.asarray([(k + 1) * steps // chunks - 1 for k in range(chunks)])


def _structure(contender: ContenderConfig, passed: bool) -> tuple:
    """What fixes a contender's compiled program (not the swept value, an argument)."""
    c = contender
    return (
        c.optimizer,
        c.stack,
        c.mode,
        c.discount,
        tuple(c.hyperparams.items()),
        passed and c.sweep,
    )


def _program(contender: ContenderConfig, steps: int, passed: bool) -> Callable:
    """:func:`_compile_program`, one per program structure: runs of the same optimizer (e.g. the
    tuning grid and the starts of plain Adam) share it, and its compilation for equal shapes."""
    key = (_structure(contender, passed), steps)
    if key not in _PROGRAMS:
        _PROGRAMS[key] = _compile_program(contender, steps, passed)
    return _PROGRAMS[key]


_PROGRAMS: dict[tuple, Callable] = {}


def _compile_program(contender: ContenderConfig, steps: int, passed: bool) -> Callable:
    """A jitted function (task, keys (S,), values (V,)) -> per (value, seed): the scored params,
    the loss curve in tenths, the step size (at each tenth's end and at the end) where the
    optimizer has one, and a stack's guard cuts and skipped hyper-steps. ``passed``: whether the
    swept argument is given (else the optimizer's default is used and ``values`` is ignored)."""

    def one(task, key, value):
        value = value if passed else None
        optimizer = contender.build(value)
        reader = contender.step_size(value)
        observe = (lambda s: reader(s.opt_state)) if reader is not None else (lambda s: ())
        init_key, data_key = jax.random.split(key)
        instance = task.sample(init_key)
        state = unroll.start(optimizer, task, instance, init_key)
        state, losses, trace = unroll.trajectory(
            optimizer, task, instance, state, data_key, steps, observe
        )
        out = {
            "params": contender.scored_params(state.opt_state, state.params),
            "loss_curve": _tenths(losses, steps),
        }
        if reader is not None:
            out["step_size_trace"] = trace[_tenth_ends(steps)]
            out["step_size"] = trace[-1]
        if contender.stack:
            bottom = hyper.find_state(state.opt_state).levels[0]
            out["guard_cuts"] = bottom.guarded
            out["skipped"] = bottom.skipped
        return out

    over_seeds = jax.vmap(one, in_axes=(None, 0, None))
    return jax.jit(jax.vmap(over_seeds, in_axes=(None, None, 0)))


def _keys(cfg: Config, which: int, num: int) -> jax.Array:
    """Seed keys: ``which`` 0 for the reported runs, 1 for tuning."""
    return jax.random.split(jax.random.fold_in(jax.random.key(cfg.seed), which), num)


def run_tuning(cfg: Config, data: Data, steps: int, progress=None) -> dict[str, Tuning]:
    """Plain SGD and Adam on the tuning grid; the best step size of each by ``tuning.metric``.
    SGD is tuned only when a contender's starts refer to it."""
    grid = cfg.tuning.grid()
    keys = _keys(cfg, 1, cfg.tuning.seeds)
    tuned = {}
    referenced = {c.source for c in cfg.contenders if c.sweep is not None} | {"adam"}
    for name in [name for name in ("sgd", "adam") if name in referenced]:
        contender = ContenderConfig(f"tuning {name}", optimizer=name, reference=name)
        out = _program(contender, steps, True)(data.task, keys, jnp.asarray(grid, jnp.float32))
        scores = _scores(data, jax.tree.map(np.asarray, out["params"]))
        finite = {k: np.where(np.isfinite(v), v, np.inf) for k, v in scores.items()}
        val = np.mean(finite["validation_loss"], axis=1)
        train = np.mean(finite["train_loss"], axis=1)
        metric = val if cfg.tuning.metric == "validation_loss" else train
        best = int(np.argmin(metric))
        tuned[name] = Tuning(
            optimizer=name,
            grid=grid.tolist(),
            validation_loss=val.tolist(),
            train_loss=train.tolist(),
            metric=cfg.tuning.metric,
            best=float(grid[best]),
            at_edge=best in (0, len(grid) - 1),
        )
        if progress is not None:
            progress(tuned[name])
    return tuned


def _cell(start, multiplier, value, scores, out, v) -> Cell:
    train = np.where(np.isfinite(scores["train_loss"][v]), scores["train_loss"][v], np.inf)
    errors = scores["test_error"][v]
    step = out.get("step_size")
    return Cell(
        start=start,
        multiplier=multiplier,
        value=value,
        test_error=Stats.of(errors),
        train_loss=Stats.of(train),
        validation_loss=Stats.of(scores["validation_loss"][v]),
        gap=None,  # Set once tuned Adam has run (add_gaps).
        diverged=int(np.sum(~np.isfinite(train))),
        step_size=None if step is None else Stats.of(step[v]),
        step_size_trace=(
            None if step is None else np.median(out["step_size_trace"][v], axis=0).tolist()
        ),
        guard_cuts=Stats.of(out["guard_cuts"][v]) if "guard_cuts" in out else None,
        skipped=Stats.of(out["skipped"][v]) if "skipped" in out else None,
        loss_curve=np.mean(out["loss_curve"][v], axis=0).tolist(),
    )


def run_contender(
    cfg: Config,
    contender: ContenderConfig,
    data: Data,
    steps: int,
    tuned: dict[str, float],
) -> Result:
    """Every run of one contender: its default start and ``multiplier x reference`` starts."""
    start_time = time.perf_counter()
    keys = _keys(cfg, 0, cfg.seeds)
    reference = contender.reference_value(tuned)
    default = contender.default_value()
    swept = [] if reference is None else [m * reference for m in cfg.multipliers]
    values = list(swept)
    if default is not None and default not in values:
        values.append(default)
    cells: dict[Any, Cell] = {}
    if values:
        fn = _program(contender, steps, True)
        out = jax.tree.map(np.asarray, fn(data.task, keys, jnp.asarray(values, jnp.float32)))
        scores = _scores(data, out["params"])
        for v, value in enumerate(values):
            cells[value] = (scores, out, v)
    if default is None:  # the optimizer's own default: the argument is not passed at all
        fn = _program(contender, steps, False)
        out = jax.tree.map(np.asarray, fn(data.task, keys, jnp.zeros((1,), jnp.float32)))
        cells[None] = (_scores(data, out["params"]), out, 0)

    def made(start, multiplier, value, at):
        scores, out, v = cells[at]
        return _cell(start, multiplier, value, scores, out, v)

    default_cell = made("default", None, default, default)
    starts = [made(f"{m:g}", m, value, value) for m, value in zip(cfg.multipliers, swept)]
    every = [default_cell, *starts]
    worst = max(every, key=lambda c: c.test_error.mean)
    medians = np.asarray([c.median_train_loss for c in starts])
    finite = medians[np.isfinite(medians)]
    means = [c.test_error.mean for c in starts]
    return Result(
        name=contender.name,
        contender=contender,
        family=contender.family,
        reference_value=reference,
        default=default_cell,
        starts=starts,
        worst_test_error=worst.test_error.mean,
        worst_start=worst.start,
        test_error_range=float(max(means) - min(means)) if starts else None,
        spread_decades=(float(np.log10(finite.max() / finite.min())) if finite.size else None),
        diverged_starts=int(np.sum(~np.isfinite(medians))),
        seconds=time.perf_counter() - start_time,
    )


def _timed_run(contender: ContenderConfig, passed: bool, steps: int) -> Callable:
    """A jitted function (task, key, value) -> final minibatch loss: ``steps`` steps of one run
    (``passed``: whether the swept argument is given, else the optimizer's default is used)."""

    def run(task, key, value):
        optimizer = contender.build(value if passed else None)
        init_key, data_key = jax.random.split(key)
        instance = task.sample(init_key)
        state = unroll.start(optimizer, task, instance, init_key)
        _, losses = unroll.unroll(optimizer, task, instance, state, data_key, steps)
        return losses[-1]

    return jax.jit(run)


def run_timing(cfg: Config, data: Data, tuned: dict[str, float], results: list[Result]) -> None:
    """Per contender, at its defaults: ms per step (fastest repeat) and the paired ratios of its
    time to plain Adam's at the tuned step size, each timed right after the other."""
    timing = cfg.timing
    key = jax.random.key(cfg.seed)
    compiled: dict[tuple, Callable] = {}

    def timer(contender: ContenderConfig, value: float | None) -> Callable[[], float]:
        passed = value is not None and contender.sweep is not None
        structure = _structure(contender, passed)
        if structure not in compiled:
            compiled[structure] = _timed_run(contender, passed, timing.steps)
        fn, argument = compiled[structure], jnp.asarray(value if passed else 0.0, jnp.float32)

        def seconds() -> float:
            start = time.perf_counter()
            jax.block_until_ready(fn(data.task, key, argument))
            return (time.perf_counter() - start) / timing.steps

        seconds()  # Compiles (once per structure).
        return seconds

    adam = timer(tuned_adam(cfg), tuned["adam"])
    for result in results:
        contender = result.contender
        run_once = timer(contender, result.default.value)
        best, ratios = math.inf, []
        for _ in range(timing.repeats):
            t_adam, t = adam(), run_once()
            best = min(best, t)
            ratios.append(t / t_adam)
        result.ms_per_step, result.time_ratio = 1e3 * best, Stats.of(ratios)


def load(cfg: Config) -> tuple[Data, str, tuple[int, int, int]]:
    """The training task and the scored splits (training, validation, test)."""
    from l2l.data import load_dataset

    dataset = load_dataset(cfg.task.dataset, cfg.task.data_dir)
    task = cfg.task.build()
    data = Data(
        task=task,
        train=Split.of(task.images, task.labels),
        validation=Split.of(dataset.validation.images, dataset.validation.labels),
        test=Split.of(dataset.test.images, dataset.test.labels),
    )
    sizes = (len(task.labels), len(dataset.validation.labels), len(dataset.test.labels))
    return data, dataset.description, sizes


def tuned_adam_cell(cfg: Config, results: list[Result]) -> Cell:
    """Tuned Adam's runs: the m = 1 start of the reference contender."""
    name = tuned_adam(cfg).name
    result = next(r for r in results if r.name == name)
    return next(c for c in result.starts if c.multiplier == 1.0)


def add_gaps(cfg: Config, results: list[Result]) -> None:
    """Every cell's test error minus tuned Adam's, seed by seed."""
    reference = np.asarray(tuned_adam_cell(cfg, results).test_error.per_seed)
    for result in results:
        for cell in [result.default, *result.starts]:
            cell.gap = Stats.of(np.asarray(cell.test_error.per_seed) - reference)


def most_robust(results: list[Result]) -> str | None:
    """The swept contender with the lowest worst-case test error over its default and starts."""
    swept = [r for r in results if r.starts]
    return min(swept, key=lambda r: r.worst_test_error).name if swept else None


def run(cfg: Config, *, show_progress: bool = True) -> Report:
    """Tuning, then every contender, then the timing; one line per step while ``show_progress``."""
    progress = print_progress if show_progress else None
    start = time.perf_counter()
    data, description, sizes = load(cfg)
    steps = steps_for(cfg, sizes[0])
    tuning = run_tuning(cfg, data, steps, progress)
    tuned = {name: t.best for name, t in tuning.items()}
    results = []
    for contender in cfg.contenders:
        results.append(run_contender(cfg, contender, data, steps, tuned))
        if progress is not None:
            progress(results[-1])
    add_gaps(cfg, results)
    timing_start = time.perf_counter()
    if cfg.timing.enabled:
        run_timing(cfg, data, tuned, results)
    return Report(
        config=cfg,
        data=description,
        num_train=sizes[0],
        num_validation=sizes[1],
        num_test=sizes[2],
        steps=steps,
        device=f"{jax.devices()[0].device_kind}, jax {jax.__version__}, optax {optax.__version__}",
        tuning=tuning,
        results=results,
        most_robust=most_robust(results),
        timing_minutes=(time.perf_counter() - timing_start) / 60,
        minutes=(time.perf_counter() - start) / 60,
    )


# --------------------------------------------------------------------------- reporting


def _pm(stats: Stats, digits: int = 2) -> str:
    return f"{stats.mean:.{digits}f} ± {stats.sd:.{digits}f}"


def _number(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.3g}" if 1e-3 <= abs(x) < 1e3 or x == 0 else f"{x:.2e}"


def _loss(cell: Cell) -> str:
    if cell.diverged == len(cell.train_loss.per_seed):
        return "diverged"
    text = _pm(cell.train_loss, 3)
    return text + (f" ({cell.diverged} diverged)" if cell.diverged else "")


def print_progress(result: Tuning | Result) -> None:
    """One line per tuned optimizer and per finished contender."""
    if isinstance(result, Tuning):
        edge = " (at the edge of the grid: widen it)" if result.at_edge else ""
        print(f"tuned {result.optimizer}: α* = {_number(result.best)}{edge}", flush=True)
        return
    line = f"{result.name}: at its defaults {_pm(result.default.test_error)} % test error"
    if result.starts:
        line += f", worst over starts {result.worst_test_error:.2f} % (start {result.worst_start})"
    print(f"{line} ({result.seconds:.0f}s)", flush=True)


def _time(result: Result) -> str:
    """The median of the paired ratios to plain Adam's time, and the fastest time per step."""
    if result.time_ratio is None:
        return "—"
    return f"{result.median_time_ratio:.2f}× ({result.ms_per_step:.2f} ms)"


def format_table(report: Report) -> str:
    """Table 1: each contender at its defaults, over the bad starts, and its time per step."""
    cfg = report.config
    starts = ", ".join(f"{m:g}" for m in cfg.multipliers)
    header = (
        f"| optimizer | test error % at its defaults ({cfg.seeds} seeds) | train loss "
        f"| gap to tuned Adam (points) | worst test error % over defaults and starts m ∈ "
        f"{{{starts}}} | range of test error over starts (points) | spread of train loss over "
        "starts (decades) | time / step vs Adam |"
    )
    lines = [header, "|---|---|---|---|---|---|---|---|"]
    for name in ("sgd", "adam"):
        plain = next(
            (
                r
                for r in report.results
                if r.contender.optimizer == name and r.contender.source == name and r.starts
            ),
            None,
        )
        if plain is None:
            continue
        cell = next(c for c in plain.starts if c.multiplier == 1.0)
        lines.append(
            f"| {plain.name}, tuned (α* = {_number(report.tuning[name].best)}) "
            f"| {_pm(cell.test_error)} | {_loss(cell)} | {cell.gap.mean:+.2f} ± {cell.gap.sd:.2f} "
            f"| — | — | — | {_time(plain)} |"
        )
    for r in report.results:
        d = r.default
        worst = f"{r.worst_test_error:.2f} ({r.worst_start})" if r.starts else "—"
        spread = "—"
        if r.starts:
            spread = "—" if r.spread_decades is None else f"{r.spread_decades:.2f}"
            if r.diverged_starts:
                spread += f", {r.diverged_starts} diverged"
        value = "" if d.value is None else f" ({r.contender.sweep} = {_number(d.value)})"
        rng = "—" if r.test_error_range is None else f"{r.test_error_range:.2f}"
        lines.append(
            f"| {r.name}{value} | {_pm(d.test_error)} | {_loss(d)} "
            f"| {d.gap.mean:+.2f} ± {d.gap.sd:.2f} | {worst} | {rng} | {spread} | {_time(r)} |"
        )
    return "\n".join(lines)


def format_starts(report: Report) -> str:
    """Table 2: test error % (mean ± sd) of every contender from every start."""
    multipliers = report.config.multipliers
    header = "| optimizer | swept argument (× reference) | " + " | ".join(
        f"m = {m:g}" for m in multipliers
    )
    lines = [header + " |", "|---|---|" + "---|" * len(multipliers)]
    for r in report.results:
        if not r.starts:
            continue
        what = f"{r.contender.sweep} (× {_number(r.reference_value)})"
        cells = []
        for cell in r.starts:
            text = _pm(cell.test_error)
            if cell.diverged:
                text += f" ({cell.diverged}/{len(cell.train_loss.per_seed)} diverged)"
            if cell.skipped is not None and cell.skipped.mean > 0:
                text += f" [{cell.skipped.mean:.0f} hyper-steps skipped]"
            cells.append(text)
        lines.append(f"| {r.name} | {what} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def conclusion(report: Report) -> str:
    """Which contender is most robust, and at what cost, in words."""
    if report.most_robust is None:
        return "No contender was swept over bad starts."
    adam = tuned_adam_cell(report.config, report.results)
    best = next(r for r in report.results if r.name == report.most_robust)
    cost = (
        "" if best.time_ratio is None else f", at {best.median_time_ratio:.2f}× plain Adam's time"
    )
    text = (
        f"Most robust: {best.name}: its worst test error over its defaults and every start is "
        f"{best.worst_test_error:.2f} % (start {best.worst_start}); tuned Adam scores "
        f"{adam.test_error.mean:.2f} %. At its defaults it scores "
        f"{best.default.test_error.mean:.2f} % ({best.default.gap.mean:+.2f} points vs tuned "
        f"Adam){cost} per step, with no tuning "
        f"runs (tuned Adam took {len(report.tuning['adam'].grid)} step sizes x "
        f"{report.config.tuning.seeds} seeds)."
    )
    for family in ("stack", "parameter-free", "plain"):
        members = [r for r in report.results if r.family == family and r.starts]
        if members:
            top = min(members, key=lambda r: r.worst_test_error)
            text += f"\nBest {family}: {top.name} (worst {top.worst_test_error:.2f} %)."
    return text


def summary(report: Report) -> str:
    """The tuning line, both tables, the conclusion and how long it took."""
    tuned = "; ".join(
        f"{name} α* = {_number(t.best)}" + (" (grid edge!)" if t.at_edge else "")
        for name, t in report.tuning.items()
    )
    metric = report.config.tuning.metric.replace("_", " ")
    return (
        f"{report.data}\n{report.steps} steps of minibatches of {report.config.task.batch_size}; "
        f"tuned by final {metric}: {tuned}\n\n{format_table(report)}\n\n"
        f"Test error % from each start (swept argument = m × reference):\n\n"
        f"{format_starts(report)}\n\n{conclusion(report)}\n\n{report.minutes:.1f} min "
        f"(timing {report.timing_minutes:.1f} min)"
    )


def write(report: Report, output_dir: str | Path) -> list[Path]:
    """``results.json``, ``table.md``, ``robustness.png`` and ``config.yaml``."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, table_path = out / "results.json", out / "table.md"
    data = report.to_json()
    json_path.write_text(json.dumps(data, indent=1, allow_nan=True))
    table_path.write_text(
        f"{format_table(report)}\n\n{format_starts(report)}\n\n{conclusion(report)}\n"
    )
    adam = tuned_adam_cell(report.config, report.results)
    task = report.config.task
    title = (
        f"{task.dataset}, {task.kind} ({report.num_train:,} training images), {report.steps} "
        f"steps of {task.batch_size}; median and range of {report.config.seeds} seeds"
    )
    figure = hyper_plots.no_tuning_robustness(
        data["results"],
        out / "robustness.png",
        multipliers=list(report.config.multipliers),
        reference={
            "train_loss": adam.median_train_loss,
            "test_error": adam.test_error.mean,
            "step_sizes": {name: t.best for name, t in report.tuning.items()},
        },
        title=title,
    )
    return [json_path, table_path, figure, save(report.config, out / "config.yaml")]
