"""Tuning: run a spec over a grid of one argument and pick the value of the lowest score."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np

from l2l.specs import OptimizerSpec
from l2l.sweep.grid import LogGrid, at_edge
from l2l.sweep.runner import LOSS_CURVE, Recorder, Runner


class Tuned(NamedTuple):
    """What :func:`tune` chose."""

    value: float  # the grid value of the lowest score
    best: int  # its index in the grid
    grid: np.ndarray  # the values tried
    scores: list[float]  # the score of each (inf where not finite)
    at_edge: bool  # the best value is an end of the grid: widen the grid
    outputs: dict[str, np.ndarray]  # the runs' records, leading axes (grid, keys)


def pick(scores: Any, what: str = "the grid") -> tuple[int, bool]:
    """The index of the lowest finite score of a grid's ``scores`` and whether it is at the grid's
    edge (:func:`l2l.sweep.grid.at_edge`); a ``RuntimeError`` naming ``what`` when every score is
    non-finite."""
    scores = np.asarray(scores, np.float64)
    scores = np.where(np.isfinite(scores), scores, np.inf)
    best = int(np.argmin(scores))
    if not math.isfinite(scores[best]):
        raise RuntimeError(f"{what}: every value of the grid diverged")
    return best, at_edge(best, scores.size)


def tune(
    spec: OptimizerSpec,
    grid: LogGrid,
    task: Any,
    keys: jax.Array,
    steps: int,
    *,
    score: Callable[[dict[str, np.ndarray]], float],
    runner: Runner,
    argument: str = "learning_rate",
    recorder: Recorder = LOSS_CURVE,
    chunk: int | None = None,
    progress: Callable[[int], Any] | None = None,
) -> Tuned:
    """Runs ``spec`` with ``argument`` at every value of ``grid`` on the instances ``keys`` and
    picks the value whose runs ``score`` lowest (``score``: one value's records, leading axis the
    keys -> a number; non-finite counts as infinite)."""
    values = grid.values
    outputs = runner.run(
        spec,
        task,
        keys,
        steps,
        {argument: values},
        recorder=recorder,
        chunk=chunk,
        progress=progress,
    )
    scores = []
    for v in range(len(values)):
        value = float(score(jax.tree.map(lambda x, v=v: x[v], outputs)))
        scores.append(value if math.isfinite(value) else math.inf)
    best, edge = pick(scores, spec.display_label)
    return Tuned(float(values[best]), best, values, scores, edge, outputs)
