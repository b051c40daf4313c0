"""The general learned optimizer's records and tables (l2l/experiments/general_lopt.py): a run
directory read back into its record, and the issue's bar checked on a hand-made report."""

import json

import pytest

from l2l.experiments import general_lopt


def _bench(ratios: dict[str, list[float]], iqm: dict[str, tuple[float, float, float]]) -> dict:
    """A report with one task per ratio (normalized losses of one seed) for each label."""
    labels = list(ratios)
    n = len(next(iter(ratios.values())))
    tasks = [
        {"name": f"t{i}", "cells": {k: {"normalized_loss": [ratios[k][i]]} for k in labels}}
        for i in range(n)
    ]
    aggregates = {
        k: {"iqm_normalized_loss": dict(zip(("value", "low", "high"), iqm[k]))} for k in labels
    }
    return {"tasks": tasks, "aggregates": aggregates, "kinds": dict.fromkeys(labels, "evaluated")}


def test_the_bar_is_a_win_rate_an_interval_below_one_no_blow_up_and_seeds_that_agree():
    bench = _bench(
        {
            "a": [0.5, 0.9, 0.95, 1.2, 0.8],  # 4 of 5 won, worst 1.2, interval below 1: met
            "b": [0.5, 0.9, 0.95, 2.5, 0.8],  # worst task 2.5x: not met
            "c": [1.1, 1.2, 0.9, 1.05, 1.3],  # 1 of 5 won: not met
        },
        {"a": (0.85, 0.8, 0.95), "b": (0.85, 0.8, 0.99), "c": (1.1, 1.0, 1.2)},
    )
    table = general_lopt.floors_table(bench, ["a", "b", "c"]).splitlines()
    assert table[2] == "| a | 4 of 5 tasks (80 %) | 0.85 [0.80, 0.95] | t3 (1.2) | yes |"
    assert table[3].endswith("| t3 (2.5) | no |")
    assert table[4].startswith("| c | 1 of 5 tasks (20 %) |") and table[4].endswith("| no |")
    assert table[5].startswith("| the seeds' win rates | 20 - 80 % (60 points apart, not within")


def test_a_run_directory_becomes_its_record(tmp_path):
    (tmp_path / "config.yaml").write_text(
        "seed: 2\ntruncation: 20\noptimizer: {kind: mlp, relative_step: true,"
        " fan_in_scaling: false, features: {loss_decays: [0.9]}}\n"
    )
    lines = [
        {"step": 1, "member": 0, "compile_seconds": 3.0},
        {"step": 2, "member": 1, "compile_seconds": 4.5},
        {"step": 25, "meta_loss": -1.0, "member": 1.0, "seconds": 60.0, "final_loss": 1.0},
        {"step": 50, "eval_mean_log_loss": 0.5, "best": 0.5},
        {"step": 50, "meta_loss": -2.0, "member": 0.0, "seconds": 120.0, "final_loss": 1.0},
        {"step": 100, "eval_mean_log_loss": 0.25, "best": 0.25},
    ]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    record = general_lopt.training_record(tmp_path)
    assert record["seed"] == 2 and record["meta_steps"] == 50 and record["minutes"] == 2.0
    assert record["compile_seconds"] == {"0": 3.0, "1": 4.5}
    assert (record["best_step"], record["best_validation"]) == (100, 0.25)
    assert record["meta_loss"] == [[25, 1, -1.0], [50, 0, -2.0]]
    assert record["design"] == {
        "relative_step": True,
        "fan_in_scaling": False,
        "loss_decays": [0.9],
    }
    runs = {"x": record | {"best_validation": 0.3}, "y": record}
    assert general_lopt.chosen(runs, ["x", "y"]) == "y"
    row = general_lopt.training_table({"x": record}).splitlines()[2]
    assert row == "| x | 2 | 50 | 2.0 (8) | 0.250 (100) | 0.500, 0.250 |"


def test_the_page_is_refused_without_the_optimizers_rows(tmp_path):
    (tmp_path / "docs" / "results").mkdir(parents=True)
    (tmp_path / general_lopt.TRAINING_RESULTS).write_text("{}")
    (tmp_path / general_lopt.BENCHMARK_RESULTS).write_text(json.dumps({"kinds": {}}))
    (tmp_path / general_lopt.GENERAL_RESULTS).write_text(json.dumps({"kinds": {}}))
    with pytest.raises(ValueError, match="has no 'general-mlp-lopt' rows"):
        general_lopt.documented_tables(tmp_path)
