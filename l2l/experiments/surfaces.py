r"""``l2l study surfaces``: races on 2-D surfaces, several optimizers from one start point.

Each optimizer runs on the surface :math:`f` as the library's one unroll loop
(:func:`l2l.unroll.trajectory`, one jitted ``lax.scan``): at every step it gets
:math:`g = \nabla f(w_t)` and the extra arguments ``value``, ``grad``, ``value_fn`` and
``grad_fn`` (so look-ahead optimizers such as ``nesterov`` evaluate the gradient at their own
points, and ``w_t`` is the textbook iterate), and :math:`w_{t+1} = w_t + \Delta w_t`.

A batch of start points is vmapped; surfaces are not. Under ``vmap`` a switch between surfaces
evaluates every surface (and its gradient) at every point, and where one run diverges a surface
that overflows there (rosenbrock at 1e20) turns the masked-out gradient into NaN for the others.
One compiled scan per optimizer and surface costs well under a second each.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from l2l import plots, unroll
from l2l.config import field
from l2l.experiments.report import compact, json_field, write_report
from l2l.specs import ClassicSpec, OptimizerSpec
from l2l.tasks.surfaces import SURFACES, Surface, SurfaceFn, surface

Number = int | float


def _path_fn(transform: optax.GradientTransformation, task, steps: int):
    """start (2,) -> path (steps + 1, 2), row 0 = start: :func:`l2l.unroll.trajectory`."""

    def run(start):
        state = unroll.UnrollState(
            params=start, opt_state=transform.init(start), step=jnp.zeros((), jnp.int32)
        )
        _, _, path = unroll.trajectory(
            transform, task, (), state, jax.random.key(0), steps, lambda s: s.params
        )
        return jnp.concatenate([start[None], path])

    return run


def race(
    transforms: Mapping[str, optax.GradientTransformation],
    f: SurfaceFn | str,
    start,
    steps: int,
) -> dict[str, np.ndarray]:
    """The trajectory of each optimizer on ``f`` from ``start``.

    Args:
      transforms: label -> any optax transform.
      f: a surface name (a key of ``SURFACES``) or a function of a ``(2,)`` array.
      start: the start point (2,), or a batch of them (n, 2) (then vmapped).
      steps: how many updates.

    Returns:
      label -> float32 array (steps + 1, 2), or (n, steps + 1, 2) for a batch of starts; row 0
      is the start point. A diverged run shows as non-finite rows.
    """
    task = Surface(name=f) if isinstance(f, str) else Surface(function=f)
    start = jnp.asarray(start, jnp.float32)
    if start.shape[-1:] != (2,) or start.ndim > 2:
        raise ValueError(
            f"start must be a point (2,) or a batch of points (n, 2), got {start.shape}"
        )
    paths = {}
    for label, transform in transforms.items():
        run = _path_fn(transform, task, steps)
        paths[label] = np.asarray(jax.jit(jax.vmap(run) if start.ndim == 2 else run)(start))
    return paths


def values_along(f: SurfaceFn | str, paths: np.ndarray) -> np.ndarray:
    """f at every point of a path (..., 2)."""
    f = surface(f) if isinstance(f, str) else f
    points = jnp.asarray(paths, jnp.float32)
    flat = points.reshape(-1, 2)
    return np.asarray(jax.jit(jax.vmap(f))(flat)).reshape(points.shape[:-1])


# --------------------------------------------------------------------------- the experiment


def _classic(name: str, label: str, **hyperparams) -> OptimizerSpec:
    return ClassicSpec(name=name, hyperparams=hyperparams, label=label)


# The classic race (PyTorch's settings: Adadelta lr 100, rho 0.95, D_0 = 0).
CLASSIC_RACE = (
    _classic("nesterov", "Nesterov", learning_rate=0.01, momentum=0.9),
    _classic("rmsprop", "RMSProp", learning_rate=0.25, decay=0.9, eps=1e-6),
    _classic("adadelta", "Adadelta", learning_rate=100.0, rho=0.95, eps=1e-6, initial_delta=0.0),
    _classic("adagrad", "Adagrad", learning_rate=1.0, eps=1e-6),
    _classic("adam", "Adam", learning_rate=0.25, b1=0.9, b2=0.999, eps=1e-8),
)


@dataclasses.dataclass(frozen=True)
class Config:
    """``l2l study surfaces``: race ``optimizers`` on each surface; PNG per surface, GIFs, JSON.

    ``animate`` names the surfaces that also get an animated GIF (``all``: every one; empty: none).
    """

    surfaces: tuple[str, ...] = tuple(SURFACES)
    start: tuple[float, float] = (-2.8, -2.5)
    steps: int = field(125, ge=1)
    optimizers: tuple[OptimizerSpec, ...] = field(CLASSIC_RACE)
    xlim: tuple[float, float] = (-3.0, 3.0)
    ylim: tuple[float, float] = (-3.0, 3.0)
    animate: tuple[str, ...] = ("all",)
    fps: int = field(20, ge=1, le=100)
    frame_every: int = field(1, ge=1, help="draw every n-th step in the GIF")
    gif_dpi: int = field(70, ge=20, le=300)
    output_dir: str = "runs/study_surfaces"

    def __post_init__(self):
        for name in self.surfaces:
            surface(name)  # Lists the known surfaces.
        if not self.surfaces:
            raise ValueError("surfaces is empty; known surfaces: " + ", ".join(SURFACES))
        for name in self.animate:
            if name != "all" and name not in self.surfaces:
                raise ValueError(
                    f"animate names {name!r}, which is not among the surfaces raced "
                    f"({', '.join(self.surfaces)}); use 'all' or some of those"
                )
        if not self.optimizers:
            raise ValueError("optimizers is empty: name at least one to race")
        labels = [o.display_label for o in self.optimizers]
        repeated = sorted({x for x in labels if labels.count(x) > 1})
        if repeated:
            raise ValueError(f"optimizer labels must differ (set label:), {repeated} repeat")
        for lim, key in ((self.xlim, "xlim"), (self.ylim, "ylim")):
            if not lim[0] < lim[1]:
                raise ValueError(f"{key} must be (low, high) with low < high, got {list(lim)}")

    @property
    def animated_surfaces(self) -> tuple[str, ...]:
        return self.surfaces if "all" in self.animate else self.animate


SurfaceStudyConfig = Config


@dataclasses.dataclass
class Race:
    """One optimizer's run on one surface."""

    __json_extra__ = ("final_position", "final_value")

    kind: str  # the spec's kind: "classic", "optax", "learned", ...
    optimizer: str  # the optimizer's name, or the learned one's path
    hyperparams: dict[str, Number]
    # (steps + 1, 2) float32, row 0 the start; non-finite once diverged
    trajectory: np.ndarray = json_field(compact)
    values: np.ndarray = json_field(compact)  # (steps + 1,) f along the trajectory

    @property
    def final_position(self) -> list:
        """Where the run ended (as written: seven digits, null once diverged)."""
        return compact(self.trajectory[-1])

    @property
    def final_value(self) -> float | None:
        """f where the run ended (as written: seven digits, null once diverged)."""
        return compact(self.values[-1])


