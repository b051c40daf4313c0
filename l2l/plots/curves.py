"""Loss curves of optimizers on held-out instances, one panel or several."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from l2l.plots.save import save_png


def loss_curves(
    curves: dict[str, dict], path: str | Path, *, title: str = "", ax: Axes | None = None
) -> Path:
    """Mean loss against the optimizee step, log scale, with the interquartile band.

    ``curves`` maps a label to a dict with ``curve_mean``, ``curve_q25`` and ``curve_q75``.
    """
    own = ax is None
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for label, c in curves.items():
        mean = np.asarray(c["curve_mean"])
        steps = np.arange(len(mean))
        (line,) = ax.plot(steps, mean, lw=1.6, label=label)
        ax.fill_between(steps, c["curve_q25"], c["curve_q75"], color=line.get_color(), alpha=0.15)
    ax.set_yscale("log")
    ax.set_xlabel("optimizee step")
    ax.set_ylabel("loss (mean; band: 25-75th percentile)")
    if title:
        ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(frameon=False)
    path = Path(path)
    if own:
        fig.tight_layout()
        return save_png(fig, path)
    return Path(path)


def loss_curve_panels(
    panels: dict[str, dict[str, dict]], path: str | Path, *, title: str = ""
) -> Path:
    """One :func:`loss_curves` panel per setting, side by side, sharing the legend."""
    n = len(panels)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.6 * rows), dpi=110, squeeze=False)
    for ax, (name, curves) in zip(axes.flat, panels.items()):
        loss_curves(curves, path, title=name, ax=ax)
        ax.get_legend().remove()
        ax.set_ylabel("loss (mean, IQR band)")
    spare = list(axes.flat)[n:]
    for ax in spare:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if spare:  # the legend fills the first empty cell
        spare[0].legend(handles, labels, loc="center", frameon=False, fontsize="large")
        rect: tuple[float, float, float, float] = (0, 0, 1, 0.96)
    else:
        fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
        rect = (0, 0.07, 1, 0.96)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=rect)
    return save_png(fig, path)


def ratio_heatmap(
    ratios: Any, *, rows: list[str], columns: list[str], path: str | Path, title: str = ""
) -> Path:
    """A heat map of ratios to the best tuned baseline (rows: optimizers, columns: settings), on
    a log colour scale centred at 1 (blue: better than the baseline, red: worse), each cell
    labelled with its ratio."""
    from matplotlib.colors import TwoSlopeNorm

    values = np.asarray(ratios, dtype=float)
    logs = np.log10(values)
    span = max(float(np.nanmax(np.abs(logs))), 0.05)
    fig, ax = plt.subplots(figsize=(1.4 * len(columns) + 2.5, 0.55 * len(rows) + 1.8))
    image = ax.imshow(logs, cmap="RdBu_r", norm=TwoSlopeNorm(0.0, -span, span), aspect="auto")
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=9)
    ax.set_xticks(range(len(columns)), columns, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    bar = fig.colorbar(image, ax=ax)
    bar.set_label("log10(ratio to the best tuned baseline)")
    ax.set_title(title or "mean summed loss / best tuned baseline's", fontsize=10)
    fig.tight_layout()
    return save_png(fig, path, dpi=110)
