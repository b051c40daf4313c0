"""Optimizer specs: the one way a config names any optimizer the project can run.

A spec is chosen by ``kind:`` (or written as a plain string, ``adam``) and builds an optax
transform, with any of its numbers given as (traced) values, so the sweep runner
(:mod:`l2l.sweep`) compiles one program for a whole grid of them:

- ``classic``: a hand-designed rule of :mod:`l2l.optimizers` (:class:`ClassicSpec`);
- ``optax``: any factory of ``optax`` or ``optax.contrib`` with its arguments, e.g. AdamW, Lion,
  Prodigy, D-Adaptation, DoG, Mechanic, COCOB, schedule-free AdamW (:class:`OptaxSpec`);
- ``learned``: a trained optimizer by zoo name or ``.l2l`` file (:class:`LearnedSpec`);
- ``stack``: a hyperoptimizer stack, levels bottom first (:class:`StackSpec`);
- ``schedule``: any of these with its learning rate on a warmup-cosine schedule over the run
  (:class:`ScheduleSpec`).

A new kind is one module: a frozen dataclass derived from :class:`OptimizerSpec`, registered with
:func:`register`.

Examples:
  >>> import l2l
  >>> spec = l2l.specs.spec("prodigy")  # optax.contrib.prodigy at its defaults
  >>> type(spec).__name__, spec.default("estim_lr0")
  ('OptaxSpec', 1e-06)
  >>> optimizer = spec.build(estim_lr0=1e-5)  # an optax transform, one number set
  >>> l2l.specs.spec({"kind": "stack", "levels": ["adam", "sgd"]}).display_label
  'adam / sgd'
"""

from l2l.specs.base import (
    OPTIMIZER_KINDS,
    REQUIRED,
    OptimizerSpec,
    SpecError,
    register,
    spec,
)
from l2l.specs.classic import ClassicSpec
from l2l.specs.factories import find_factory
from l2l.specs.learned import LearnedSpec
from l2l.specs.optax_factory import OptaxSpec
from l2l.specs.schedule import ScheduleSpec
from l2l.specs.stack import LevelSpec, StackSpec

__all__ = [
    "OPTIMIZER_KINDS",
    "REQUIRED",
    "ClassicSpec",
    "LearnedSpec",
    "LevelSpec",
    "OptaxSpec",
    "OptimizerSpec",
    "ScheduleSpec",
    "SpecError",
    "StackSpec",
    "find_factory",
    "register",
    "spec",
]