@dataclasses.dataclass
class Report:
    config: Config
    races: dict[str, dict[str, Race]]  # surface name -> optimizer label -> its race


def run(cfg: Config, *, show_progress: bool = True) -> Report:
    """Every optimizer of ``cfg`` raced on every surface (a few seconds; no progress to show)."""
    del show_progress
    transforms = {o.display_label: o.build() for o in cfg.optimizers}
    races = {}
    for name in cfg.surfaces:
        paths = race(transforms, name, cfg.start, cfg.steps)
        races[name] = {
            spec.display_label: Race(
                kind=spec.kind,
                optimizer=getattr(spec, "name", "") or getattr(spec, "path", ""),
                hyperparams=dict(getattr(spec, "hyperparams", {})),
                trajectory=paths[spec.display_label],
                values=values_along(name, paths[spec.display_label]),
            )
            for spec in cfg.optimizers
        }
    return Report(cfg, races)


def summary(report: Report) -> str:
    """A markdown table: final f (and final position) of every optimizer on every surface."""
    labels = list(next(iter(report.races.values())))
    lines = ["| surface | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    for name, per_surface in report.races.items():
        cells = []
        for label in labels:
            r = per_surface[label]
            (x, y), value = r.trajectory[-1], r.values[-1]
            if np.isfinite(value):
                cells.append(f"{value:.3g} at ({x:.2f}, {y:.2f})")
            else:
                cells.append("diverged")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write(report: Report, output_dir: str | Path) -> list[Path]:
    """``races.json``, ``<surface>.png`` (+ ``.gif``), ``overview.png`` and ``config.yaml``."""
    cfg = report.config
    trajectories = {
        name: {label: r.trajectory for label, r in per_surface.items()}
        for name, per_surface in report.races.items()
    }

    def figures(out: Path) -> list[Path]:
        paths = []
        for name, per_surface in trajectories.items():
            common = {"title": name, "xlim": cfg.xlim, "ylim": cfg.ylim}
            paths.append(
                plots.race_figure(SURFACES[name], per_surface, out / f"{name}.png", **common)
            )
            if name in cfg.animated_surfaces:
                paths.append(
                    plots.race_animation(
                        SURFACES[name],
                        per_surface,
                        out / f"{name}.gif",
                        **common,
                        fps=cfg.fps,
                        frame_every=cfg.frame_every,
                        dpi=cfg.gif_dpi,
                    )
                )
        surfaces = {n: SURFACES[n] for n in trajectories}
        paths.append(
            plots.race_overview(
                surfaces, trajectories, out / "overview.png", xlim=cfg.xlim, ylim=cfg.ylim
            )
        )
        return paths

    return write_report(report, output_dir, json_name="races.json", figures=figures)
