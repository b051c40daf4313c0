r"""``l2l talk``: the talk's own example, a linear model whose step sizes are dual numbers.

Erik Meijer's talk *Gradient Descent: The Ultimate Optimizer* (the talk version of Chandra, Xie,
Ragan-Kelley & Meijer, NeurIPS 2022) fits "one input, one weight, identity": :math:`y = a x`, with
the squared error :math:`e = (a x - y)^2`. Its slides 31-32 (as issue #13 reports them) make the
weight :math:`a`, the step size :math:`\eta` and the hyper step size :math:`\kappa` dual numbers,
start :math:`\eta = \kappa = 10^{-20}` under a fixed top step :math:`\delta = 10^{-80}`, in float64,
and at each sample update :math:`\kappa` first, then :math:`\eta`, then :math:`a`:

.. math::
  \kappa \mathrel{-}= \delta\, \frac{\partial e}{\partial \kappa}, \qquad
  \eta \mathrel{-}= \kappa\, \frac{\partial e}{\partial \eta}, \qquad
  a \mathrel{-}= \eta\, \frac{\partial e}{\partial a}.

**What the dual numbers compute.** A dual number carries its derivatives; here :math:`a` carries
:math:`\dot a = (\partial a / \partial \eta, \partial a / \partial \kappa)` and :math:`\eta` carries
:math:`(1, \partial \eta / \partial \kappa)`, and every update is done in dual arithmetic, so the
tangents accumulate through *every* past step. At step :math:`t` (sample :math:`x_t, y_t`), with
:math:`g_t = \partial e_t / \partial a = 2 x_t (a_{t-1} x_t - y_t)` and :math:`c_t = 2 x_t^2` (its
derivative in :math:`a`, the Hessian-vector product's factor):

.. math::
  (h_t, k_t) = g_t\, \dot a_{t-1}
    \quad(\text{the error's dual part: } \partial e_t/\partial\eta,\ \partial e_t/\partial\kappa),\\
  \kappa_t = \kappa_{t-1} - \delta k_t, \qquad
  \eta_t = \eta_{t-1} - \kappa_t h_t, \qquad
  \eta^{\kappa}_t = \mu\, \eta^{\kappa}_{t-1} - h_t,\\
  a_t = a_{t-1} - \eta_t g_t, \qquad
  \dot a_t = (1 - \eta_t c_t)\, \mu\, \dot a_{t-1} - g_t\, (1, \eta^{\kappa}_t),

with :math:`\mu = 1` (the derivatives read off a dual number are plain numbers, so a hyper-update
adds no tangent of its own: first order). This is forward-mode differentiation through the whole
run (Franceschi et al. 2017's RTHO; issue #13's item 2 at discount :math:`\mu = 1`); here it is one
``jax.linearize`` (a jvp) of each step's update, pushing both tangent directions at once, inside
one ``lax.scan`` (:func:`forward_mode_run`). With :math:`\mu = 0` the tangents hold the last
update's derivative only, :math:`h_t = -g_t g_{t-1}` and :math:`k_t = -h_t h_{t-1}`: the one-step
hypergradient of Baydin et al. (2018) and of ``l2l.hyper.stack``, which the experiment runs
beside it for comparison (:func:`stack_run`: ``stack(sgd(eta, raw), sgd(kappa, raw), sgd(delta))``;
the stack steps its top level first, so it too updates :math:`\kappa`, then :math:`\eta`, then
:math:`a`). The two differ: the talk's dual numbers are not the library's one-step hypergradient.

**From the talk, and our choices.** The stored text of the talk's slides that we could read
(the GOTO Copenhagen deck, slides 1-24) gives the model, "one input, one weight, identity"
(:math:`y = a x`), and its first loop, "var a: ℝ = …  val η: ℝ = …  some tiny value of your
choosing". Slides 31-32 we could not read; from issue #13's account of them: the squared error,
dual numbers for :math:`a, \eta, \kappa`, the update order, :math:`\eta_0 = \kappa_0 = 10^{-20}`,
:math:`\delta = 10^{-80}`, float64. Ours, because we found no record of them: the samples
:math:`x \sim U(0, 300)`, a new one each step (NumPy's ``default_rng(0)``), the true slope 3
(noise-free :math:`y = 3x`), :math:`a_0 = 0`, and 4000 steps. The data's scale decides how soon
anything happens when :math:`\eta_0` is tiny: with :math:`\kappa` fixed and
:math:`x \sim U(0, X)`, :math:`a` converges after roughly :math:`(\kappa a^2 X^6)^{-1/3}` steps
(15 to 20 times that, measured for :math:`X` = 100 to 600) in the talk's forward mode and
:math:`(\kappa a^2 X^6)^{-1/2}` (20 to 27 times) with one-step hypergradients: with
:math:`X = 300`, a few hundred and a few thousand steps; with :math:`X = 1`, by the same rule,
some :math:`10^7` and :math:`10^{11}`.

**What happens to** :math:`\kappa`. Nothing, in float64: :math:`\delta k_t` stays below
:math:`10^{-50}` while :math:`\kappa = 10^{-20}` resolves changes of about :math:`10^{-36}`, so
every update rounds back to :math:`10^{-20}` exactly. The report keeps the change the top level
asked for, :math:`-\delta \sum_s k_s`, beside :math:`\kappa` itself.

Float64 is enabled for this experiment alone (``jax.enable_x64`` as a context manager around the
computation): the process's default dtype is unchanged afterwards.

References:
  Chandra, Xie, Ragan-Kelley & Meijer, *Gradient Descent: The Ultimate Optimizer*, NeurIPS 2022;
  Meijer, *Gradient Descent: The Ultimate Optimizer* (talk; slides at GOTO Copenhagen, abstract at
  YOW! 2023); Baydin, Cornish, Martinez Rubio, Schmidt & Wood, *Online Learning Rate Adaptation
  with Hypergradient Descent*, ICLR 2018; Franceschi, Donini, Frasconi & Pontil, *Forward and
  Reverse Gradient-Based Hyperparameter Optimization*, ICML 2017.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from l2l import hyper, plots
from l2l.config import field
from l2l.experiments.report import jsonable, write_report

#: ``a`` has converged at the first step with |a_t - a_true| <= CONVERGED * |a_true|.
CONVERGED = 1e-6


@dataclasses.dataclass(frozen=True)
class Config:
    """``l2l talk``: y = a x trained by dual-number step sizes (float64), against the one-step
    stack. The talk's: ``eta``, ``kappa``, ``delta``; ours: the samples, ``a_true``, ``a_init``,
    ``steps`` (see the module docstring)."""

    steps: int = field(4000, ge=1, help="samples, one update of kappa, eta and a each")
    seed: int = field(0, ge=0, help="draws the samples")
    x_low: float = field(0.0, help="x ~ U(x_low, x_high), a new sample each step")
    x_high: float = 300.0
    a_true: float = field(3.0, help="the true slope: y = a_true * x, no noise")
    a_init: float = field(0.0, help="the weight's initial value")
    eta: float = field(1e-20, help="initial step size (the talk's 1e-20)")
    kappa: float = field(1e-20, help="initial hyper step size (the talk's 1e-20)")
    delta: float = field(1e-80, ge=0, help="the fixed top step size (the talk's 1e-80)")
    output_dir: str = "runs/talk_example"

    def __post_init__(self):
        if not self.x_high > self.x_low:
            raise ValueError(f"x_high ({self.x_high}) must exceed x_low ({self.x_low})")


TalkExampleConfig = Config

# --------------------------------------------------------------------------- the computations


def squared_error(a, x, y):
    """The talk's error e = (a x - y)^2."""
    return (a * x - y) ** 2


