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

**The noisy quadratic.** Wu et al.'s (section 3), the task kind ``noisy_quadratic``
(:mod:`l2l.tasks.noisy_quadratic`, with its closed forms): minibatch loss
:math:`\frac12 \sum_i h_i (\theta_i - c_i)^2` with :math:`c_i \sim N(0, \sigma_i^2)`, training loss
:math:`L(\theta) = \frac12 \sum_i h_i \theta_i^2`. Wu et al.'s greedy schedule in expectation
minimizes :math:`E[L]` one step ahead (:func:`l2l.tasks.noisy_quadratic.greedy_schedule`, reported
beside the runs). The spectrum and the noise we could not read in the stored text of Wu et al.
(only its abstract and introduction); we take the noisy quadratic model of the same group (Zhang
et al., NeurIPS 2019): :math:`h_i = 1/i` and gradient noise of covariance proportional to the
curvature, :math:`v_i = \nu h_i`, with :math:`\theta_0 \sim N(0, I)`. Ours: the dimension (1000),
the noise scale :math:`\nu = 0.1` and the horizon (1000 steps), chosen so that the best fixed step
size (0.6 in expectation) lies well inside the stable range :math:`\alpha < 2` and, in
expectation, Wu et al.'s greedy schedule ends 3x above the best fixed step size's loss at this
horizon.

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
import time

import jax
import jax.numpy as jnp
import numpy as np

from l2l import hyper, sweep
from l2l.config import field
from l2l.experiments.short_horizon_report import (
    Greedy,
    Problem,
    Report,
    Run,
    finite_or_inf,
    format_problem,
    print_progress,
    run_of,
    summary,
    trace_steps,
    write,
)
from l2l.specs import ClassicSpec, LevelSpec, OptimizerSpec, StackSpec
from l2l.tasks import MLPConfig, NoisyQuadraticConfig, TaskConfig
from l2l.tasks.base import training_loss
from l2l.tasks.noisy_quadratic import expected_loss_fixed, greedy_schedule

# --------------------------------------------------------------------------- configs


@dataclasses.dataclass(frozen=True)
class GridConfig(sweep.LogGrid):
    """The log grid that tunes plain SGD's fixed step size: ``num_lrs`` values from ``lr_min``
    to ``lr_max``."""

    lr_min: float = field(0.01, gt=0)
    lr_max: float = field(10.0, gt=0)
    num_lrs: int = field(10, ge=2)


@dataclasses.dataclass(frozen=True)
class QuadraticProblemConfig:
    """The noisy quadratic (:class:`l2l.tasks.NoisyQuadraticConfig`): :math:`h_i = i^{-p}`,
    gradient noise of variance :math:`\nu h_i`, :math:`\theta_0 \\sim N(0, s^2 I)`."""

    enabled: bool = True
    dim: int = field(1000, ge=1, help="the number of coordinates")
    curvature_power: float = field(1.0, ge=0, help="h_i = i^-p")
    noise: float = field(0.1, ge=0, help="nu: the gradient noise's variance is nu h_i")
    init_scale: float = field(1.0, gt=0, help="theta_0 ~ N(0, init_scale^2 I)")
    steps: int = field(1000, ge=2)
    seeds: int = field(16, ge=1)
    grid: GridConfig = field(GridConfig(0.01, 1.9, 12))

    @property
    def task(self) -> NoisyQuadraticConfig:
        return NoisyQuadraticConfig(
            dim=self.dim,
            curvature_power=self.curvature_power,
            noise=self.noise,
            init_scale=self.init_scale,
        )


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

    def spec(self, top_learning_rate: float | None = None) -> OptimizerSpec:
        """Plain SGD, or ``stack(sgd(alpha), sgd(top_learning_rate))`` in the method's mode (every
        other argument the library's default); the step size alpha is the swept value."""
        if not self.learns:
            return ClassicSpec(name="sgd")
        top = {} if top_learning_rate is None else {"learning_rate": top_learning_rate}
        levels = (LevelSpec("sgd"), LevelSpec("sgd", top))
        return StackSpec(levels=levels, mode=self.mode, discount=self.discount)


