r"""``kind: schedule``: any optimizer spec with a learning-rate schedule over the run's horizon.

    {kind: schedule, base: adam}                                 # warmup 5 %, cosine decay to 0
    {kind: schedule, base: {kind: optax, name: sgd, hyperparams: {momentum: 0.9}}, warmup: 0.1}

The swept or set ``learning_rate`` is the schedule's peak :math:`\alpha`; over a run of
:math:`T` steps (``horizon``; the sweep runner sets it to the run's length) with
:math:`W = \lfloor \text{warmup} \cdot T \rfloor` warmup steps
(``optax.warmup_cosine_decay_schedule``),

.. math::  \alpha_t = \alpha\, \frac{t}{W} \ (t < W),\qquad
           \alpha_t = \alpha_{\text{end}} + \frac{\alpha - \alpha_{\text{end}}}{2}
           \Bigl(1 + \cos \frac{\pi (t - W)}{T - W}\Bigr) \ (W \le t \le T),

with :math:`\alpha_{\text{end}} = \text{end} \cdot \alpha`. Adam with linear warmup and cosine
decay is what most people train with (Loshchilov & Hutter, 2017, "SGDR: Stochastic Gradient
Descent with Warm Restarts"; Goyal et al., 2017, on warmup), so it is a baseline a learned
optimizer has to beat, not only constant-step Adam.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import optax

from l2l.config import field
from l2l.specs.base import OptimizerSpec, register


@register("schedule")
@dataclasses.dataclass(frozen=True)
class ScheduleSpec(OptimizerSpec):
    """``base``'s learning rate on a warmup-cosine schedule (see the module docstring)."""

    kind: Literal["schedule"] = "schedule"
    base: OptimizerSpec = field(OptimizerSpec())
    warmup: float = field(0.05, ge=0, lt=1, help="the warmup's share of the horizon")
    end: float = field(0.0, ge=0, le=1, help="the last step size, a share of the peak")
    horizon: int | None = field(None, ge=1, help="steps (None: the run's length)")
    label: str = ""

    def __post_init__(self) -> None:
        if type(self.base) is OptimizerSpec:
            raise ValueError("a schedule needs a 'base': the optimizer whose learning rate it sets")
        self.base.check_arguments(["learning_rate"], what=f"the schedule's base {self.base_label}")

    @property
    def base_label(self) -> str:
        return self.base.display_label

    @property
    def display_label(self) -> str:
        return self.label or f"{self.base_label}, warmup + cosine"

    def at_horizon(self, steps: int) -> ScheduleSpec:
        return self if self.horizon is not None else dataclasses.replace(self, horizon=steps)

    def arguments(self) -> dict[str, Any]:
        return self.base.arguments()

    def build(self, **values: Any) -> optax.GradientTransformationExtraArgs:
        if self.horizon is None:
            raise ValueError(
                f"{self.display_label}: the schedule needs its horizon (set 'horizon', or run it "
                "through the sweep runner, which sets it to the run's length)"
            )
        peak = values.pop("learning_rate", self.base.default("learning_rate"))
        if peak is None:
            raise ValueError(f"{self.display_label}: give the schedule's peak 'learning_rate'")
        # The shape with a peak of 1, times the peak: the peak may be a traced value (a sweep).
        shape = self.shape()
        return self.base.build(learning_rate=lambda count: peak * shape(count), **values)

    def shape(self) -> optax.Schedule:
        """The schedule with a peak of 1: step ``t``'s learning rate over the peak."""
        if self.horizon is None:
            raise ValueError(f"{self.display_label}: the schedule needs its horizon")
        return optax.warmup_cosine_decay_schedule(
            init_value=0.0,
            peak_value=1.0,
            warmup_steps=int(self.warmup * self.horizon),
            decay_steps=self.horizon,
            end_value=self.end,
        )

    def structure_data(self, traced: set[str]) -> dict:
        data = super().structure_data(traced)
        data["base"] = self.base.structure_data(traced)
        return data
