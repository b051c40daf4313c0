r"""``l2l study responses``: what an optimizer emits when fed a fixed scalar "gradient" signal.

The optimizer sees one scalar parameter and, at step :math:`t = 0, 1, \dots, T-1`, the gradient
:math:`g_t = s(t)` of a fixed signal :math:`s`; we record the update :math:`\Delta\theta_t` it
returns and plot the *response* :math:`r_t = -\Delta\theta_t` (the sign that follows the gradient:
plain SGD's response is :math:`\eta g_t`). The parameter itself never moves: the signal does not
depend on it, so the curves show the optimizer's filter of the gradient stream, nothing else.

Look-ahead optimizers (``nesterov``, ``smoothed_nesterov``) evaluate gradients at other points
through the extra argument ``grad_fn``. Here the parameter is a scalar *position offset*: the
parameter stays at :math:`\theta = 0` and ``grad_fn(p)`` returns the signal at the fractional
position :math:`t + (\theta - p)`, linearly interpolated and 0 outside :math:`[0, T-1]`. Nesterov's
look-ahead point is :math:`p = \theta - \gamma v_{t-1}` (:math:`\gamma` = ``momentum``), so it
reads :math:`s(t + \gamma v_{t-1})`: the velocity looks ahead along the signal (or back, where it
is negative).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax

from l2l import plots
from l2l.config import field
from l2l.experiments.report import (
    check_file_name,
    compact,
    format_hyperparams,
    json_field,
    write_report,
)
from l2l.specs import ClassicSpec, OptimizerSpec

Number = int | float

# --------------------------------------------------------------------------- signals

SignalFn = Callable[[jax.Array, jax.Array], jax.Array]

# Each maps (x, u) to the signal, x = 0, 1, ..., T-1 (float) the step index and u ~ U[0, 1) one
# uniform draw per step (seeded; the same draws for every signal that uses them).
SIGNALS: dict[str, SignalFn] = {
    "spikes": lambda x, u: jnp.where(x % 60 == 0, 1.0, 0.0),
    "rectangles": lambda x, u: jnp.where(x % 40 < 20, 1.0, -1.0),
    "noisy_sine": lambda x, u: jnp.sin(x / 20) + u - 0.5,
    "very_noisy_sine": lambda x, u: jnp.sin(x / 20) / 5 + u - 0.5,
    "uneven_sawtooth": lambda x, u: (x % 20) / (15 * (x > 80) + 5),
    "saturation": lambda x, u: jnp.where(x % 80 < 40, 1.0, 0.0),
}

SIGNAL_TITLES = {
    "spikes": "spikes: 1 where t % 60 = 0",
    "rectangles": "rectangles: ±1, period 40",
    "noisy_sine": "noisy sine: sin(t/20) + U - 0.5",
    "very_noisy_sine": "very noisy sine: sin(t/20)/5 + U - 0.5",
    "uneven_sawtooth": "uneven sawtooth: (t % 20)/(15[t>80] + 5)",
    "saturation": "saturation: 1 where t % 80 < 40",
}


def make_signals(
    names: tuple[str, ...] | None = None, steps: int = 300, seed: int = 0
) -> dict[str, np.ndarray]:
    """The signals ``names`` (default: all six) over steps 0..steps-1, float32 NumPy arrays."""
    names = tuple(SIGNALS) if names is None else tuple(names)
    unknown = [n for n in names if n not in SIGNALS]
    if unknown:
        raise ValueError(f"unknown signal {unknown[0]!r}; known signals: {', '.join(SIGNALS)}")
    x = jnp.arange(steps, dtype=jnp.float32)
    u = jax.random.uniform(jax.random.key(seed), (steps,), jnp.float32)
    return {n: np.asarray(SIGNALS[n](x, u), np.float32) for n in names}


def read_signal(signal: jax.Array, position: jax.Array) -> jax.Array:
    """The signal at a fractional position: linear interpolation, 0 outside [0, T-1]."""
    grid = jnp.arange(signal.shape[0], dtype=signal.dtype)
    return jnp.interp(position, grid, signal, left=0.0, right=0.0)


# --------------------------------------------------------------------------- responses


def _response_fn(transform: optax.GradientTransformation) -> Callable[[jax.Array], jax.Array]:
    """signal (T,) -> response (T,), for one transform; see the module docstring."""
    if not isinstance(transform, optax.GradientTransformationExtraArgs):
        transform = optax.with_extra_args_support(transform)

    def respond(signal):
        params = jnp.zeros((), signal.dtype)

        def step(state, t):
            def grad_fn(point):  # The look-ahead at point = params - gamma v reads s(t + gamma v).
                return read_signal(signal, t + (params - point)).astype(point.dtype)

            updates, state = transform.update(signal[t], state, params, grad_fn=grad_fn)
            return state, -updates

        _, responses = jax.lax.scan(step, transform.init(params), jnp.arange(signal.shape[0]))
        return responses

    return respond


def response_curves(
    transforms: Mapping[str, optax.GradientTransformation],
    signals: Mapping[str, np.ndarray],
) -> dict[str, dict[str, np.ndarray]]:
    """The response :math:`r_t = -\\Delta\\theta_t` of each transform to each signal.

    Args:
      transforms: label -> any optax transform (classic, learned, a chain, a hyperoptimizer).
      signals: signal name -> 1-D array of gradients, all of one length T.

    Returns:
      label -> signal name -> float32 array (T,). One jitted ``lax.scan`` per transform, vmapped
      over the signals.
    """
    names = list(signals)
    lengths = {np.shape(signals[n]) for n in names}
    if len(lengths) != 1 or len(next(iter(lengths))) != 1:
        raise ValueError(f"signals must be 1-D arrays of one length, got shapes {sorted(lengths)}")
    stacked = jnp.asarray(np.stack([np.asarray(signals[n], np.float32) for n in names]))
    curves = {}
    for label, transform in transforms.items():
        responses = np.asarray(jax.jit(jax.vmap(_response_fn(transform)))(stacked))
        curves[label] = {n: responses[i] for i, n in enumerate(names)}
    return curves


# --------------------------------------------------------------------------- the experiment


@dataclasses.dataclass(frozen=True)
class ResponseFigureConfig:
    """One figure: its optimizers, each swept over the cartesian product of ``sweep``.

    Every optimizer of the figure with arguments (a classic rule, an optax factory) is run once
    per combination of the ``sweep`` values (which override its ``hyperparams``); a learned one is
    run once, as it is. ``yscale: auto`` uses a
    symmetric log scale when the curves' peaks span more than ``AUTO_SYMLOG_RATIO``.
    """

    name: str
    optimizers: tuple[OptimizerSpec, ...]
    sweep: dict[str, tuple[Number, ...]] = field({})
    title: str = ""
    yscale: Literal["auto", "linear", "symlog"] = "auto"

    def __post_init__(self):
        check_file_name("figure name", self.name)
        if not self.optimizers:
            raise ValueError(f"figure {self.name!r} has no optimizers")
        if self.sweep and not any(self.swept(spec) for spec in self.optimizers):
            raise ValueError(
                f"figure {self.name!r} sweeps {list(self.sweep)} but has no optimizer to sweep (a "
                "learned optimizer runs as it is)"
            )
        for key, values in self.sweep.items():
            if not values:
                raise ValueError(f"sweep {key!r} of figure {self.name!r} has no values")
        for spec in self.optimizers:
            if not self.swept(spec):
                continue
            for key in self.sweep:
                if key in getattr(spec, "hyperparams", {}):
                    raise ValueError(
                        f"{spec.display_label}: {key!r} is both swept and fixed in hyperparams; "
                        "remove it from one of them"
                    )
            for combination in self.combinations():
                spec.build(**combination)  # An unknown or out-of-range swept value fails now.

    def swept(self, spec: OptimizerSpec) -> bool:
        """Whether ``spec`` is run once per combination of the swept values: every optimizer with
        arguments is (a swept name it does not take is an error), a learned one is not."""
        return bool(self.sweep) and bool(spec.arguments())

    def combinations(self) -> list[dict[str, Number]]:
        keys = list(self.sweep)
        return [dict(zip(keys, values)) for values in itertools.product(*self.sweep.values())]


def _classic(name: str, label: str, **hyperparams) -> OptimizerSpec:
    return ClassicSpec(name=name, hyperparams=hyperparams, label=label)


# The decay factors swept: momentum's and Nesterov's gamma, RMSProp's decay, Adadelta's rho,
# Adam's b1.
DECAYS = (0.25, 0.9, 0.975)

DEFAULT_FIGURES = (
    ResponseFigureConfig(
        "momentum",
        (_classic("momentum", "Momentum", learning_rate=0.25),),
        {"momentum": DECAYS},
    ),
    ResponseFigureConfig(
        "nesterov",
        (_classic("nesterov", "Nesterov", learning_rate=0.25),),
        {"momentum": DECAYS},
    ),
    ResponseFigureConfig(
        "smoothed_nesterov",
        (_classic("smoothed_nesterov", "Smoothed Nesterov", learning_rate=0.25, points=4),),
        {"momentum": DECAYS},
    ),
    ResponseFigureConfig(
        "adagrad",
        (_classic("adagrad", "Adagrad", learning_rate=2.5),),
        {"eps": (1e-7, 0.1, 10.0)},
    ),
    ResponseFigureConfig(
        "rmsprop",
        (_classic("rmsprop", "RMSProp", learning_rate=0.25, eps=1e-5),),
        {"decay": DECAYS},
    ),
    ResponseFigureConfig(
        "adadelta",
        (_classic("adadelta", "Adadelta", eps=1e-3),),
        {"initial_delta": (0.0, 50.0), "rho": DECAYS},
    ),
    ResponseFigureConfig(
        "adam",
        (_classic("adam", "Adam", learning_rate=0.25, b2=0.999, eps_root=1e-7),),
        {"b1": DECAYS},
    ),
)

AUTO_SYMLOG_RATIO = 30.0


@dataclasses.dataclass(frozen=True)
class Config:
    """``l2l study responses``: each figure's optimizers fed each signal for ``steps`` steps."""

    steps: int = field(300, ge=2)
    seed: int = field(0, ge=0, help="seeds the uniform noise U of the noisy signals")
    signals: tuple[str, ...] = tuple(SIGNALS)
    figures: tuple[ResponseFigureConfig, ...] = field(DEFAULT_FIGURES)
    output_dir: str = "runs/study_responses"

    def __post_init__(self):
        unknown = [n for n in self.signals if n not in SIGNALS]
        if unknown:
            raise ValueError(f"unknown signal {unknown[0]!r}; known signals: {', '.join(SIGNALS)}")
        if not self.signals:
            raise ValueError("signals is empty; known signals: " + ", ".join(SIGNALS))
        names = [f.name for f in self.figures]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"figure names must differ (they name files): {repeated} repeat")


