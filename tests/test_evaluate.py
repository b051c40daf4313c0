import jax
import numpy as np
import pytest

from l2l import evaluate, learned, unroll
from l2l.config import from_dict
from l2l.evaluate import BaselineConfig
from l2l.experiments.report import jsonable
from l2l.tasks import QuadraticConfig


def test_instance_sets_are_fixed_and_distinct():
    a = unroll.instance_keys(0, unroll.TUNING_SET, 4)
    b = unroll.instance_keys(0, unroll.TUNING_SET, 4)
    c = unroll.instance_keys(0, unroll.TEST_SET, 4)
    assert a.shape == (4, 3)
    assert np.array_equal(jax.random.key_data(a), jax.random.key_data(b))
    assert not np.array_equal(jax.random.key_data(a), jax.random.key_data(c))


def test_summed_loss_skips_the_initial_loss_and_flags_divergence():
    curves = np.array([[100.0, 1.0, 2.0, 3.0], [5.0, 1.0, np.nan, 1.0], [5.0, np.inf, 1.0, 1.0]])
    np.testing.assert_array_equal(evaluate.summed_loss(curves), [6.0, np.inf, np.inf])


def _numpy_sgd_losses(W, y, theta0, lr, steps):
    losses = []
    theta = theta0.copy()
    for _ in range(steps):
        theta = theta - lr * 2 * W.T @ (W @ theta - y)
        losses.append(np.sum((W @ theta - y) ** 2))
    return np.asarray(losses)


def _oracle_scores(task, keys, grid, steps, score):
    """Per learning rate: ``score`` of float64 NumPy SGD runs on the instances ``keys``."""
    out = []
    for lr in grid:
        per_instance = []
        for k in keys:
            inst = task.sample(k[0])
            theta0 = np.asarray(task.init(k[1], inst), np.float64)
            W, y = np.asarray(inst.W, np.float64), np.asarray(inst.y, np.float64)
            per_instance.append(score(_numpy_sgd_losses(W, y, theta0, lr, steps)))
        out.append(np.mean(per_instance))
    out = np.asarray(out)
    out[~np.isfinite(out) | (out > np.finfo(np.float32).max)] = np.inf  # float32 overflows
    return out


def test_tuning_picks_the_grid_point_with_the_lowest_mean_summed_loss():
    task_cfg = QuadraticConfig(dim=3)
    comparison = evaluate.compare(
        task_cfg,
        baselines=(BaselineConfig.of("sgd", lr_min=1e-3, lr_max=1.0, num_lrs=7),),
        steps=20,
        num_tuning=6,
        num_test=5,
        show_progress=False,
    )
    (result,) = comparison.results
    keys = unroll.instance_keys(0, unroll.TUNING_SET, 6)
    grid = np.geomspace(1e-3, 1.0, 7)
    oracle = _oracle_scores(task_cfg.build(), keys, grid, 20, np.sum)
    finite = np.isfinite(oracle)
    np.testing.assert_allclose(np.asarray(result.tuning_scores)[finite], oracle[finite], rtol=1e-3)
    assert np.all(np.isinf(np.asarray(result.tuning_scores)[~finite]))
    assert result.hyperparams["learning_rate"] == pytest.approx(grid[np.argmin(oracle)])
    assert len(result.curve_mean) == 21


def test_the_tuning_score_is_pluggable():
    """Tuned for the final loss instead of the summed loss, the same loop picks another rate."""
    task_cfg = QuadraticConfig(dim=3)
    task = task_cfg.build()
    baseline = BaselineConfig.of("sgd", lr_min=1e-3, lr_max=0.3, num_lrs=9)
    tuning = unroll.instance_keys(0, unroll.TUNING_SET, 6)
    test = unroll.instance_keys(0, unroll.TEST_SET, 3)

    def final(curves):
        return float(np.mean(curves[:, -1]))

    tuned = evaluate.tune(baseline, task, tuning, test, 30, score=final)
    oracle = _oracle_scores(task, tuning, baseline.lr_grid, 30, lambda losses: losses[-1])
    finite = np.isfinite(oracle)
    np.testing.assert_allclose(np.asarray(tuned.scores)[finite], oracle[finite], rtol=2e-3)
    assert tuned.learning_rate == pytest.approx(baseline.lr_grid[np.argmin(oracle)])
    assert tuned.test_curves.shape == (3, 31)


