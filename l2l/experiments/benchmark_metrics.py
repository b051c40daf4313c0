r"""The benchmark's numbers: loss normalized by tuned Adam's, VeLO's speedup, and aggregates over
tasks and seeds with stratified-bootstrap intervals (``rliable``).

For one optimizer on one task, seed :math:`s` has a final training loss :math:`L_s` (the mean of
its minibatch losses over the last 5 % of the :math:`T` steps). With :math:`\bar L_A` tuned Adam's
mean final loss over the same seeds:

- **normalized loss** :math:`L_s / \bar L_A` (1: as good as tuned Adam; below 1: better), a
  diverged run counted as :data:`CAP` (so the aggregates stay finite);
- **speedup** (Metz et al., 2022, VeLO, section 5): :math:`t^* / T`, where :math:`t^*` is the first
  step at which tuned Adam's loss (its seed-mean curve, averaged over the same trailing 5 % window)
  reaches :math:`L_s`; tuned Adam runs :math:`2T` steps for it, so the speedup is measured up to
  :data:`MAX_SPEEDUP` (``>= 2``: Adam did not get there in twice the steps); 1 is Adam's pace;
- **beats tuned Adam** on the task: the mean of :math:`L_s` over seeds is below :math:`\bar L_A`.

Aggregates (Agarwal et al., 2021, "Deep Reinforcement Learning at the Edge of the Statistical
Precipice"): the interquartile mean (IQM) over all tasks x seeds of the normalized loss and of the
speedup, and the win rate (the share of tasks beaten), each with a 95 % stratified-bootstrap
interval (runs resampled within each task), and a performance profile: the share of runs whose
normalized loss is at most :math:`\tau`. Celo (Moudgil et al., 2025) reports the same two IQMs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np

#: A diverged run's normalized loss (and the cap of every normalized loss).
CAP = 100.0
#: The largest measurable speedup: tuned Adam's reference runs are this many horizons long.
MAX_SPEEDUP = 2.0
#: Points kept of tuned Adam's reference curve (over 2T steps) in the results file.
REFERENCE_POINTS = 201


def normalized(final_losses: Sequence[float], adam_mean: float) -> np.ndarray:
    """Each run's final loss over tuned Adam's mean final loss; :data:`CAP` where not finite."""
    ratio = np.asarray(final_losses, np.float64) / adam_mean
    return np.where(np.isfinite(ratio), np.minimum(ratio, CAP), CAP)


def reference_curve(curves: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Tuned Adam's reference for speedups: the seed-mean loss curve (curves (seeds, n + 1)),
    averaged over a trailing window of ``window`` steps (fewer at the start), at
    :data:`REFERENCE_POINTS` steps; returns (steps, losses)."""
    mean = np.mean(np.asarray(curves, np.float64), axis=0)
    sums = np.concatenate([[0.0], np.cumsum(mean)])
    t = np.arange(mean.size)
    start = np.maximum(0, t - window + 1)
    smoothed = (sums[t + 1] - sums[start]) / (t + 1 - start)
    keep = np.unique(np.round(np.linspace(0, mean.size - 1, REFERENCE_POINTS)).astype(int))
    return keep, smoothed[keep]


def speedups(
    final_losses: Sequence[float], ref_steps: Sequence[int], ref_losses: Sequence[float], steps: int
) -> np.ndarray:
    """Each run's speedup over tuned Adam (see the module docstring): the first reference step
    whose loss is at most the run's final loss, over ``steps``; :data:`MAX_SPEEDUP` where the
    reference never gets there, 0 for a diverged run."""
    at = np.asarray(ref_steps)
    reference = np.asarray(ref_losses, np.float64)
    out = []
    for loss in np.asarray(final_losses, np.float64):
        if not np.isfinite(loss):
            out.append(0.0)
            continue
        reached = np.nonzero(reference <= loss)[0]
        out.append(MAX_SPEEDUP if reached.size == 0 else min(at[reached[0]] / steps, MAX_SPEEDUP))
    return np.asarray(out)


def iqm(scores: np.ndarray) -> float:
    """The interquartile mean of every entry (the mean of the middle 50 %; ``rliable``'s)."""
    from rliable import metrics as rliable_metrics

    return float(rliable_metrics.aggregate_iqm(np.asarray(scores, np.float64)))


