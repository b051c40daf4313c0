"""The zero-machine figure: log10 f against the step, with float32's smallest normal number."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from l2l.plots.save import save_png


def zero_machine(
    results: list[dict],
    path: str | Path,
    title: str = "",
    *,
    target: float,
    log10_of_zero: float,
) -> Path:
    """log10 f against the step: the median and the 10-90% band of each optimizer, with the
    zero machine ``target`` (float32's smallest normal number) drawn as a line; a loss of exactly
    0 is at ``log10_of_zero`` (the experiment's statistics say which values those are)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in results:
        steps = np.arange(len(r["log10_median"]))
        label = f"{r['name']} ({r['reached']:.0%} reach)"
        (line,) = ax.plot(steps, r["log10_median"], lw=2 if r.get("learned") else 1.2, label=label)
        ax.fill_between(steps, r["log10_q10"], r["log10_q90"], color=line.get_color(), alpha=0.15)
    ax.axhline(math.log10(target), color="k", ls="--", lw=1)
    ax.text(
        len(results[0]["log10_median"]) - 1 if results else 1,
        math.log10(target) + 0.8,
        f"zero machine: float32 tiny = {target:.3g}",
        fontsize=8,
        ha="right",
    )
    ax.set_xlabel("step t")
    ax.set_ylabel(f"log10 f(theta_t)  (0 drawn at {log10_of_zero:.2f})")
    ax.set_ylim(log10_of_zero - 2, 2)
    ax.set_title(title or "zero machine: median and 10-90% band")
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return save_png(fig, path, dpi=120)