FIXED = Method("fixed (tuned)", "fixed")
ONE_STEP = Method("one-step", "forward")


def whole_run(discount: float) -> Method:
    return Method(f"whole run, μ={discount:g}", "run", float(discount))


def seed_keys(seed: int, problem: str, num: int) -> jax.Array:
    """The ``num`` seed keys of a problem: key k gives run k's initial point (its first split) and
    its stream of minibatches (its second), whatever the method or the step size."""
    problem_key = jax.random.fold_in(jax.random.key(seed), PROBLEMS.index(problem))
    return jax.random.split(problem_key, num)


@dataclasses.dataclass(frozen=True)
class HorizonRun:
    """The sweep runner's recorder of this study: per update the step size it used, the
    minibatch loss and (a stack's) level-0 hypergradient of log alpha, the training loss after
    each update where ``trace_training_loss`` (a task whose whole-training-set loss is cheap), the
    final training loss, and the guard's cuts and skipped hyper-steps."""

    steps: int
    trace_training_loss: bool

    def observe(self, run: sweep.RunContext, state) -> dict:
        out = {}
        if isinstance(run.spec, StackSpec):
            level = hyper.find_state(state.opt_state).levels[0]
            out["learning_rate"] = level.hyperparams["learning_rate"]
            out["hypergradient"] = level.hypergradient["learning_rate"]
        if self.trace_training_loss:
            out["training_loss"] = training_loss(run.task, state.params, run.instance)
        return out

    def record(self, run: sweep.RunContext, state, losses, observed) -> dict:
        if isinstance(run.spec, StackSpec):
            levels = hyper.find_state(state.opt_state).levels
            guarded, skipped = levels[0].guarded, sum(level.skipped for level in levels)
        else:
            rate = run.values["learning_rate"]
            observed = {**observed, "learning_rate": jnp.full((self.steps,), rate, jnp.float32)}
            guarded = skipped = jnp.zeros((), jnp.int32)
        return {
            "final_loss": training_loss(run.task, state.params, run.instance),
            "minibatch_loss": losses,
            "guarded": guarded,
            "skipped": skipped,
            **observed,
        }


def trajectories(
    method: Method,
    task,
    keys: jax.Array,
    learning_rates,
    steps: int,
    top_learning_rate: float | None = None,
    *,
    trace_training_loss: bool = False,
    runner: sweep.Runner | None = None,
) -> dict[str, np.ndarray]:
    """Runs of ``steps`` updates from each initial (or fixed) step size and each seed key.

    Returns NumPy arrays with leading axes (step sizes, seeds): ``final_loss`` (the training loss
    after the last update), per update ``learning_rate`` (the step size it used),
    ``minibatch_loss`` (the loss it was computed from), for a stack ``hypergradient`` (level 0's
    hypergradient of log alpha at that update; 0 at the first), with ``trace_training_loss``
    ``training_loss`` (the training loss after it); and the counts
    ``guarded`` and ``skipped``. One compiled program of ``runner`` per method and horizon; the
    task and the step sizes are arguments.
    """
    return (runner or sweep.Runner()).run(
        method.spec(top_learning_rate),
        task,
        sweep.seed_instance_keys(keys),
        steps,
        {"learning_rate": np.asarray(learning_rates, np.float64)},
        recorder=HorizonRun(steps, trace_training_loss),
    )


# --------------------------------------------------------------------------- running

PROBLEMS = ("quadratic", "mnist")

#: Step sizes of the fine log grid on which the noisy quadratic's expected loss is minimized.
EXPECTED_GRID = 200