def samples(cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """The float64 samples x ~ U(x_low, x_high) and y = a_true x, one per step.

    Drawn by NumPy's ``default_rng(seed)`` (the same numbers on every machine), one after the
    other: a shorter run sees the first samples of a longer one."""
    x = np.random.default_rng(cfg.seed).uniform(cfg.x_low, cfg.x_high, cfg.steps)
    return x, cfg.a_true * x


def _traces(out: dict) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, np.float64) for k, v in out.items()}


@jax.jit
def _forward_mode(x, y, eta, kappa, delta, a_init, discount):
    """:func:`forward_mode_run`'s scan (call it with x64 enabled)."""
    grad = jax.grad(squared_error)

    def step(carry, sample):
        a, eta, kappa, a_dot, eta_dot = carry  # a_dot: (da/deta, da/dkappa); eta_dot: (1, deta/dk)
        x, y = sample
        e, g = jax.value_and_grad(squared_error)(a, x, y)
        de_deta, de_dkappa = g * a_dot  # the error's dual part (chain rule through a)
        kappa = kappa - delta * de_dkappa  # delta and the derivative are numbers: kappa's tangent
        kappa_dot = jnp.array([0.0, 1.0], a_dot.dtype)  # stays (0, 1).
        a_dot = discount * a_dot
        eta_dot = eta_dot * jnp.array([1.0, discount], eta_dot.dtype)

        def update(a, eta, kappa):
            eta = eta - kappa * de_deta
            return a - eta * grad(a, x, y), eta

        (a, eta), push = jax.linearize(update, a, eta, kappa)
        a_dot, eta_dot = jax.vmap(push)(a_dot, eta_dot, kappa_dot)  # both directions at once
        trace = {
            "error": e,
            "a": a,
            "eta": eta,
            "kappa": kappa,
            "de_deta": de_deta,
            "de_dkappa": de_dkappa,
        }
        return (a, eta, kappa, a_dot, eta_dot), trace

    dtype = x.dtype
    carry = (
        jnp.asarray(a_init, dtype),
        jnp.asarray(eta, dtype),
        jnp.asarray(kappa, dtype),
        jnp.zeros(2, dtype),
        jnp.array([1.0, 0.0], dtype),
    )
    _, trace = jax.lax.scan(step, carry, (x, y))
    return trace


