"""``l2l meta-train``: meta-train a learned optimizer (checkpointed, resumable, early-stopped on
validation instances), then compare it with tuned baselines on held-out instances and record that
comparison inside the trained optimizer's file."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

from l2l import learned
from l2l.config import field
from l2l.evaluate import DEFAULT_BASELINES, BaselineConfig
from l2l.experiments import evaluate as evaluate_experiment
from l2l.meta import MetaTrainConfig, TrainingRun, train
from l2l.tasks import DistributionConfig


@dataclasses.dataclass(frozen=True)
class Config(MetaTrainConfig):
    """A meta-training run (:class:`l2l.meta.MetaTrainConfig`) and the comparison that closes it:
    the trained optimizer against the tuned ``baselines`` on ``test_instances`` held-out instances
    of the training task (on ``test_split`` for data tasks) over the training horizon."""

    test_split: Literal["train", "validation", "test"] | None = None
    test_instances: int = field(256, ge=0, help="0: skip the closing comparison")
    tuning_instances: int = field(128, ge=1)
    baselines: tuple[BaselineConfig, ...] = field(DEFAULT_BASELINES)

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.task, DistributionConfig) and self.test_instances:
            raise ValueError(
                "test_instances: a task distribution has no closing comparison of its own; set "
                "it to 0 and score the trained optimizer with `l2l benchmark`"
            )


MetaTrainExperimentConfig = Config


@dataclasses.dataclass
class Report:
    config: Config
    run: TrainingRun
    evaluation: evaluate_experiment.Report | None  # None when test_instances is 0

    @property
    def ratio(self) -> float | None:
        """The learned optimizer's mean summed loss over the best tuned baseline's."""
        if self.evaluation is None:
            return None
        ratios = self.evaluation.comparison.ratios_to_best_baseline()
        return next(iter(ratios.values()), None)  # None without baselines


def evaluation_config(cfg: Config, learned_path: str | Path) -> evaluate_experiment.Config:
    """The comparison that closes a run (an ``l2l evaluate`` config)."""
    task = cfg.task
    if cfg.test_split is not None:
        task = task.with_split(cfg.test_split)
    return evaluate_experiment.Config(
        task=task,
        steps=cfg.horizon,
        num_tuning=cfg.tuning_instances,
        num_test=cfg.test_instances,
        seed=cfg.seed,
        baselines=cfg.baselines,
        learned=(str(learned_path),),
        output_dir=str(Path(cfg.output_dir) / "evaluation"),
    )


def run(cfg: Config, *, show_progress: bool = True) -> Report:
    import jax

    training = train(cfg, show_progress=show_progress)
    if cfg.test_instances == 0 or jax.process_index() != 0:  # process 0 alone evaluates
        return Report(cfg, training, None)
    best = Path(cfg.output_dir) / "best.l2l"
    evaluation = evaluate_experiment.run(evaluation_config(cfg, best), show_progress=show_progress)
    learned.update_info(
        best,
        held_out=evaluation.comparison.held_out_summary(),
        meta_training_minutes=round(training.seconds / 60, 2),
    )
    return Report(cfg, training, evaluation)


def summary(report: Report) -> str:
    r = report.run
    out = Path(report.config.output_dir)
    score = (
        "mean log loss over the distribution's members"
        if isinstance(report.config.task, DistributionConfig)
        else "mean summed loss"
    )
    lines = [
        f"meta-trained {r.steps} meta-steps in {r.seconds / 60:.1f} min "
        f"(compile {r.compile_seconds or 0:.1f}s, {r.skipped} skipped); best validation {score} "
        f"{r.best_score:.4g} at meta-step {r.best_step}: {out / 'best.l2l'}"
    ]
    if report.evaluation is not None:
        best = report.evaluation.comparison.best_baseline()
        lines.append(report.evaluation.comparison.table())
        if best is None:
            lines.append("learned optimizer alone: no baselines to compare it with")
        else:
            lines.append(
                f"learned optimizer: {report.ratio:.3f} x the best tuned baseline's mean summed "
                f"loss (best tuned baseline: {best.name})"
            )
    return "\n".join(lines)


def write(report: Report, output_dir: str | Path) -> list[Path]:
    """The run itself wrote ``config.yaml``, ``metrics.jsonl``, ``checkpoint.msgpack`` and
    ``best.l2l``; this adds the closing comparison under ``evaluation/``."""
    out = Path(output_dir)
    paths = [out / "best.l2l", out / "config.yaml"]
    if report.evaluation is not None:
        n = report.config.test_instances
        paths += evaluate_experiment.write(
            report.evaluation,
            out / "evaluation",
            title=f"learned vs tuned baselines, {n} held-out",
        )
    return paths
