"""Numbers measured once per seed, summarized the same way by every experiment's report."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class Stats:
    """A number measured once per seed: its mean and sample standard deviation over the seeds."""

    mean: float
    sd: float  # 0 for one seed
    per_seed: list[float]

    @classmethod
    def of(cls, values) -> Stats:
        values = np.asarray(values, np.float64)
        sd = float(np.std(values, ddof=1)) if values.size > 1 else 0.0
        return cls(float(np.mean(values)), sd, values.tolist())

    def to_json(self) -> dict:
        return {"mean": self.mean, "sd": self.sd, "per_seed": self.per_seed}