def forward_mode_run(
    x, y, *, eta: float, kappa: float, delta: float, a_init: float, discount: float = 1.0
) -> dict[str, np.ndarray]:
    """The talk's dual numbers: the recurrence of the module docstring, in float64.

    One ``jax.linearize`` per step pushes the tangents of ``a`` and ``eta`` with respect to
    ``eta`` and ``kappa`` through the update; ``discount`` (:math:`\\mu`) scales the carried
    tangents before each update: 1 is the talk's whole-run derivative, 0 the one-step one.

    Returns float64 arrays, one entry per step: ``error`` (before the step's update), ``a``,
    ``eta``, ``kappa`` (after it), ``de_deta`` and ``de_dkappa`` (the error's dual part).
    """
    with jax.enable_x64(True):
        out = _forward_mode(
            jnp.asarray(x, jnp.float64),
            jnp.asarray(y, jnp.float64),
            eta,
            kappa,
            delta,
            a_init,
            discount,
        )
        return _traces(out)


def _stack(eta: float, kappa: float, delta: float, mode: str = "forward"):
    """SGD(eta) on a, SGD(kappa) learning eta, SGD(delta) fixed on top: raw step sizes and raw
    hypergradients, the talk's, and no divergence guard (it would cut eta whenever the per-sample
    gradient grows, which the talk's rule does not)."""
    return hyper.stack(
        hyper.sgd(eta, reparam="raw"),
        hyper.sgd(kappa, reparam="raw"),
        hyper.sgd(delta),
        mode=mode,
        guard=None,
    )


def stack_run(
    x, y, *, eta: float, kappa: float, delta: float, a_init: float, mode: str = "forward"
):
    """The same model trained by ``l2l.hyper.stack`` (one-step hypergradients; ``mode='run'``:
    whole-run ones for eta, one-step for kappa), in float64.

    Returns the arrays of :func:`forward_mode_run`; ``de_deta`` and ``de_dkappa`` are the
    hypergradients the stack's levels 0 and 1 used at each step (0 before they have one).
    """
    with jax.enable_x64(True):
        optimizer = _stack(eta, kappa, delta, mode)

        @jax.jit
        def trajectory(x, y, a):
            def step(carry, sample):
                a, state = carry
                e, g = jax.value_and_grad(squared_error)(a, *sample)
                grad_fn = jax.grad(lambda a: squared_error(a, *sample))
                updates, state = optimizer.update(g, state, a, grad_fn=grad_fn)
                a = a + updates
                found = hyper.find_state(state)
                values = hyper.hyperparams(state)
                trace = {
                    "error": e,
                    "a": a,
                    "eta": values[0]["learning_rate"],
                    "kappa": values[1]["learning_rate"],
                    "de_deta": found.levels[0].hypergradient["learning_rate"],
                    "de_dkappa": found.levels[1].hypergradient["learning_rate"],
                }
                return (a, state), trace

            _, trace = jax.lax.scan(step, (a, optimizer.init(a)), (x, y))
            return trace

        out = trajectory(
            jnp.asarray(x, jnp.float64),
            jnp.asarray(y, jnp.float64),
            jnp.asarray(a_init, jnp.float64),
        )
        return _traces(out)


# --------------------------------------------------------------------------- the report


