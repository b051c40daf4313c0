"""The benchmark's figure: performance profiles of normalized loss (``l2l benchmark``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def performance_profile(
    taus: Sequence[float] | np.ndarray,
    profiles: Mapping[str, Sequence[float]],
    intervals: Mapping[str, Sequence[Sequence[float]]] | None = None,
) -> Figure:
    """The share of runs (tasks x seeds) whose final loss is at most tau x tuned Adam's, against
    tau (log axis), one line per optimizer with its 95 % interval band; tuned Adam's own runs
    cross 1/2 near tau = 1."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8), constrained_layout=True)
    cmap = plt.get_cmap("tab20")
    for i, (label, profile) in enumerate(profiles.items()):
        color = cmap(i % 20)
        ax.plot(taus, profile, label=label, color=color, lw=1.6)
        if intervals and label in intervals:
            low, high = np.asarray(intervals[label])
            ax.fill_between(taus, low, high, color=color, alpha=0.15, lw=0)
    ax.axvline(1.0, color="grey", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("τ: final training loss / tuned Adam's")
    ax.set_ylabel("share of runs with loss ≤ τ × tuned Adam's")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, loc="lower right", ncol=2)
    ax.set_title("Performance profiles over the benchmark suite")
    return fig
