"""The zero-machine evaluation: its statistics by hand, a baseline by closed form, and the shipped
``zero-machine`` optimizer doing what its file says."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from l2l import learned, tasks
from l2l.config import ConfigError, from_dict, load
from l2l.evaluate import BaselineConfig
from l2l.experiments import zero_machine
from l2l.optimizers import sgd
from l2l.unroll import instance_keys, run_optimizer

TINY = float(np.finfo(np.float32).tiny)


def test_statistics_by_hand():
    curves = np.array(
        [
            [1.0, 1e-10, 1e-39, 0.0],  # reaches at t = 2 (a subnormal counts), ends at exactly 0
            [1.0, 1e-20, 1e-30, 1e-37],  # never reaches tiny
            [1.0, 2.0, np.inf, np.nan],  # diverges
            [1.0, TINY, 1e-10, 1e-20],  # reaches tiny at t = 1 (to or below), then bounces up
        ]
    )
    s = zero_machine.zero_machine_summary(curves)
    assert s["reached"] == 0.5
    final = [-149 * math.log10(2), -37.0, np.log10(np.finfo(np.float32).max), -20.0]
    np.testing.assert_allclose(s["mean_log10_final"], np.mean(final), rtol=1e-9)
    np.testing.assert_allclose(s["median_log10_final"], np.median(final), rtol=1e-9)
    assert s["median_steps_to_reach"] == 1.5 and s["diverged"] == 1
    np.testing.assert_allclose(zero_machine.LOG10_OF_ZERO, -44.8534693, rtol=1e-7)


def test_sgd_curves_match_the_closed_form():
    # x_t = (1 - 2 s^2 lr)^t x_0 coordinatewise, so f_t = sum_i s_i^2 x_0i^2 (1 - 2 s_i^2 lr)^2t.
    task = zero_machine.ZERO_MACHINE_TASK.build()
    keys = instance_keys(0, 1, 16)
    lr = 0.3
    curves = run_optimizer(sgd(lr), task, keys, 20).astype(np.float64)
    for k, curve in zip(keys, curves):
        s = np.asarray(task.sample(k[0]).s, np.float64)
        x0 = np.asarray(task.init(k[1], None), np.float64)
        t = np.arange(21)[:, None]
        expected = np.sum((s * x0) ** 2 * (1 - 2 * s**2 * lr) ** (2 * t), axis=1)
        np.testing.assert_allclose(curve, expected, rtol=2e-4, atol=1e-30)


def test_tuning_picks_the_grid_point_by_each_rule():
    task = zero_machine.ZERO_MACHINE_TASK.build()
    baseline = BaselineConfig.of("sgd", lr_min=0.01, lr_max=0.3, num_lrs=3)
    rows = zero_machine.tune_for_zero_machine(
        baseline,
        task,
        instance_keys(0, 0, 32),
        instance_keys(0, 1, 32),
        20,
        ("summed_loss", "log_final"),
    )
    # On [0.01, 0.055, 0.3] the largest rate converges fastest by either rule (all stable).
    assert [r["hyperparams"]["learning_rate"] for r in rows] == pytest.approx([0.3, 0.3])
    assert rows[1]["name"] == "sgd (tuned for log10 f_T)" and rows[0]["lr_at_grid_edge"]


def test_config_file_loads_and_errors_speak(tmp_path):
    cfg = load(zero_machine.Config, "configs/zero_machine_eval.yaml")
    assert cfg.num_test == 1000 and cfg.steps == 20 and cfg.learned == ("zero-machine",)
    assert [b.name for b in cfg.baselines] == ["sgd", "nesterov", "rmsprop", "adam"]
    with pytest.raises(ConfigError, match="selection"):
        from_dict(zero_machine.Config, {"selection": ["best"]})


def test_shipped_zero_machine_reaches_it_on_200_held_out_instances():
    trained = learned.resolve("zero-machine")
    documented = trained.info["zero_machine"]
    assert documented["instances"] == 1000 and documented["reached"] >= 0.9
    task = tasks.config_from_dict(documented["task"], legacy=True).build()
    keys = instance_keys(documented["seed"], 1, 200)
    curves = run_optimizer(learned.pretrained("zero-machine"), task, keys, 20)
    summary = zero_machine.zero_machine_summary(curves)
    assert summary["reached"] >= 0.9
    assert summary["median_log10_final"] < math.log10(TINY)
    # It is an optax transform: one update on a pytree of parameters is finite and descends.
    opt = learned.pretrained("zero-machine")
    params = {"a": jnp.array([0.5]), "b": jnp.array([[-0.25]])}
    updates, _ = opt.update(params, opt.init(params))  # the gradient of 0.5 |theta|^2
    assert float(updates["a"][0]) < 0 < float(updates["b"][0, 0])


def test_the_command_writes_its_report(tmp_path):
    cfg = from_dict(
        zero_machine.Config,
        {
            "num_tuning": 8,
            "num_test": 16,
            "baselines": [{"name": "sgd", "lr_min": 0.01, "lr_max": 0.3, "num_lrs": 3}],
            "output_dir": str(tmp_path),
        },
    )
    report = zero_machine.run(cfg, show_progress=False)
    paths = zero_machine.write(report, tmp_path)
    assert [p.name for p in paths] == ["results.json", "zero_machine.png", "config.yaml"]
    names = [r["name"] for r in report.results]
    assert names == ["zero-machine", "sgd", "sgd (tuned for log10 f_T)"]
    assert report.results[0]["reached"] >= 0.9 > report.results[1]["reached"]
    assert "| zero-machine | learned | " in zero_machine.summary(report)
