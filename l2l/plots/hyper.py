"""The hyperoptimizer experiments' figure: final loss against the initial step size."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np


def robustness(robustness: dict, path: str | Path, *, title: str = "") -> Path:
    """Final training loss against the bottom level's initial step size, one curve per height."""
    fig, ax = plt.subplots(figsize=(6.0, 4.0), dpi=100)
    lrs = np.asarray(robustness["lrs"])
    for curve in robustness["curves"].values():
        loss = np.asarray(curve["final_train_loss"], np.float64)
        loss = np.where(np.isfinite(loss), loss, np.nan)
        spread = curve["spread_decades"]
        label = f"height {curve['height']}"
        if spread is not None:
            label += f" (spread {spread:.2f} decades)"
        if curve["diverged"]:
            label += f", {curve['diverged']} diverged"
        ax.plot(lrs, loss, marker="o", ms=3.5, lw=1.5, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("initial step size of the bottom level")
    ax.set_ylabel("final training loss (full train split)")
    if title:
        ax.set_title(title, fontsize=9)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
