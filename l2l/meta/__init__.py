"""Meta-training learned optimizers (DESIGN.md, contract 4).

- :mod:`~l2l.meta.config`: :class:`MetaTrainConfig`, everything that defines a run;
- :mod:`~l2l.meta.objectives`: how the losses of an unroll become the meta-loss;
- :mod:`~l2l.meta.estimators`: meta-gradient estimators (truncated backpropagation, PES, ES);
- :mod:`~l2l.meta.step`: the jitted meta-step ``(meta_state) -> (meta_state, metrics)``;
- :mod:`~l2l.meta.batch_unroll`: a learned optimizer unrolled over a whole batch of instances;
- :mod:`~l2l.meta.checkpoints`, :mod:`~l2l.meta.loop`: the loop around the step (:func:`train`);
- :mod:`~l2l.meta.distributed`: the task batch split over devices and processes;
- :mod:`~l2l.meta.distribution`: meta-training on a distribution of tasks (task kind
  ``distribution``), one member per meta-step.

    run = l2l.meta.train(l2l.meta.MetaTrainConfig(meta_steps=300, output_dir="runs/x"))
    opt = l2l.learned.load("runs/x/best.l2l")
"""

from l2l.meta.config import MetaOptimizerConfig, MetaTrainConfig
from l2l.meta.distributed import DistributedConfig
from l2l.meta.loop import TrainingRun, train
from l2l.meta.objectives import OBJECTIVES
from l2l.meta.step import MetaState, MetaTrainer, make_trainer

__all__ = [
    "OBJECTIVES",
    "DistributedConfig",
    "MetaOptimizerConfig",
    "MetaState",
    "MetaTrainConfig",
    "MetaTrainer",
    "TrainingRun",
    "make_trainer",
    "train",
]