def run_problem(
    name: str,
    description: str,
    task,
    steps: int,
    keys: jax.Array,
    grid: np.ndarray,
    cfg: Config,
    progress=None,
    *,
    trace_training_loss: bool = False,
    runner: sweep.Runner | None = None,
) -> Problem:
    """Tune the fixed step size on ``grid``, then run every method from every initial step size.

    ``keys`` are the problem's seed keys; ``trace_training_loss``: read the training loss after
    every update (the loss traces), where it is cheap (the noisy quadratic's closed form)."""
    start = time.perf_counter()
    runner = runner or sweep.Runner()
    at = trace_steps(steps, cfg.trace_points)
    top = cfg.top_learning_rate
    common = {"trace_training_loss": trace_training_loss, "runner": runner}
    fixed = trajectories(FIXED, task, keys, grid, steps, top, **common)
    scores = np.mean(finite_or_inf(fixed["final_loss"]), axis=1)
    best_index, at_edge = sweep.pick(scores, f"{name}: the fixed step size")
    best = float(grid[best_index])
    runs = [run_of(FIXED, fixed, best_index, best, best, at, time.perf_counter() - start)]
    if progress is not None:
        progress(name, runs[0])
    alpha0s = best * np.asarray(cfg.alpha0_multiples, np.float64)
    for method in (ONE_STEP, *(whole_run(mu) for mu in cfg.discounts)):
        method_start = time.perf_counter()
        out = trajectories(method, task, keys, alpha0s, steps, top, **common)
        seconds = (time.perf_counter() - method_start) / len(alpha0s)
        for i, alpha0 in enumerate(alpha0s):
            runs.append(run_of(method, out, i, alpha0, best, at, seconds))
            if progress is not None:
                progress(name, runs[-1])
    loss_trace_is = (
        "training loss L(θ) = ½ Σ h_i θ_i² after the update, mean over seeds"
        if trace_training_loss
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
        at_grid_edge=at_edge,
        runs=runs,
        greedy=None,
        grid_expected_loss=None,
        expected_best=None,
        seconds=time.perf_counter() - start,
    )


def add_closed_forms(problem: Problem, q: QuadraticProblemConfig) -> None:
    """The noisy quadratic's expectations beside its runs: Wu et al.'s greedy schedule, E[L_T] of
    each grid value, and the best fixed step size on a fine log grid over the same range."""
    task = q.task.build()
    h = np.asarray(task.curvature, np.float64)
    v = (h * np.asarray(task.noise_sd, np.float64)) ** 2
    s0, steps, grid = task.init_scale**2, problem.steps, np.asarray(problem.grid)
    at = np.asarray(problem.trace_steps)
    alphas, losses = greedy_schedule(h, v, s0, steps)
    problem.greedy = Greedy(
        float(losses[-1]), float(alphas[-1]), alphas[at - 1].tolist(), losses[at - 1].tolist()
    )
    problem.grid_expected_loss = expected_loss_fixed(h, v, s0, grid, steps).tolist()
    fine = np.geomspace(grid[0], grid[-1], EXPECTED_GRID)
    fine_loss = expected_loss_fixed(h, v, s0, fine, steps)
    k = int(np.argmin(fine_loss))
    problem.expected_best = {"learning_rate": float(fine[k]), "loss": float(fine_loss[k])}


def run(cfg: Config, *, show_progress: bool = True) -> Report:
    """Both problems (those enabled); one line per run while ``show_progress``."""
    start = time.perf_counter()
    progress = print_progress if show_progress else None
    runner = sweep.Runner()
    problems, data = {}, None
    if cfg.quadratic.enabled:
        q = cfg.quadratic
        problems["quadratic"] = run_problem(
            "quadratic",
            q.task.describe(),
            q.task.build(),
            q.steps,
            seed_keys(cfg.seed, "quadratic", q.seeds),
            q.grid.values,
            cfg,
            progress,
            trace_training_loss=True,
            runner=runner,
        )
        add_closed_forms(problems["quadratic"], q)
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
        problems["mnist"] = run_problem(
            "mnist", description, task, m.steps, keys, m.grid.values, cfg, progress, runner=runner
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


__all__ = [
    "Config",
    "Problem",
    "Report",
    "Run",
    "format_problem",
    "run",
    "summary",
    "trajectories",
    "write",
]
