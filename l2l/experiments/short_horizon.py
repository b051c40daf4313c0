r"""``l2l short-horizon``: the short-horizon bias of one-step hypergradients, measured.

Wu, Ren, Liao & Grosse (ICLR 2018) show that a step size chosen to minimize the loss a short
horizon ahead is too small: on a noisy quadratic the *greedy* schedule, which minimizes the
expected loss after the next step, decays the step size early, and the directions of low curvature
are left unconverged. The one-step hypergradient of Baydin et al. (2018) is a stochastic gradient
of that greedy objective. Whole-run forward mode (Franceschi et al. 2017's RTHO; Donini et al.
2020's MARTHE) carries the weights' tangent :math:`Z_t = \partial\theta_t / \partial\log\alpha`
through every step, discounted by :math:`\mu` (:math:`\mu = 0`: one-step; :math:`\mu = 1`: the
derivative through the whole run). This experiment runs, on two problems and from several initial
step sizes :math:`\alpha_0`:

* **one-step**: ``hyper.stack(hyper.sgd(alpha0), hyper.sgd())`` (``mode='forward'``);
* **whole run, mu**: the same stack with ``mode='run', discount=mu``, for each ``discounts``;
* **fixed (tuned)**: plain SGD at the best step size :math:`\alpha^*` of a log grid, chosen by the
  tuning protocol's rule for this study: the lowest final training loss, averaged over the seeds
  (the very seeds reported, so :math:`\alpha^*` is the best fixed step size in hindsight);

with the library's defaults otherwise: :math:`\log\alpha` learned by SGD with step 0.2 on the
hypergradient's cosine (Baydin's multiplicative rule), and the divergence guard. The initial step
sizes are ``alpha0_multiples`` times :math:`\alpha^*`. Every run of a problem uses the same seeds:
seed :math:`k` gives the initial weights and the stream of minibatches (or gradient noise), so the
methods are compared on the same draws.

**The noisy quadratic.** From Wu et al. (section 3): a separable quadratic whose minibatch loss is

.. math::
  f(\theta; c) = \tfrac12 \sum_i h_i (\theta_i - c_i)^2, \qquad c_i \sim N(0, \sigma_i^2),

so the stochastic gradient :math:`h_i(\theta_i - c_i)` is the true one plus noise of variance
:math:`v_i = h_i^2\sigma_i^2`, and SGD's second moment :math:`s_i = E[\theta_i^2]` follows the
linear recurrence :math:`s_i \leftarrow (1 - \alpha h_i)^2 s_i + \alpha^2 v_i`. The training loss
we report is the loss without the noise's constant, :math:`L(\theta) = \frac12 \sum_i h_i
\theta_i^2` (its mean over seeds estimates :math:`\frac12 \sum_i h_i s_i`). Wu et al.'s greedy
schedule in expectation minimizes :math:`E[L]` one step ahead:
:math:`\alpha_t = \sum_i h_i^2 s_i / \sum_i (h_i^3 s_i + h_i v_i)`
(:func:`greedy_schedule`, reported beside the runs). The spectrum and the noise we could not read
in the stored text of Wu et al. (only its abstract and introduction); we take the noisy quadratic
model of the same group (Zhang et al., NeurIPS 2019): :math:`h_i = 1/i` and gradient noise of
covariance proportional to the curvature, :math:`v_i = \nu h_i`, with :math:`\theta_0 \sim N(0,
I)`. Ours: the dimension (1000), the noise scale :math:`\nu = 0.1` and the horizon (1000 steps),
chosen so that the best fixed step size (0.6 in expectation) lies well inside the stable range
:math:`\alpha < 2` and, in expectation, Wu et al.'s greedy schedule ends 3x above the best fixed
step size's loss at this horizon.

**The MNIST MLP.** Chandra et al.'s (2022) network, as ``l2l hyper`` builds it: 784-128 (tanh)-10,
minibatches of 256 drawn with replacement from the training split; the final training loss is the
cross-entropy over the whole training split.

Every number shown is in ``results.json``; ``short_horizon.png`` draws the step-size traces (log
scale) and the loss curves of both problems.

References:
  Wu, Ren, Liao & Grosse, *Understanding Short-Horizon Bias in Stochastic Meta-Optimization*,
  ICLR 2018; Baydin, Cornish, Martinez Rubio, Schmidt & Wood, *Online Learning Rate Adaptation
  with Hypergradient Descent*, ICLR 2018; Franceschi, Donini, Frasconi & Pontil, *Forward and
  Reverse Gradient-Based Hyperparameter Optimization*, ICML 2017; Donini, Franceschi, Pontil,
  Majumder & Frasconi, *MARTHE: Scheduling the Learning Rate via Online Hypergradients*, IJCAI
  2020; Zhang, Li, Nado, Martens, Sachdeva, Dahl, Shallue & Grosse, *Which Algorithmic Choices
  Matter at Which Batch Sizes? Insights from a Noisy Quadratic Model*, NeurIPS 2019; Chandra, Xie,
  Ragan-Kelley & Meijer, *Gradient Descent: The Ultimate Optimizer*, NeurIPS 2022.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import time
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from l2l import hyper, optimizers, unroll
from l2l.config import field, save, to_dict
from l2l.experiments.seeds import Stats
from l2l.plots.hyper import short_horizon_traces
from l2l.tasks import MLPConfig, TaskConfig

# --------------------------------------------------------------------------- the noisy quadratic


class NoisyQuadraticInstance(NamedTuple):
    """The noisy quadratic has no random structure of its own: its randomness is the initial point
    and the noise of each minibatch. The empty instance keeps the task contract uniform."""


@struct.dataclass
class NoisyQuadratic:
    r"""Wu et al.'s noisy quadratic: minibatch loss :math:`\frac12 \sum_i h_i (\theta_i - c_i)^2`
    with :math:`c_i = \sigma_i \xi_i`, :math:`\xi_i \sim N(0, 1)` drawn from the minibatch key.

    ``curvature`` (:math:`h`) and ``noise_sd`` (:math:`\sigma`) are arrays (pytree leaves); the
    initial point is :math:`\theta_0 \sim N(0, \text{init\_scale}^2 I)`.
    """

    curvature: jax.Array  # h_i, (dim,)
    noise_sd: jax.Array  # sigma_i, (dim,): the gradient noise's variance is (h_i sigma_i)^2
    init_scale: float = struct.field(pytree_node=False, default=1.0)

    def sample(self, key: jax.Array) -> NoisyQuadraticInstance:
        del key
        return NoisyQuadraticInstance()

    def init(self, key: jax.Array, instance: NoisyQuadraticInstance | None = None) -> jax.Array:
        del instance
        return self.init_scale * jax.random.normal(key, self.curvature.shape)

    def targets(self, key: jax.Array) -> jax.Array:
        """The minibatch's :math:`c = \\sigma \\xi`."""
        return self.noise_sd * jax.random.normal(key, self.curvature.shape)

    def loss(self, params, instance, key: jax.Array) -> jax.Array:
        del instance
        return 0.5 * jnp.sum(self.curvature * (params - self.targets(key)) ** 2)

    def training_loss(self, params) -> jax.Array:
        r""":math:`L(\theta) = \frac12 \sum_i h_i \theta_i^2`: the loss without the noise's
        constant :math:`\frac12 \sum_i h_i \sigma_i^2`."""
        return 0.5 * jnp.sum(self.curvature * params**2)


