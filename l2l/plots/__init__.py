"""Every figure of l2l, drawn with matplotlib; the one place that picks its backend (Agg: files,
no screen). Each function takes numbers (as an experiment computed them, or read back from its
JSON) and writes a PNG or GIF, returning its path.
"""

import matplotlib

matplotlib.use("Agg")

from l2l.plots.benchmark import performance_profile
from l2l.plots.curves import loss_curve_panels, loss_curves, ratio_heatmap
from l2l.plots.hyper import (
    dual_number_traces,
    no_tuning_robustness,
    robustness,
    short_horizon_traces,
    step_size_traces,
)
from l2l.plots.meta_training import distribution_curves
from l2l.plots.save import save_png
from l2l.plots.studies import race_animation, race_figure, race_overview, response_figure
from l2l.plots.zero_machine import zero_machine

__all__ = [
    "distribution_curves",
    "dual_number_traces",
    "loss_curve_panels",
    "loss_curves",
    "no_tuning_robustness",
    "performance_profile",
    "race_animation",
    "race_figure",
    "race_overview",
    "ratio_heatmap",
    "response_figure",
    "robustness",
    "save_png",
    "short_horizon_traces",
    "step_size_traces",
    "zero_machine",
]