@dataclasses.dataclass
class Trace:
    """One run, step by step (t = 1..steps), and its headline numbers."""

    name: str
    error: list[float]  # e_t = (a_{t-1} x_t - y_t)^2, the error that drives step t
    a: list[float]  # a_t, after step t
    eta: list[float]  # eta_t, the step size of step t's update of a
    kappa: list[float]  # kappa_t, the hyper step size of step t's update of eta
    de_deta: list[float]  # h_t, the hypergradient of eta at step t
    de_dkappa: list[float]  # k_t, the hypergradient of kappa at step t
    kappa_change: list[float]  # -delta * (k_1 + ... + k_t): the change of kappa the top asked for
    final_error: float
    mean_error_last_tenth: float  # mean e_t over the last tenth of the steps
    converged_at: int | None  # first step with |a_t - a_true| <= CONVERGED * |a_true|

    @classmethod
    def of(cls, name: str, out: dict[str, np.ndarray], cfg: Config) -> Trace:
        close = np.abs(out["a"] - cfg.a_true) <= CONVERGED * abs(cfg.a_true)
        tenth = max(1, cfg.steps // 10)
        return cls(
            name=name,
            **{k: out[k].tolist() for k in ("error", "a", "eta", "kappa", "de_deta", "de_dkappa")},
            kappa_change=(-cfg.delta * np.cumsum(out["de_dkappa"])).tolist(),
            final_error=float(out["error"][-1]),
            mean_error_last_tenth=float(np.mean(out["error"][-tenth:])),
            converged_at=int(np.argmax(close)) + 1 if close.any() else None,
        )


@dataclasses.dataclass
class Report:
    config: Config
    x: list[float]  # the samples, one per step (y = a_true * x)
    dual_numbers: Trace  # the talk's dual numbers: forward mode through the whole run
    one_step: Trace  # l2l.hyper.stack: one-step hypergradients
    device: str
    seconds: float
    converged_tolerance: float = CONVERGED


DUAL_NUMBERS = "the talk's dual numbers (whole run, forward mode)"
ONE_STEP = "l2l.hyper.stack (one-step hypergradients)"


def run(cfg: Config, *, show_progress: bool = True) -> Report:
    """Both runs on the same samples; one line per run while ``show_progress``."""
    start = time.perf_counter()
    x, y = samples(cfg)
    hyperparams = {"eta": cfg.eta, "kappa": cfg.kappa, "delta": cfg.delta, "a_init": cfg.a_init}
    traces = []
    for name, fn in ((DUAL_NUMBERS, forward_mode_run), (ONE_STEP, stack_run)):
        trace = Trace.of(name, fn(x, y, **hyperparams), cfg)
        traces.append(trace)
        if show_progress:
            print(f"{name}: final a {trace.a[-1]:.10g}, eta {trace.eta[-1]:.4g}", flush=True)
    return Report(
        config=cfg,
        x=x.tolist(),
        dual_numbers=traces[0],
        one_step=traces[1],
        device=f"{jax.devices()[0].device_kind}, jax {jax.__version__}",
        seconds=time.perf_counter() - start,
    )


# --------------------------------------------------------------------------- reporting


def format_table(report: Report) -> str:
    """The headline numbers as markdown: one row per run."""
    cfg = report.config
    lines = [
        f"| run | final a (true {cfg.a_true:g}) | eta at the end | kappa at the end "
        "| kappa change asked (-delta sum de/dkappa) | final error | mean error, last tenth "
        f"| converged at step (a within {CONVERGED:g} of a_true, relative) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for t in (report.dual_numbers, report.one_step):
        converged = "—" if t.converged_at is None else str(t.converged_at)
        lines.append(
            f"| {t.name} | {t.a[-1]:.12g} | {t.eta[-1]:.4g} | {t.kappa[-1]:.4g} "
            f"| {t.kappa_change[-1]:.3g} | {t.final_error:.3g} | {t.mean_error_last_tenth:.3g} "
            f"| {converged} |"
        )
    return "\n".join(lines)


def summary(report: Report) -> str:
    return f"{format_table(report)}\n\n{report.seconds:.1f}s"


def _title(cfg: Config) -> str:
    return (
        f"y = a x, e = (a x - y)^2, y = {cfg.a_true:g} x, x ~ U({cfg.x_low:g}, {cfg.x_high:g}), "
        f"a0 = {cfg.a_init:g}; float64\n"
        f"eta0 = {cfg.eta:g}, kappa0 = {cfg.kappa:g}, delta = {cfg.delta:g}; "
        "each step: kappa, then eta, then a"
    )


def write(report: Report, output_dir: str | Path) -> list[Path]:
    """``results.json``, ``talk_example.png`` and ``config.yaml`` into ``output_dir``."""

    def figures(out: Path) -> list[Path]:
        png = plots.dual_number_traces(
            [jsonable(report.dual_numbers), jsonable(report.one_step)],
            out / "talk_example.png",
            a_true=report.config.a_true,
            title=_title(report.config),
        )
        return [png]

    return write_report(report, output_dir, figures=figures)
