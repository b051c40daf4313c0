import dataclasses
import json

import jax
import numpy as np
import pytest

from l2l import evaluate
from l2l.config import TaskConfig
from l2l.evaluate import BaselineConfig, EvaluateConfig


def test_instance_sets_are_fixed_and_distinct():
    a = evaluate.instance_keys(0, evaluate.TUNING_SET, 4)
    b = evaluate.instance_keys(0, evaluate.TUNING_SET, 4)
    c = evaluate.instance_keys(0, evaluate.TEST_SET, 4)
    assert a.shape == (4, 3)
    assert np.array_equal(jax.random.key_data(a), jax.random.key_data(b))
    assert not np.array_equal(jax.random.key_data(a), jax.random.key_data(c))


def test_summed_loss_skips_the_initial_loss_and_flags_divergence():
    curves = np.array([[100.0, 1.0, 2.0, 3.0], [5.0, 1.0, np.nan, 1.0], [5.0, np.inf, 1.0, 1.0]])
    np.testing.assert_array_equal(evaluate.summed_loss(curves), [6.0, np.inf, np.inf])


def _numpy_sgd_score(W, y, theta0, lr, steps):
    total = 0.0
    theta = theta0.copy()
    for _ in range(steps):
        theta = theta - lr * 2 * W.T @ (W @ theta - y)
        total += np.sum((W @ theta - y) ** 2)
    return total if np.isfinite(total) else np.inf


def test_tuning_picks_the_grid_point_with_the_lowest_mean_summed_loss():
    cfg = EvaluateConfig(
        task=TaskConfig(dim=3),
        steps=20,
        num_tuning=6,
        num_test=5,
        baselines=(BaselineConfig("sgd", 1e-3, 1.0, 7),),
    )
    report = evaluate.evaluate(cfg, show_progress=False)
    (result,) = report["results"]
    task = evaluate.build_task(cfg.task)
    keys = evaluate.instance_keys(cfg.seed, evaluate.TUNING_SET, 6)
    oracle = []
    for lr in np.geomspace(1e-3, 1.0, 7):
        scores = []
        for k in keys:
            inst = task.sample(k[0])
            theta0 = np.asarray(task.init(k[1], inst), np.float64)
            scores.append(
                _numpy_sgd_score(
                    np.asarray(inst.W, np.float64), np.asarray(inst.y, np.float64), theta0, lr, 20
                )
            )
        oracle.append(np.mean(scores))
    oracle = np.asarray(oracle)
    oracle[oracle > np.finfo(np.float32).max] = np.inf  # float32 overflows where float64 does not
    finite = np.isfinite(oracle)
    np.testing.assert_allclose(
        np.asarray(result["tuning_scores"])[finite], np.asarray(oracle)[finite], rtol=1e-3
    )
    assert np.all(np.isinf(np.asarray(result["tuning_scores"])[~finite]))
    assert result["hyperparams"]["lr"] == pytest.approx(
        np.geomspace(1e-3, 1.0, 7)[np.argmin(oracle)]
    )
    assert len(result["curve_mean"]) == 21


def test_report_files_and_table(tmp_path):
    cfg = EvaluateConfig(
        task=TaskConfig(dim=3),
        steps=10,
        num_tuning=4,
        num_test=4,
        baselines=(BaselineConfig("sgd", 1e-3, 1e-1, 3), BaselineConfig("adam", 1e-2, 1e-1, 2)),
    )
    report = evaluate.evaluate(cfg, show_progress=False)
    json_path, png_path = evaluate.write_report(report, tmp_path, "test")
    data = json.loads(json_path.read_text())
    assert [r["name"] for r in data["results"]] == ["sgd", "adam"]
    assert png_path.stat().st_size > 10_000
    table = evaluate.format_table(report["results"])
    best = evaluate.best_baseline(report)
    assert table.splitlines()[2].startswith(f"| {best['name']} |") and "| 1.000 |" in table


def test_learned_optimizers_are_compared_with_the_baselines(tmp_path):
    from l2l import learned

    cfg_lstm = learned.LSTMOptimizerConfig(hidden_sizes=(4,))
    path = learned.save(
        tmp_path / "mine.l2l", learned.init_meta_params(jax.random.key(0), cfg_lstm), cfg_lstm
    )
    cfg = EvaluateConfig(
        task=TaskConfig(dim=3),
        steps=10,
        num_tuning=4,
        num_test=4,
        baselines=(BaselineConfig("sgd", 1e-3, 1e-1, 3),),
        learned=(str(path),),
    )
    report = evaluate.evaluate(cfg, show_progress=False)
    mine = report["results"][1]
    assert mine["name"] == "mine" and mine["learned"]
    # The oracle: the same optimizer run directly through run_optimizer.
    keys = evaluate.instance_keys(0, evaluate.TEST_SET, 4)
    curves = evaluate.run_optimizer(learned.load(path), evaluate.build_task(cfg.task), keys, 10)
    assert mine["mean_summed_loss"] == pytest.approx(
        float(np.mean(evaluate.summed_loss(curves))), rel=1e-6
    )
    ratio = evaluate.ratios_to_best_baseline(report)["mine"]
    assert ratio == pytest.approx(
        mine["mean_summed_loss"] / report["results"][0]["mean_summed_loss"]
    )


def test_settings_re_tune_the_baselines_for_each_panel(tmp_path):
    from l2l import learned
    from l2l.evaluate import SettingConfig

    cfg_lstm = learned.LSTMOptimizerConfig(hidden_sizes=(3,))
    path = learned.save(
        tmp_path / "mine.l2l", learned.init_meta_params(jax.random.key(1), cfg_lstm), cfg_lstm
    )
    cfg = EvaluateConfig(
        task=TaskConfig(dim=3),
        steps=6,
        num_tuning=4,
        num_test=4,
        baselines=(BaselineConfig("sgd", 1e-3, 1e-1, 3),),
        learned=(str(path),),
        settings=(
            SettingConfig("base"),
            SettingConfig("long uniform", steps=9, distribution="uniform"),
        ),
    )
    report = evaluate.evaluate_settings(cfg, show_progress=False)
    base, other = report["settings"]
    assert base["config"]["steps"] == 6 and other["config"]["steps"] == 9
    assert other["config"]["task"]["distribution"] == "uniform"
    # Each panel equals a plain evaluation of its own config (the oracle).
    plain = evaluate.evaluate(cfg.settings[1].apply(cfg), show_progress=False)
    assert other["results"][1]["mean_summed_loss"] == pytest.approx(
        plain["results"][1]["mean_summed_loss"]
    )
    table = evaluate.format_settings_table(report)
    ratio = other["results"][1]["mean_summed_loss"] / other["results"][0]["mean_summed_loss"]
    assert f"({ratio:.3f})" in table.splitlines()[3]
    _, png = evaluate.write_report(report, tmp_path / "out", "panels")
    assert png.stat().st_size > 10_000
    # Learned optimizers alone (no baselines): the table gives their numbers without a ratio.
    alone = evaluate.evaluate_settings(dataclasses.replace(cfg, baselines=()), show_progress=False)
    row = evaluate.format_settings_table(alone).splitlines()[3]
    assert row.startswith("| long uniform | – |") and row.endswith(" (–) |")
    assert f"{other['results'][1]['mean_summed_loss']:.4g} (–)" in row
    evaluate.write_report(alone, tmp_path / "alone", "panels")