def win_rate(normalized_losses: np.ndarray) -> float:
    """The share of tasks (columns) whose seed-mean normalized loss is below 1 (by more than
    rounding: tuned Adam does not beat itself)."""
    return float(np.mean(np.mean(normalized_losses, axis=0) < 1.0 - 1e-9))


@dataclasses.dataclass
class Interval:
    """An aggregate and its 95 % stratified-bootstrap interval."""

    value: float
    low: float
    high: float


@dataclasses.dataclass
class Aggregate:
    """One optimizer's aggregates over the suite."""

    tasks: int  # the tasks it ran on
    iqm_normalized_loss: Interval
    iqm_speedup: Interval
    win_rate: Interval


@contextlib.contextmanager
def _numpy_seeded(seed: int) -> Iterator[None]:
    """NumPy's global generator seeded with ``seed`` inside, restored after: rliable 1.2's
    stratified bootstrap draws its resamples from ``np.random.choice`` whatever ``random_state``
    it is given, so only this makes an interval a function of its scores and seed."""
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        with warnings.catch_warnings():  # arch's notice that RandomState will be replaced
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        np.random.set_state(saved)


def interval_estimates(
    scores: Mapping[str, np.ndarray],
    measures: Callable[[np.ndarray], np.ndarray],
    *,
    reps: int,
    seed: int,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``rliable``'s point estimates and 95 % stratified-bootstrap intervals of ``measures`` of
    each (runs, tasks) score matrix (runs resampled within each task), the resamples drawn from
    ``seed``: the same scores and seed give the same intervals."""
    from rliable import library as rly

    out_point, out_interval = {}, {}
    for name, x in scores.items():  # each from the seed, whatever the others are
        with _numpy_seeded(seed):
            point, interval = rly.get_interval_estimates(
                {name: x}, measures, reps=reps, random_state=np.random.RandomState(seed)
            )
        out_point[name], out_interval[name] = point[name], interval[name]
    return out_point, out_interval


def aggregates(
    scores: Mapping[str, tuple[np.ndarray, np.ndarray]], *, reps: int = 2000, seed: int = 0
) -> dict[str, Aggregate]:
    """Per optimizer, from its (normalized losses, speedups), each (seeds, tasks): the IQMs and
    the win rate with their 95 % stratified-bootstrap intervals (``rliable``, ``reps`` resamples
    drawn from ``seed``)."""

    def measures(x: np.ndarray) -> np.ndarray:
        return np.asarray([iqm(x[..., 0]), iqm(x[..., 1]), win_rate(x[..., 0])])

    both = {  # (seeds, tasks, 2)
        name: np.stack([losses, speeds], axis=-1) for name, (losses, speeds) in scores.items()
    }
    point, interval = interval_estimates(both, measures, reps=reps, seed=seed)
    out = {}
    for name, (losses, _) in scores.items():
        p, ci = point[name], interval[name]
        out[name] = Aggregate(
            tasks=int(losses.shape[1]),
            iqm_normalized_loss=Interval(float(p[0]), float(ci[0, 0]), float(ci[1, 0])),
            iqm_speedup=Interval(float(p[1]), float(ci[0, 1]), float(ci[1, 1])),
            win_rate=Interval(float(p[2]), float(ci[0, 2]), float(ci[1, 2])),
        )
    return out


#: The thresholds of the performance profile: normalized losses from 1/10 to 10, log-spaced.
PROFILE_TAUS = np.geomspace(0.1, 10.0, 41)


def profiles(
    normalized_losses: Mapping[str, np.ndarray], *, reps: int = 500, seed: int = 0
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Performance profiles (``rliable``): per optimizer, the share of its runs (all tasks and
    seeds) whose normalized loss is at most each of :data:`PROFILE_TAUS`, with 95 % intervals
    (resamples drawn from ``seed``)."""
    from rliable import library as rly

    def share(scores: np.ndarray, taus: np.ndarray) -> np.ndarray:
        return np.asarray([np.mean(scores <= tau) for tau in taus])

    with _numpy_seeded(seed):
        return rly.create_performance_profile(
            dict(normalized_losses), PROFILE_TAUS, custom_profile_func=share, reps=reps
        )