ResponseStudyConfig = Config


@dataclasses.dataclass
class Curve:
    """One optimizer (with one combination of the swept values) fed every signal.

    ``group`` (which optimizer, and which values of all but the last swept key) and ``shade`` (the
    index of the last swept key's value, and how many values it has) are what the figure turns
    into a line style and a colour.
    """

    label: str
    kind: str  # the spec's kind: "classic", "optax", "learned", ...
    optimizer: str  # the optimizer's name, or the learned one's path
    hyperparams: dict[str, Number]  # its fixed hyperparameters and the swept values
    group: tuple[int, ...]
    shade: tuple[int, int]
    responses: dict[str, np.ndarray] = json_field(  # signal name -> -update_t, float32 (T,)
        lambda r: {n: compact(x) for n, x in r.items()}
    )


def _what(spec: OptimizerSpec) -> str:
    """The optimizer a spec names: its rule or factory, or its file."""
    return getattr(spec, "name", "") or getattr(spec, "path", "") or spec.display_label


def _curve_label(spec: OptimizerSpec, combination: dict, several: bool) -> str:
    parts = [spec.display_label] if several or not combination else []
    if combination:
        parts.append(format_hyperparams(combination))
    return " ".join(parts)


def figure_curves(figure: ResponseFigureConfig, signals: Mapping[str, np.ndarray]) -> list[Curve]:
    """The curves of one figure: each classic optimizer once per swept combination, each learned
    one once; the labels made unique (numbered) where two would be equal."""
    several = len(figure.optimizers) > 1
    keys = list(figure.sweep)
    curves, transforms = [], []
    for index, spec in enumerate(figure.optimizers):
        combinations = figure.combinations() if figure.swept(spec) else [{}]
        for combination in combinations:
            if combination:
                positions = [figure.sweep[k].index(combination[k]) for k in keys]
                *outer, shade = positions
                shades = len(figure.sweep[keys[-1]])
            else:
                outer, shade, shades = [], 0, 1
            curves.append(
                Curve(
                    label=_curve_label(spec, combination, several),
                    kind=spec.kind,
                    optimizer=_what(spec),
                    hyperparams={**getattr(spec, "hyperparams", {}), **combination},
                    group=(index, *outer),
                    shade=(shade, shades),
                    responses={},
                )
            )
            transforms.append(spec.build(**combination))
    labels = [c.label for c in curves]
    if len(set(labels)) != len(labels):  # e.g. two optimizers given one label
        for i, curve in enumerate(curves):
            curve.label = f"{i + 1}. {curve.label}"
    responses = response_curves({c.label: t for c, t in zip(curves, transforms)}, signals)
    for curve in curves:
        curve.responses = responses[curve.label]
    return curves


