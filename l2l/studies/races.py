r"""Races on 2-D surfaces: several optimizers from one start point, their paths over the contours.

Each optimizer runs on the surface :math:`f` as one jitted ``lax.scan``: at every step it gets
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
import json
import math
from collections.abc import Mapping
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from l2l.config import field, to_dict
from l2l.studies.specs import OptimizerSpec
from l2l.tasks.surfaces import SURFACES, SurfaceFn, surface


def _trajectory_fn(transform: optax.GradientTransformation, f: SurfaceFn, steps: int):
    """start (2,) -> trajectory (steps + 1, 2), w_0 = start."""
    if not isinstance(transform, optax.GradientTransformationExtraArgs):
        transform = optax.with_extra_args_support(transform)
    value_and_grad = jax.value_and_grad(f)

    def run(start):
        def step(carry, _):
            w, state = carry
            value, grad = value_and_grad(w)
            updates, state = transform.update(
                grad, state, w, value=value, grad=grad, value_fn=f, grad_fn=jax.grad(f)
            )
            w = optax.apply_updates(w, updates)
            return (w, state), w

        _, path = jax.lax.scan(step, (start, transform.init(start)), length=steps)
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
    f = surface(f) if isinstance(f, str) else f
    start = jnp.asarray(start, jnp.float32)
    if start.shape[-1:] != (2,) or start.ndim > 2:
        raise ValueError(
            f"start must be a point (2,) or a batch of points (n, 2), got {start.shape}"
        )
    paths = {}
    for label, transform in transforms.items():
        run = _trajectory_fn(transform, f, steps)
        paths[label] = np.asarray(jax.jit(jax.vmap(run) if start.ndim == 2 else run)(start))
    return paths


def values_along(f: SurfaceFn | str, paths: np.ndarray) -> np.ndarray:
    """f at every point of a path (..., 2)."""
    f = surface(f) if isinstance(f, str) else f
    points = jnp.asarray(paths, jnp.float32)
    flat = points.reshape(-1, 2)
    return np.asarray(jax.jit(jax.vmap(f))(flat)).reshape(points.shape[:-1])


# --------------------------------------------------------------------------- the study


def _classic(name: str, label: str, **hyperparams) -> OptimizerSpec:
    return OptimizerSpec(name=name, hyperparams=hyperparams, label=label)


# The classic race (PyTorch's names: Adadelta lr 100, rho 0.95 is our gamma, D_0 = 0).
CLASSIC_RACE = (
    _classic("nesterov", "Nesterov", lr=0.01, gamma=0.9),
    _classic("rmsprop", "RMSProp", lr=0.25, gamma=0.9, eps=1e-6),
    _classic("adadelta", "Adadelta", lr=100.0, gamma=0.95, eps=1e-6, initial_delta=0.0),
    _classic("adagrad", "Adagrad", lr=1.0, eps=1e-6),
    _classic("adam", "Adam", lr=0.25, b1=0.9, b2=0.999, eps=1e-8),
)


@dataclasses.dataclass(frozen=True)
class SurfaceStudyConfig:
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


def run_surface_study(cfg: SurfaceStudyConfig) -> dict:
    """{'config', 'results': surface -> label -> {trajectory, values, final_value, ...}}."""
    transforms = {o.display_label: o.build() for o in cfg.optimizers}
    results = {}
    for name in cfg.surfaces:
        paths = race(transforms, name, cfg.start, cfg.steps)
        results[name] = {}
        for spec in cfg.optimizers:
            label = spec.display_label
            values = values_along(name, paths[label])
            results[name][label] = {
                "kind": spec.kind,
                "optimizer": spec.name if spec.kind == "classic" else spec.path,
                "hyperparams": dict(spec.hyperparams),
                "trajectory": paths[label],
                "values": values,
                "final_position": paths[label][-1],
                "final_value": float(values[-1]),
            }
    return {"config": to_dict(cfg), "results": results}


def _json_numbers(array):
    array = np.asarray(array, np.float64)
    out = np.where(np.isfinite(array), array, np.nan).tolist()

    def clean(v):
        if isinstance(v, list):
            return [clean(x) for x in v]
        return None if math.isnan(v) else float(f"{v:.7g}")

    return clean(out)


def report_to_json(report: dict) -> dict:
    """The report with arrays as lists (non-finite values as null), ready for ``json.dump``."""
    results = {
        name: {
            label: {
                k: _json_numbers(v) if isinstance(v, (np.ndarray, float)) else v
                for k, v in entry.items()
            }
            for label, entry in per_surface.items()
        }
        for name, per_surface in report["results"].items()
    }
    return {"config": report["config"], "results": results}


def format_race_table(report: dict) -> str:
    """A markdown table: final f (and final position) of every optimizer on every surface."""
    labels = list(next(iter(report["results"].values())))
    lines = ["| surface | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    for name, per_surface in report["results"].items():
        cells = []
        for label in labels:
            entry = per_surface[label]
            x, y = entry["final_position"]
            if np.isfinite(entry["final_value"]):
                cells.append(f"{entry['final_value']:.3g} at ({x:.2f}, {y:.2f})")
            else:
                cells.append("diverged")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_surface_study(report: dict, cfg: SurfaceStudyConfig) -> list[Path]:
    """Write ``races.json``, ``<surface>.png`` (+ ``.gif``) and ``overview.png``; return paths."""
    from l2l.studies import figures as figures_lib

    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "races.json"
    json_path.write_text(json.dumps(report_to_json(report), indent=1, ensure_ascii=False))
    paths = [json_path]
    for name, per_surface in report["results"].items():
        trajectories = {label: e["trajectory"] for label, e in per_surface.items()}
        common = {"title": name, "xlim": cfg.xlim, "ylim": cfg.ylim}
        paths.append(
            figures_lib.race_figure(SURFACES[name], trajectories, out / f"{name}.png", **common)
        )
        if name in cfg.animated_surfaces:
            paths.append(
                figures_lib.race_animation(
                    SURFACES[name],
                    trajectories,
                    out / f"{name}.gif",
                    **common,
                    fps=cfg.fps,
                    frame_every=cfg.frame_every,
                    dpi=cfg.gif_dpi,
                )
            )
    races = {
        name: {label: e["trajectory"] for label, e in per_surface.items()}
        for name, per_surface in report["results"].items()
    }
    paths.append(
        figures_lib.race_overview(
            {n: SURFACES[n] for n in races},
            races,
            out / "overview.png",
            xlim=cfg.xlim,
            ylim=cfg.ylim,
        )
    )
    return paths