def curvature(dim: int, power: float) -> np.ndarray:
    """:math:`h_i = i^{-p}`, i = 1..dim (float64)."""
    return np.arange(1, dim + 1, dtype=np.float64) ** (-power)


def gradient_noise_variance(h: np.ndarray, noise: float) -> np.ndarray:
    """:math:`v_i = \\nu h_i`: the gradient noise's covariance proportional to the curvature."""
    return noise * h


def expected_loss_fixed(h: np.ndarray, v: np.ndarray, s0: float, alphas, steps: int) -> np.ndarray:
    """:math:`E[L(\\theta_T)]` of SGD with each fixed step size of ``alphas`` (float64), by the
    recurrence :math:`s \\leftarrow (1 - \\alpha h)^2 s + \\alpha^2 v` from :math:`s = s_0`."""
    alphas = np.asarray(alphas, np.float64)[:, None]
    s = np.full((alphas.shape[0], h.size), s0, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(steps):
            s = (1 - alphas * h) ** 2 * s + alphas**2 * v
        loss = 0.5 * np.sum(h * s, axis=1)
    return np.where(np.isfinite(loss), loss, np.inf)


def greedy_schedule(h: np.ndarray, v: np.ndarray, s0: float, steps: int):
    """Wu et al.'s greedy-optimal schedule in expectation: at each step the step size that
    minimizes :math:`E[L]` after it, :math:`\\alpha_t = \\sum h^2 s / \\sum (h^3 s + h v)`.

    Returns the step sizes and :math:`E[L]` after each step (float64 arrays of ``steps``)."""
    s = np.full(h.size, s0, np.float64)
    alphas, losses = np.empty(steps), np.empty(steps)
    for t in range(steps):
        alpha = np.sum(h**2 * s) / np.sum(h**3 * s + h * v)
        s = (1 - alpha * h) ** 2 * s + alpha**2 * v
        alphas[t], losses[t] = alpha, 0.5 * np.sum(h * s)
    return alphas, losses


# --------------------------------------------------------------------------- configs


@dataclasses.dataclass(frozen=True)
class GridConfig:
    """The log grid that tunes plain SGD's fixed step size: ``num`` values from ``min`` to
    ``max``."""

    lr_min: float = field(0.01, gt=0)
    lr_max: float = field(10.0, gt=0)
    num_lrs: int = field(10, ge=2)

    def __post_init__(self):
        if self.lr_max <= self.lr_min:
            raise ValueError(f"lr_max ({self.lr_max}) must exceed lr_min ({self.lr_min})")

    @property
    def values(self) -> np.ndarray:
        return np.geomspace(self.lr_min, self.lr_max, self.num_lrs)


@dataclasses.dataclass(frozen=True)
class QuadraticProblemConfig:
    """The noisy quadratic (see the module docstring): :math:`h_i = i^{-p}`, gradient noise of
    variance :math:`\\nu h_i`, :math:`\\theta_0 \\sim N(0, s^2 I)`."""

    enabled: bool = True
    dim: int = field(1000, ge=1, help="the number of coordinates")
    curvature_power: float = field(1.0, ge=0, help="h_i = i^-p")
    noise: float = field(0.1, ge=0, help="nu: the gradient noise's variance is nu h_i")
    init_scale: float = field(1.0, gt=0, help="theta_0 ~ N(0, init_scale^2 I)")
    steps: int = field(1000, ge=2)
    seeds: int = field(16, ge=1)
    grid: GridConfig = field(GridConfig(0.01, 1.9, 12))


@dataclasses.dataclass(frozen=True)
class MnistProblemConfig:
    """The MNIST MLP of Chandra et al. (``task.kind: mlp``); ``task.data_dir`` as for ``l2l
    hyper``."""

    enabled: bool = True
    task: TaskConfig = field(MLPConfig(hidden_sizes=(128,), activation="tanh", batch_size=256))
    steps: int = field(1000, ge=2)
    seeds: int = field(3, ge=1)
    grid: GridConfig = field(GridConfig(0.01, 10.0, 10))

    def __post_init__(self):
        if not isinstance(self.task, MLPConfig):
            raise TypeError(
                f"mnist.task.kind must be 'mlp' (the MNIST MLP), got {self.task.kind!r}"
            )


@dataclasses.dataclass(frozen=True)
class Config:
    """``l2l short-horizon``: one-step vs whole-run hypergradients vs the tuned fixed step size,
    on Wu et al.'s noisy quadratic and on the MNIST MLP."""

    quadratic: QuadraticProblemConfig = field(QuadraticProblemConfig())
    mnist: MnistProblemConfig = field(MnistProblemConfig())
    alpha0_multiples: tuple[float, ...] = field(
        (0.01, 0.1, 1.0), help="initial step sizes, as multiples of the tuned fixed one"
    )
    discounts: tuple[float, ...] = field((0.9, 0.99, 1.0), help="mu of the whole-run mode")
    top_learning_rate: float | None = field(
        None, help="the step size of the level above (None: the library's default, 0.2)"
    )
    trace_points: int = field(200, ge=2, help="points of each trace kept in the JSON and figure")
    seed: int = field(0, ge=0)
    output_dir: str = "runs/short_horizon"

    def __post_init__(self):
        if not (self.quadratic.enabled or self.mnist.enabled):
            raise ValueError("quadratic.enabled and mnist.enabled are both false: nothing to run")
        if not self.alpha0_multiples or any(not m > 0 for m in self.alpha0_multiples):
            raise ValueError(
                f"alpha0_multiples must be positive numbers, got {list(self.alpha0_multiples)}"
            )
        if any(not 0.0 <= mu <= 1.0 for mu in self.discounts):
            raise ValueError(f"discounts must lie in [0, 1], got {list(self.discounts)}")
        if self.top_learning_rate is not None and not self.top_learning_rate > 0:
            raise ValueError(f"top_learning_rate must be > 0, got {self.top_learning_rate}")


ShortHorizonConfig = Config

# --------------------------------------------------------------------------- the methods


@dataclasses.dataclass(frozen=True)
class Method:
    """How the step size is set: ``mode`` 'fixed' (plain SGD), or a stack's mode ('forward',
    'reverse', 'run' with its ``discount``)."""

    name: str
    mode: str
    discount: float = 1.0

    @property
    def learns(self) -> bool:
        return self.mode != "fixed"


FIXED = Method("fixed (tuned)", "fixed")
ONE_STEP = Method("one-step", "forward")


def whole_run(discount: float) -> Method:
    return Method(f"whole run, μ={discount:g}", "run", float(discount))


def make_optimizer(
    method: Method, learning_rate, top_learning_rate: float | None = None
) -> optax.GradientTransformationExtraArgs:
    """Plain SGD, or ``stack(sgd(learning_rate), sgd(top_learning_rate))`` in the method's mode
    (every other argument the library's default)."""
    if not method.learns:
        return optimizers.sgd(learning_rate)
    levels = (hyper.sgd(learning_rate), hyper.sgd(top_learning_rate))
    if method.mode == "run":
        return hyper.stack(*levels, mode="run", discount=method.discount)
    return hyper.stack(*levels, mode=method.mode)


def seed_keys(seed: int, problem: str, num: int) -> jax.Array:
    """The ``num`` seed keys of a problem: key k gives run k's initial point (its first split) and
    its stream of minibatches (its second), whatever the method or the step size."""
    problem_key = jax.random.fold_in(jax.random.key(seed), PROBLEMS.index(problem))
    return jax.random.split(problem_key, num)


def training_loss(task, params) -> jax.Array:
    """The final training loss: the noisy quadratic's :math:`L(\\theta)`, an MLP's cross-entropy
    over its whole training split."""
    if isinstance(task, NoisyQuadratic):
        return task.training_loss(params)
    return task.full_loss(params, task.images, task.labels)


@functools.partial(jax.jit, static_argnames=("method", "steps", "top_learning_rate"))
def _trajectories(task, keys, learning_rates, *, method, steps, top_learning_rate):
    def one(seed_key, learning_rate):
        optimizer = make_optimizer(method, learning_rate, top_learning_rate)
        init_key, data_key = jax.random.split(seed_key)
        instance = task.sample(init_key)
        state = unroll.start(optimizer, task, instance, init_key)

        def observe(s: unroll.UnrollState) -> dict:
            out = {}
            if method.learns:
                level = hyper.find_state(s.opt_state).levels[0]
                out["learning_rate"] = level.hyperparams["learning_rate"]
                out["hypergradient"] = level.hypergradient["learning_rate"]
            if isinstance(task, NoisyQuadratic):
                out["training_loss"] = task.training_loss(s.params)
            return out

        state, losses, observed = unroll.trajectory(
            optimizer, task, instance, state, data_key, steps, observe
        )
        if not method.learns:
            observed["learning_rate"] = jnp.full((steps,), learning_rate, jnp.float32)
            guarded = skipped = jnp.zeros((), jnp.int32)
        else:
            levels = hyper.find_state(state.opt_state).levels
            guarded, skipped = levels[0].guarded, sum(level.skipped for level in levels)
        return {
            "final_loss": training_loss(task, state.params),
            "minibatch_loss": losses,
            "guarded": guarded,
            "skipped": skipped,
            **observed,
        }

    per_seed = jax.vmap(one, in_axes=(0, None))
    return jax.vmap(per_seed, in_axes=(None, 0))(keys, learning_rates)


def trajectories(
    method: Method,
    task,
    keys: jax.Array,
    learning_rates,
    steps: int,
    top_learning_rate: float | None = None,
) -> dict[str, np.ndarray]:
    """Runs of ``steps`` updates from each initial (or fixed) step size and each seed key.

    Returns NumPy arrays with leading axes (step sizes, seeds): ``final_loss`` (the training loss
    after the last update), per update ``learning_rate`` (the step size it used),
    ``minibatch_loss`` (the loss it was computed from), for a stack ``hypergradient`` (level 0's
    hypergradient of log alpha at that update; 0 at the first), for the noisy quadratic
    ``training_loss`` (:math:`L` after it); and the counts ``guarded`` and ``skipped``.
    One compiled program per method and horizon; the task and the step sizes are arguments.
    """
    out = _trajectories(
        task,
        keys,
        jnp.asarray(learning_rates, jnp.float32),
        method=method,
        steps=steps,
        top_learning_rate=top_learning_rate,
    )
    return jax.tree.map(np.asarray, out)


# --------------------------------------------------------------------------- the report


@dataclasses.dataclass
class Run:
    """One method from one initial (or fixed) step size, over the problem's seeds."""

    method: str
    mode: str  # 'fixed', 'forward' (one-step) or 'run'
    discount: float | None  # mu of mode 'run'
    alpha0: float  # the initial step size (the fixed one for mode 'fixed')
    alpha0_multiple: float  # alpha0 / the tuned fixed step size
    final_loss: Stats  # the training loss after the last update
    final_learning_rate: Stats  # the step size of the last update
    learning_rate_trace: list[float]  # geometric mean over seeds, at the problem's trace steps
    loss_trace: list[float]  # mean over seeds, at the trace steps (see Problem.loss_trace_is)
    peak_learning_rate: float  # the largest geometric-mean step size of the run
    peak_step: int  # the update (1-based) where it was reached
    below_tenth_from: int | None  # first update after the peak with geometric mean < alpha*/10
    loss_rise: float  # the loss trace's largest value over its lowest before it (1: never rose)
    guarded: int  # divergence-guard cuts, summed over seeds
    skipped: int  # non-finite hyper-steps skipped, summed over seeds and levels
    seconds: float  # wall time of the method's runs (compilation included) per initial step size

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        out["final_loss"] = self.final_loss.to_json()
        out["final_learning_rate"] = self.final_learning_rate.to_json()
        return out


@dataclasses.dataclass
class Greedy:
    """Wu et al.'s greedy-optimal schedule on the noisy quadratic, in expectation (no seeds)."""

    final_loss: float  # E[L] after the last step
    final_learning_rate: float
    learning_rate_trace: list[float]  # at the trace steps
    loss_trace: list[float]

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Problem:
    """One problem: the tuning grid, the tuned fixed step size and every run."""

    name: str  # 'quadratic' or 'mnist'
    description: str
    steps: int
    seeds: int
    loss_trace_is: str  # what the loss traces hold
    trace_steps: list[int]  # 1-based update counts where the traces are read
    grid: list[float]  # the fixed step sizes tried
    grid_final_loss: list[float]  # mean over seeds of each; inf where a seed diverged
    best_learning_rate: float  # alpha*: the grid's lowest mean final loss
    at_grid_edge: bool  # alpha* is the grid's first or last value (widen the grid)
    runs: list[Run]  # runs[0]: fixed at alpha*; then each method from each alpha0
    greedy: Greedy | None  # the noisy quadratic only
    grid_expected_loss: list[float] | None  # the noisy quadratic: E[L_T] of each grid value
    expected_best: dict[str, float] | None  # the noisy quadratic: the fixed step size of least
    #   E[L_T] on a fine log grid over the same range ('learning_rate', 'loss'), closed form
    seconds: float

    @property
    def fixed(self) -> Run:
        return self.runs[0]

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        out["runs"] = [run.to_json() for run in self.runs]
        out["greedy"] = None if self.greedy is None else self.greedy.to_json()
        return out


@dataclasses.dataclass
class Report:
    config: Config
    problems: list[Problem]
    data: str | None  # where the MNIST splits came from
    device: str
    minutes: float

    def to_json(self) -> dict:
        return {
            "config": to_dict(self.config),
            "problems": {p.name: p.to_json() for p in self.problems},
            "data": self.data,
            "device": self.device,
            "minutes": self.minutes,
        }


# --------------------------------------------------------------------------- running

PROBLEMS = ("quadratic", "mnist")

#: Step sizes of the fine log grid on which the noisy quadratic's expected loss is minimized.
EXPECTED_GRID = 200


def trace_steps(steps: int, points: int) -> np.ndarray:
    """``points`` update counts (1-based) spread evenly over 1..steps, the last one included."""
    return np.unique(np.linspace(1, steps, min(points, steps)).round().astype(int))


def _geometric_mean(values: np.ndarray, axis: int) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.exp(np.mean(np.log(values), axis=axis))


def _windowed_mean(values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Mean of ``values[..., s:t]`` over each window (previous trace step, trace step]."""
    starts = np.concatenate([[0], at[:-1]])
    return np.stack([values[..., s:t].mean(axis=-1) for s, t in zip(starts, at)], axis=-1)


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, np.float64)
    return np.where(np.isfinite(values), values, np.inf)


def largest_rise(trace) -> float:
    """``max_t trace[t] / min_{s < t} trace[s]``: how far a loss curve climbed back above its best
    so far (a spike of a near-divergence); 1 if it never rose, inf if it became non-finite."""
    trace = np.asarray(trace, np.float64)
    if trace.size < 2:
        return 1.0
    best_before = np.minimum.accumulate(trace)[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(np.isfinite(trace[1:]), trace[1:] / best_before, np.inf)
    return float(max(1.0, np.max(ratio)))


def _run_of(
    method: Method,
    out: dict[str, np.ndarray],
    index: int,
    alpha0: float,
    best: float,
    at: np.ndarray,
    seconds: float,
) -> Run:
    """The Run of step size ``index`` of ``trajectories``' output."""
    lr = out["learning_rate"][index].astype(np.float64)  # (seeds, steps)
    lr_trace = _geometric_mean(lr, axis=0)
    if "training_loss" in out:
        loss_trace = np.mean(_finite(out["training_loss"][index]), axis=0)[at - 1]
    else:
        loss_trace = np.mean(_windowed_mean(_finite(out["minibatch_loss"][index]), at), axis=0)
    peak = int(np.nanargmax(lr_trace))
    below = np.flatnonzero(lr_trace[peak:] < best / 10)
    return Run(
        method=method.name,
        mode=method.mode,
        discount=method.discount if method.mode == "run" else None,
        alpha0=float(alpha0),
        alpha0_multiple=float(alpha0 / best),
        final_loss=Stats.of(_finite(out["final_loss"][index])),
        final_learning_rate=Stats.of(lr[:, -1]),
        learning_rate_trace=lr_trace[at - 1].tolist(),
        loss_trace=loss_trace.tolist(),
        peak_learning_rate=float(lr_trace[peak]),
        peak_step=peak + 1,
        below_tenth_from=int(peak + below[0] + 1) if below.size else None,
        loss_rise=largest_rise(loss_trace),
        guarded=int(np.sum(out["guarded"][index])),
        skipped=int(np.sum(out["skipped"][index])),
        seconds=seconds,
    )


def run_problem(
    name: str,
    description: str,
    task,
    steps: int,
    keys: jax.Array,
    grid: np.ndarray,
    cfg: Config,
    progress=None,
) -> Problem:
    """Tune the fixed step size on ``grid``, then run every method from every initial step size.

    ``task`` is a ``NoisyQuadratic`` or an MLP classifier; ``keys`` its seed keys."""
    start = time.perf_counter()
    at = trace_steps(steps, cfg.trace_points)
    top = cfg.top_learning_rate
    fixed = trajectories(FIXED, task, keys, grid, steps, top)
    scores = np.mean(_finite(fixed["final_loss"]), axis=1)
    best_index = int(np.argmin(scores))
    if not np.isfinite(scores[best_index]):
        raise RuntimeError(f"{name}: every fixed step size of the grid diverged")
    best = float(grid[best_index])
    runs = [_run_of(FIXED, fixed, best_index, best, best, at, time.perf_counter() - start)]
    if progress is not None:
        progress(name, runs[0])
    alpha0s = best * np.asarray(cfg.alpha0_multiples, np.float64)
    for method in (ONE_STEP, *(whole_run(mu) for mu in cfg.discounts)):
        method_start = time.perf_counter()
        out = trajectories(method, task, keys, alpha0s, steps, top)
        seconds = (time.perf_counter() - method_start) / len(alpha0s)
        for i, alpha0 in enumerate(alpha0s):
            runs.append(_run_of(method, out, i, alpha0, best, at, seconds))
            if progress is not None:
                progress(name, runs[-1])
    greedy = grid_expected = expected_best = None
    if isinstance(task, NoisyQuadratic):
        h = np.asarray(task.curvature, np.float64)
        v = (h * np.asarray(task.noise_sd, np.float64)) ** 2
        s0 = task.init_scale**2
        alphas, losses = greedy_schedule(h, v, s0, steps)
        greedy = Greedy(
            float(losses[-1]), float(alphas[-1]), alphas[at - 1].tolist(), losses[at - 1].tolist()
        )
        grid_expected = expected_loss_fixed(h, v, s0, grid, steps).tolist()
        fine = np.geomspace(grid[0], grid[-1], EXPECTED_GRID)
        fine_loss = expected_loss_fixed(h, v, s0, fine, steps)
        k = int(np.argmin(fine_loss))
        expected_best = {"learning_rate": float(fine[k]), "loss": float(fine_loss[k])}
    loss_trace_is = (
        "training loss L(θ) = ½ Σ h_i θ_i² after the update, mean over seeds"
        if isinstance(task, NoisyQuadratic)
        else "minibatch loss, mean over the updates since the previous trace step and the seeds"
    )
    return Problem(
        name=name,
        description=description,
        steps=steps,
        seeds=int(keys.shape[0]),
        loss_trace_is=loss_trace_is,
        trace_steps=at.tolist(),
        grid=[float(x) for x in grid],
        grid_final_loss=scores.tolist(),
        best_learning_rate=best,
        at_grid_edge=best_index in (0, len(grid) - 1),
        runs=runs,
        greedy=greedy,
        grid_expected_loss=grid_expected,
        expected_best=expected_best,
        seconds=time.perf_counter() - start,
    )


def quadratic_task(cfg: QuadraticProblemConfig) -> NoisyQuadratic:
    """The noisy quadratic of ``cfg`` (float32 arrays)."""
    h = curvature(cfg.dim, cfg.curvature_power)
    sigma = np.sqrt(gradient_noise_variance(h, cfg.noise)) / h  # c_i's sd: h_i sigma_i = sqrt(v_i)
    return NoisyQuadratic(
        jnp.asarray(h, jnp.float32), jnp.asarray(sigma, jnp.float32), init_scale=cfg.init_scale
    )


def describe_quadratic(cfg: QuadraticProblemConfig) -> str:
    spectrum = "1/i" if cfg.curvature_power == 1 else f"i^-{cfg.curvature_power:g}"
    return (
        f"noisy quadratic, d = {cfg.dim}, h_i = {spectrum}, gradient noise variance "
        f"{cfg.noise:g} h_i, theta_0 ~ N(0, {cfg.init_scale:g}^2 I)"
    )


def print_progress(problem: str, run: Run) -> None:
    """One line per finished run."""
    print(
        f"{problem}: {run.method} from alpha0 = {run.alpha0:.3g}: final loss "
        f"{run.final_loss.mean:.4g} ± {run.final_loss.sd:.2g}, final alpha "
        f"{_geometric_mean(np.asarray(run.final_learning_rate.per_seed), 0):.3g}",
        flush=True,
    )


def run(cfg: Config, *, show_progress: bool = True) -> Report:
    """Both problems (those enabled); one line per run while ``show_progress``."""
    start = time.perf_counter()
    progress = print_progress if show_progress else None
    problems, data = [], None
    if cfg.quadratic.enabled:
        q = cfg.quadratic
        keys = seed_keys(cfg.seed, "quadratic", q.seeds)
        problems.append(
            run_problem(
                "quadratic",
                describe_quadratic(q),
                quadratic_task(q),
                q.steps,
                keys,
                q.grid.values,
                cfg,
                progress,
            )
        )
    if cfg.mnist.enabled:
        m = cfg.mnist
        task = m.task.build()
        data = _data_description(m.task)
        description = (
            f"{m.task.dataset} MLP {task.layer_sizes[0]}-"
            + "-".join(f"{h}" for h in m.task.hidden_sizes)
            + f" ({m.task.activation})-{task.num_classes}, minibatches of {m.task.batch_size}, "
            f"{int(task.labels.shape[0]):,} training images"
        )
        keys = seed_keys(cfg.seed, "mnist", m.seeds)
        problems.append(
            run_problem("mnist", description, task, m.steps, keys, m.grid.values, cfg, progress)
        )
    return Report(
        config=cfg,
        problems=problems,
        data=data,
        device=f"{jax.devices()[0].device_kind}, jax {jax.__version__}",
        minutes=(time.perf_counter() - start) / 60,
    )


def _data_description(task_cfg: MLPConfig) -> str | None:
    from l2l.data import load_dataset

    return load_dataset(task_cfg.dataset, task_cfg.data_dir).description


# --------------------------------------------------------------------------- reporting


def _number(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "—" if x is None else str(x)
    return f"{x:.3g}" if 1e-3 <= abs(x) < 1e3 or x == 0 else f"{x:.2e}"


def format_problem(problem: Problem) -> str:
    """One problem's table as markdown, with its headline lines above it."""
    best, fixed = problem.best_learning_rate, problem.fixed
    grid = problem.grid
    lines = [
        f"### {problem.name}: {problem.description}; {problem.steps} steps, {problem.seeds} seeds",
        "",
        f"tuned fixed step size α* = {_number(best)} (grid {_number(grid[0])}–{_number(grid[-1])}, "
        f"{len(grid)} values{', at its edge' if problem.at_grid_edge else ''}): final training "
        f"loss {_number(fixed.final_loss.mean)} ± {_number(fixed.final_loss.sd)}",
    ]
    if problem.expected_best is not None:
        e = problem.expected_best
        lines.append(
            f"in expectation (closed form), the best fixed step size is "
            f"{_number(e['learning_rate'])}, E[L] = {_number(e['loss'])}"
        )
    if problem.greedy is not None:
        g = problem.greedy
        lines.append(
            f"Wu et al.'s greedy schedule, in expectation: final loss {_number(g.final_loss)}, "
            f"final α {_number(g.final_learning_rate)}"
        )
    lines += [
        "",
        "| method | α0 (× α*) | final training loss (mean ± sd) | ÷ tuned fixed | peak α (step) "
        "| final α (geo. mean) | final α / α* | α < α*/10 from step | largest loss rise "
        "| guard cuts |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in problem.runs:
        final_alpha = float(_geometric_mean(np.asarray(r.final_learning_rate.per_seed), 0))
        ratio = r.final_loss.mean / fixed.final_loss.mean
        learned = r.mode != "fixed"
        peak = f"{_number(r.peak_learning_rate)} ({r.peak_step})" if learned else "—"
        below = "—" if r.below_tenth_from is None else str(r.below_tenth_from)
        lines.append(
            f"| {r.method} | {_number(r.alpha0)} ({r.alpha0_multiple:g}) "
            f"| {_number(r.final_loss.mean)} ± {_number(r.final_loss.sd)} | {_number(ratio)} "
            f"| {peak} | {_number(final_alpha)} | {_number(final_alpha / best)} | {below} "
            f"| {_number(r.loss_rise)}× | {r.guarded if learned else '—'} |"
        )
    return "\n".join(lines)


def summary(report: Report) -> str:
    """Every problem's table and how long it all took."""
    tables = "\n\n".join(format_problem(p) for p in report.problems)
    notes = (
        "α: the step size (geometric mean over seeds); largest loss rise: the loss curve's "
        "largest value over its lowest before it (a spike of a near-divergence)"
    )
    return f"{tables}\n\n{notes}\n\n{report.minutes:.1f} min on {report.device}"


def write(report: Report, output_dir: str | Path) -> list[Path]:
    """``results.json``, ``table.md``, ``short_horizon.png`` and ``config.yaml``."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, table_path = out / "results.json", out / "table.md"
    json_path.write_text(json.dumps(report.to_json(), indent=1, allow_nan=True))
    table_path.write_text(summary(report) + "\n")
    png = short_horizon_traces(
        [p.to_json() for p in report.problems],
        out / "short_horizon.png",
        title="Short-horizon bias: SGD's step size learned by one-step vs whole-run "
        "hypergradients, against the tuned fixed step size α*",
    )
    return [json_path, table_path, png, save(report.config, out / "config.yaml")]
