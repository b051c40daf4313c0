"""A general-purpose learned optimizer (``configs/general_mlp_lopt.yaml``): what its meta-training
runs spent and how they went, and whether it keeps the promise on the held-out suite.

The runs are ``l2l meta-train`` runs on a task distribution (:mod:`l2l.meta.distribution`); the
suite's numbers are ``l2l benchmark``'s (:mod:`l2l.experiments.benchmark`), whose committed
report holds the new optimizer's rows beside every other optimizer's. This module turns a run
directory into a small record (:func:`training_record`), the records into the committed
``TRAINING_RESULTS``, and both results files into the tables of ``docs/general_lopt.md``
(:func:`documented_tables`; ``tests/test_docs.py`` fails while the page differs from them).

The bar (issue #23), per meta-training seed: it beats tuned Adam (mean final training loss over
the benchmark's 5 seeds) on at least 60 % of the suite's tasks; the 95 % interval of its IQM of
normalized loss lies below 1; it is at most 2x tuned Adam on every task; and the seeds' win
rates agree within 15 points.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

from l2l.experiments import benchmark_metrics as metrics
from l2l.experiments.report import number

#: The committed record of the meta-training runs the page shows (paths from the repository).
TRAINING_RESULTS = "docs/results/general_mlp_lopt_training.json"
#: The benchmark's committed report, which holds the zoo entry's rows and its control's.
BENCHMARK_RESULTS = "docs/results/benchmark.json"
#: The benchmark report of the other rows: every meta-training seed and the ablations
#: (``l2l benchmark`` runs merged with ``benchmark.merge_reports``).
GENERAL_RESULTS = "docs/results/benchmark_general.json"
#: The bar of the issue (module docstring).
WIN_RATE_FLOOR = 0.6
WORST_RATIO_CEILING = 2.0
SEED_SPREAD_CEILING = 0.15


def training_record(run_dir: str | Path) -> dict:
    """What one meta-training run did, read off its directory (``config.yaml``,
    ``metrics.jsonl``): seed, the optimizer's design choices the ablations remove, meta-steps,
    wall minutes, the seconds spent compiling each member,
    every validation score, and the logged meta-losses (step, member, meta-loss)."""
    run_dir = Path(run_dir)
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    compiles = {int(r["member"]): r["compile_seconds"] for r in records if "compile_seconds" in r}
    evals = [(r["step"], r["eval_mean_log_loss"]) for r in records if "eval_mean_log_loss" in r]
    logged = [r for r in records if "meta_loss" in r]
    best_step, best = min(evals, key=lambda e: e[1])
    return {
        "seed": cfg["seed"],
        "design": {k: cfg["optimizer"][k] for k in ("relative_step", "fan_in_scaling")}
        | {"loss_decays": cfg["optimizer"]["features"]["loss_decays"]},
        "meta_steps": logged[-1]["step"],
        "truncation": cfg["truncation"],
        "minutes": round(logged[-1]["seconds"] / 60, 2),
        "compile_seconds": {str(k): round(v, 1) for k, v in sorted(compiles.items())},
        "validation": [[s, round(v, 5)] for s, v in evals],
        "best_step": best_step,
        "best_validation": round(best, 5),
        "meta_loss": [[r["step"], int(r["member"]), round(r["meta_loss"], 4)] for r in logged],
    }


def write_training_results(runs: dict[str, str | Path], path: str | Path) -> Path:
    """The records of ``runs`` (label -> run directory) written as one JSON file."""
    data = {label: training_record(d) for label, d in runs.items()}
    path = Path(path)
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


def chosen(training: dict, labels: list[str]) -> str:
    """The run the zoo ships among ``labels``: the best validation score on the meta-training
    distribution (never the suite)."""
    return min(labels, key=lambda label: training[label]["best_validation"])


def training_table(training: dict) -> str:
    """Per run: seed, what it left out, meta-steps, minutes, compile seconds, best validation."""
    lines = [
        "| run | seed | meta-steps | minutes (compile s) | best validation mean log loss "
        "(meta-step) | validation at each evaluation |",
        "|---|---|---|---|---|---|",
    ]
    for label, r in training.items():
        compile_s = sum(r["compile_seconds"].values())
        curve = ", ".join(f"{v:.3f}" for _, v in r["validation"])
        lines.append(
            f"| {label} | {r['seed']} | {r['meta_steps']} | {r['minutes']:.1f} ({compile_s:.0f}) "
            f"| {r['best_validation']:.3f} ({r['best_step']}) | {curve} |"
        )
    return "\n".join(lines)


def task_ratios(bench: dict, label: str) -> dict[str, float]:
    """Per task, ``label``'s mean normalized final loss (final loss over tuned Adam's)."""
    return {
        t["name"]: float(np.mean(t["cells"][label]["normalized_loss"]))
        for t in bench["tasks"]
        if t["cells"][label]["normalized_loss"]
    }


def floors_table(bench: dict, labels: list[str]) -> str:
    """The bar of the issue for each of ``labels`` (module docstring), met or not."""
    lines = [
        "| optimizer | beats tuned Adam on | IQM loss / tuned Adam [95% CI] | worst task "
        "(loss / tuned Adam) | bar met |",
        "|---|---|---|---|---|",
    ]
    rates = []
    for label in labels:
        ratios = task_ratios(bench, label)
        ran = [t["cells"][label]["normalized_loss"] for t in bench["tasks"]]
        wins = round(metrics.win_rate(np.asarray([r for r in ran if r]).T) * len(ratios))
        rates.append(wins / len(ratios))
        worst = max(ratios, key=lambda k: ratios[k])
        a = bench["aggregates"][label]["iqm_normalized_loss"]
        met = (
            wins / len(ratios) >= WIN_RATE_FLOOR
            and a["high"] < 1
            and ratios[worst] <= WORST_RATIO_CEILING
        )
        lines.append(
            f"| {label} | {wins} of {len(ratios)} tasks ({100 * wins / len(ratios):.0f} %) | "
            f"{a['value']:.2f} [{a['low']:.2f}, {a['high']:.2f}] | {worst} "
            f"({number(ratios[worst])}) | {'yes' if met else 'no'} |"
        )
    spread = 100 * (max(rates) - min(rates))
    agree = "within" if spread <= 100 * SEED_SPREAD_CEILING else "not within"
    lines.append(
        f"| the seeds' win rates | {100 * min(rates):.0f} - {100 * max(rates):.0f} % "
        f"({spread:.0f} points apart, {agree} {100 * SEED_SPREAD_CEILING:.0f}) | | | |"
    )
    return "\n".join(lines)


#: The benchmark rows of the general optimizer: the shipped zoo entry (the seed early stopping on
#: the meta-training distribution chose), the other seeds, the untrained control, and the runs
#: that leave one design choice out (one seed each).
ZOO_NAME = "general-mlp-lopt"


def seed_labels(bench: dict) -> list[str]:
    """The benchmark labels of the meta-training seeds (each seed's file is committed as
    ``SEED_FILE``; the zoo's ``general-mlp-lopt`` is one of them, run again under its name)."""
    return sorted(k for k in bench["kinds"] if k.startswith(f"{ZOO_NAME}, seed "))


#: Where each seed's trained file is committed (``.format(seed=...)``), for the benchmark rows.
SEED_FILE = "docs/results/general_mlp_lopt_seed{seed}.l2l"


def rows_of(bench: dict) -> list[str]:
    """Every row of the page's tables: the tuned baselines, the general optimizer's rows, and
    the strongest untuned comparators of the benchmark page."""
    ours = [k for k in bench["kinds"] if k.startswith(ZOO_NAME)]
    others = [k for k in ("prodigy", "adam / sgd", "mnist-mix-lstm") if k in bench["kinds"]]
    tuned = [k for k, v in bench["kinds"].items() if v == "tuned baseline"]
    return tuned + ours + others


def subset(bench: dict, labels: list[str]) -> dict:
    """The report restricted to ``labels`` (in that order), for the tables of one page."""
    return {
        **bench,
        "kinds": {k: bench["kinds"][k] for k in labels},
        "aggregates": {k: bench["aggregates"][k] for k in labels if k in bench["aggregates"]},
        "tasks": [{**t, "cells": {k: t["cells"][k] for k in labels}} for t in bench["tasks"]],
    }


def combined(root: Path) -> dict:
    """The benchmark's committed report with the rows of ``GENERAL_RESULTS`` added (no
    profiles: the page shows none)."""
    from l2l.experiments import benchmark

    bench = json.loads((root / BENCHMARK_RESULTS).read_text())
    if ZOO_NAME not in bench["kinds"]:
        raise ValueError(f"{BENCHMARK_RESULTS} has no {ZOO_NAME!r} rows")
    general = json.loads((root / GENERAL_RESULTS).read_text())
    return benchmark.merge_reports(bench, general, profiles=False)


def documented_tables(root: Path) -> dict[str, str]:
    """Every table of docs/general_lopt.md, made from the committed results under ``root``."""
    from l2l.experiments import benchmark

    training = json.loads((root / TRAINING_RESULTS).read_text())
    bench = combined(root)
    view = subset(bench, rows_of(bench))
    return {
        "general-training": training_table(training),
        "general-floors": floors_table(bench, seed_labels(bench)),
        "general-aggregates": benchmark.aggregate_table(view),
        "general-tasks": benchmark.task_table(view),
        "general-cost": benchmark.cost_table(
            {"seconds": {k: v for k, v in bench["seconds"].items() if k.startswith(ZOO_NAME)}}
        ),
    }


def write_docs(root: Path) -> list[Path]:
    """Rewrites the tables of ``root``'s docs/general_lopt.md from the committed results;
    returns the pages that changed (``general_lopt.write_docs(Path("."))``)."""
    from l2l.experiments import benchmark

    return benchmark.fill_pages([root / "docs" / "general_lopt.md"], documented_tables(root))


#: The page's figure, drawn from ``TRAINING_RESULTS`` by :func:`write_figure`.
FIGURE = "docs/general_lopt_training.png"


def write_figure(root: Path) -> Path:
    """The meta-training curves of every run in the committed record (``plots.
    distribution_curves``), written to ``FIGURE`` under ``root``."""
    from l2l import plots

    training = json.loads((root / TRAINING_RESULTS).read_text())
    return plots.save_png(plots.distribution_curves(training), root / FIGURE)
