"""Every figure of l2l, drawn with matplotlib; the one place that picks its backend (Agg: files,
no screen). Each function takes numbers (as an experiment computed them, or read back from its
JSON) and writes a PNG or GIF, returning its path.
"""

import matplotlib

matplotlib.use("Agg")

from l2l.plots.curves import loss_curve_panels, loss_curves, ratio_heatmap
from l2l.plots.hyper import robustness
from l2l.plots.studies import (
    race_animation,
    race_figure,
    race_overview,
    response_figure,
    save_png,
)
from l2l.plots.zero_machine import zero_machine

__all__ = [
    "loss_curve_panels",
    "loss_curves",
    "race_animation",
    "race_figure",
    "race_overview",
    "ratio_heatmap",
    "response_figure",
    "robustness",
    "save_png",
    "zero_machine",
]