def figure_title(figure: ResponseFigureConfig) -> str:
    if figure.title:
        return figure.title
    if len(figure.optimizers) == 1:
        spec = figure.optimizers[0]
        hyperparams = getattr(spec, "hyperparams", {})
        fixed = f" ({format_hyperparams(hyperparams)})" if hyperparams else ""
        return f"{spec.display_label}{fixed}"
    return figure.name


@dataclasses.dataclass
class Report:
    config: Config
    signals: dict[str, np.ndarray] = json_field(  # signal name -> g_t, float32 (T,)
        lambda signals: {n: compact(s) for n, s in signals.items()}
    )
    figures: dict[str, list[Curve]] = dataclasses.field(default_factory=dict)  # figure -> curves


def run(cfg: Config, *, show_progress: bool = True) -> Report:
    """Every figure's curves (a few seconds; no progress to show)."""
    del show_progress
    signals = make_signals(cfg.signals, cfg.steps, cfg.seed)
    figures = {f.name: figure_curves(f, signals) for f in cfg.figures}
    return Report(cfg, signals, figures)


def summary(report: Report) -> str:
    """One row per figure: how many curves, and the largest response |r_t| to any signal."""
    cfg = report.config
    lines = [
        f"responses to {len(cfg.signals)} signals over {cfg.steps} steps",
        "",
        "| figure | curves | largest response |",
        "|---|---:|---:|",
    ]
    for name, curves in report.figures.items():
        values = np.abs(np.concatenate([r for c in curves for r in c.responses.values()]))
        values = values[np.isfinite(values)]
        peak = f"{values.max():.3g}" if values.size else "diverged"
        lines.append(f"| {name} | {len(curves)} | {peak} |")
    return "\n".join(lines)


def write(report: Report, output_dir: str | Path) -> list[Path]:
    """``responses.json``, one ``<figure>.png`` per figure and ``config.yaml``."""

    def figures(out: Path) -> list[Path]:
        return [
            plots.response_figure(
                report.signals,
                [dataclasses.asdict(c) for c in report.figures[figure.name]],
                out / f"{figure.name}.png",
                title=figure_title(figure),
                titles=SIGNAL_TITLES,
                yscale=figure.yscale,
                symlog_ratio=AUTO_SYMLOG_RATIO,
            )
            for figure in report.config.figures
        ]

    return write_report(report, output_dir, json_name="responses.json", figures=figures)
