"""Meta-training curves of runs on a task distribution (``l2l meta-train`` with task kind
``distribution``), from their records (:func:`l2l.experiments.general_lopt.training_record`)."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def distribution_curves(records: Mapping[str, dict], window: int = 500) -> Figure:
    """Two panels, one line per run: the validation score (mean over members of the log of
    their mean validation loss) at each evaluation; and the training meta-loss of each member
    minus that member's first logged value, per optimizee step (the meta-loss is a sum over a
    truncation), averaged over members and over windows of ``window`` meta-steps: how much
    lower, in log-loss units, each member's losses run than when meta-training began."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    cmap = plt.get_cmap("tab10")
    for i, (label, r) in enumerate(records.items()):
        color = cmap(i % 10)
        steps, scores = np.asarray(r["validation"], np.float64).T
        left.plot(steps, scores, "o-", color=color, label=label, lw=1.4, ms=4)
        logged = np.asarray(r["meta_loss"], np.float64)  # (step, member, meta-loss)
        change = np.full(len(logged), np.nan)
        for m in np.unique(logged[:, 1]):
            mine = logged[:, 1] == m
            change[mine] = logged[mine, 2] - logged[mine, 2][0]
        bins = (logged[:, 0] // window).astype(int)
        centers = [(b + 0.5) * window for b in np.unique(bins)]
        means = [np.nanmean(change[bins == b]) for b in np.unique(bins)]
        right.plot(centers, np.asarray(means) / r["truncation"], color=color, label=label)
    left.set_xlabel("meta-step")
    left.set_ylabel("validation: mean over members of log(mean loss)")
    left.set_title("early stopping's score (lower is better)")
    right.axhline(0.0, color="grey", lw=0.8, ls=":")
    right.set_xlabel("meta-step")
    right.set_ylabel("log-loss change per step vs the first meta-step")
    right.set_title(f"training meta-loss, {window}-step means over members")
    for ax in (left, right):
        ax.legend(fontsize=7)
    return fig
