"""The log grid of step sizes every sweep and tuning loop uses, and its one edge rule."""

from __future__ import annotations

import dataclasses

import numpy as np

from l2l.config import field


@dataclasses.dataclass(frozen=True)
class LogGrid:
    """``num_lrs`` values log-spaced from ``lr_min`` to ``lr_max`` (both included).

    The best value of a tuning run *is at the grid's edge* when the grid has more than one value and
    the best is its first or last: the optimum may lie outside, so widen the grid.
    """

    lr_min: float = field(1e-4, gt=0)
    lr_max: float = field(1.0, gt=0)
    num_lrs: int = field(9, ge=1)

    def __post_init__(self) -> None:
        if self.lr_max < self.lr_min:
            raise ValueError(f"lr_max ({self.lr_max}) is below lr_min ({self.lr_min})")
        if self.num_lrs > 1 and self.lr_max == self.lr_min:
            raise ValueError(
                f"lr_max equals lr_min ({self.lr_min}) but num_lrs is {self.num_lrs}: widen the "
                "grid or set num_lrs to 1"
            )

    @property
    def values(self) -> np.ndarray:
        """The grid (float64)."""
        return np.geomspace(self.lr_min, self.lr_max, self.num_lrs)

    def at_edge(self, index: int) -> bool:
        """Whether the grid's ``index``-th value is one of its ends (:func:`at_edge`)."""
        return at_edge(index, self.num_lrs)


def at_edge(index: int, size: int) -> bool:
    """The one edge rule: a best value at ``index`` of a grid of ``size`` values is at its edge
    when the grid has more than one value and the index is its first or last."""
    return size > 1 and index in (0, size - 1)
