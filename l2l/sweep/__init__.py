"""Sweeps: any optimizer spec x a grid of values x seeds on a task, compiled once per structure.

:class:`Runner` runs them (its programs cached in the object), :class:`LogGrid` is the one grid of
step sizes with its one edge rule, :func:`tune` picks a grid's best value by a score. The
baseline tuning protocol of :mod:`l2l.evaluate` and every experiment's runs stand on these.

Examples:
  >>> import l2l
  >>> task = l2l.tasks.QuadraticConfig(dim=3).build()
  >>> keys = l2l.unroll.instance_keys(seed=0, which=l2l.unroll.TUNING_SET, num=4)
  >>> runner = l2l.sweep.Runner()
  >>> out = runner.run(l2l.specs.spec("adam"), task, keys, 10, {"learning_rate": [1e-3, 1e-2]})
  >>> out["curve"].shape  # (step sizes, instances, steps + 1)
  (2, 4, 11)
  >>> runner.programs  # one compiled program for the whole grid
  1
"""

from l2l.sweep.grid import LogGrid
from l2l.sweep.runner import (
    LOSS_CURVE,
    LossCurve,
    Recorder,
    RunContext,
    Runner,
    seed_instance_keys,
    tenth_ends,
    tenths,
)
from l2l.sweep.tuning import Tuned, pick, tune

__all__ = [
    "LOSS_CURVE",
    "LogGrid",
    "LossCurve",
    "Recorder",
    "RunContext",
    "Runner",
    "Tuned",
    "pick",
    "seed_instance_keys",
    "tenth_ends",
    "tenths",
    "tune",
]