def test_learned_optimizers_are_compared_with_the_baselines(tmp_path):
    cfg_lstm = learned.LSTMOptimizerConfig(hidden_sizes=(4,))
    path = learned.save(
        tmp_path / "mine.l2l", learned.init_meta_params(jax.random.key(0), cfg_lstm), cfg_lstm
    )
    task_cfg = QuadraticConfig(dim=3)
    comparison = evaluate.compare(
        task_cfg,
        baselines=(BaselineConfig.of("sgd", lr_min=1e-3, lr_max=1e-1, num_lrs=3),),
        learned_optimizers=(str(path),),
        steps=10,
        num_tuning=4,
        num_test=4,
        show_progress=False,
    )
    sgd, mine = comparison.results
    assert mine.name == "mine" and mine.learned
    # The oracle: the same optimizer run directly through run_optimizer.
    keys = unroll.instance_keys(0, unroll.TEST_SET, 4)
    curves = unroll.run_optimizer(learned.load(path), task_cfg.build(), keys, 10)
    assert mine.mean_summed_loss == pytest.approx(
        float(np.mean(evaluate.summed_loss(curves))), rel=1e-6
    )
    ratio = comparison.ratios_to_best_baseline()["mine"]
    assert ratio == pytest.approx(mine.mean_summed_loss / sgd.mean_summed_loss)
    summary = comparison.held_out_summary()
    assert summary["ratio_to_best_baseline"] == {"mine": ratio}
    assert summary["first_summed_losses"]["mine"] == mine.summed_losses[:4]
    # A comparison read back from its JSON is the same comparison.
    again = evaluate.Comparison.from_json(jsonable(comparison))
    assert again == comparison
    # The layout of l2l 0.2 (a panel's config and results) reads back too.
    old = {
        "config": {"task": comparison.task, "steps": 10, "num_test": 4, "seed": 0},
        "results": [jsonable(r) for r in comparison.results],
    }
    assert evaluate.Comparison.from_json(old).ratios_to_best_baseline() == {"mine": ratio}


def test_baseline_configs_name_what_is_wrong():
    with pytest.raises(ValueError, match="'adamq' names no rule of l2l.optimizers"):
        BaselineConfig.of("adamq")
    with pytest.raises(ValueError, match="learning rate is tuned over the grid"):
        BaselineConfig.of({"name": "sgd", "hyperparams": {"learning_rate": 0.1}})
    with pytest.raises(ValueError, match="no hyperparameter 'gama'"):
        BaselineConfig.of({"name": "momentum", "hyperparams": {"gama": 0.9}})
    with pytest.raises(ValueError, match="lr_max .* is below lr_min"):
        BaselineConfig.of("sgd", lr_min=1.0, lr_max=0.1)


def test_the_old_baseline_layout_is_read_with_a_deprecation_warning():
    old = {"name": "nesterov", "lr_min": 1e-3, "num_lrs": 5, "hyperparams": {"momentum": 0.8}}
    with pytest.warns(DeprecationWarning, match="write {optimizer: {name: ..., hyperparams"):
        baseline = from_dict(BaselineConfig, old)
    assert baseline == BaselineConfig.of(
        {"name": "nesterov", "hyperparams": {"momentum": 0.8}}, lr_min=1e-3, num_lrs=5
    )
    assert baseline.name == "nesterov" and baseline.hyperparams == {"momentum": 0.8}
