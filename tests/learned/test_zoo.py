"""The shipped trained optimizers load offline and still do what their files say they do."""

import numpy as np
import pytest

from l2l import evaluate, learned
from l2l.config import TaskConfig, build_task, from_dict
from l2l.optimizers import nesterov


def test_zoo_lists_the_shipped_optimizers():
    assert "quadratic-lstm" in learned.zoo_names()


def test_quadratic_lstm_reproduces_its_documented_held_out_result():
    trained = learned.resolve("quadratic-lstm")
    held_out = trained.info["held_out"]
    task_cfg = from_dict(TaskConfig, held_out["task"])
    assert task_cfg.kind == "quadratic" and task_cfg.dim == 10 and held_out["steps"] == 100
    task = build_task(task_cfg)
    keys = evaluate.instance_keys(held_out["seed"], evaluate.TEST_SET, held_out["instances"])
    ours = evaluate.summed_loss(
        evaluate.run_optimizer(learned.pretrained("quadratic-lstm"), task, keys, 100)
    )
    documented = held_out["mean_summed_loss"]
    learned_label = next(iter(held_out["ratio_to_best_baseline"]))
    np.testing.assert_allclose(np.mean(ours), documented[learned_label], rtol=1e-3)
    # Its documented edge over the tuned Nesterov (the best baseline), recomputed here.
    assert held_out["best_baseline"] == "nesterov"
    lr = trained.info.get("nesterov_lr", 0.01)
    base = evaluate.summed_loss(evaluate.run_optimizer(nesterov(lr, 0.9), task, keys, 100))
    np.testing.assert_allclose(np.mean(base), documented["nesterov"], rtol=1e-3)
    assert np.mean(ours) / np.mean(base) < 0.7
