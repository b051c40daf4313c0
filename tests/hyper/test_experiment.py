"""The MNIST experiment machinery (table, refit, robustness sweep, report), on a tiny synthetic
classification task so that it runs in seconds; the shipped config is checked for validity."""

from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from l2l import config as config_lib
from l2l.hyper import experiment
from l2l.tasks import MLPClassifier

REPO = Path(__file__).resolve().parents[2]


def _tiny():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(96, 8)).astype(np.float32)
    labels = ((images[:, 0] > 0).astype(np.int32) + 2 * (images[:, 1] > 0)).astype(np.int32)
    task = MLPClassifier(
        images=jnp.asarray(images[:64]),
        labels=jnp.asarray(labels[:64]),
        hidden_sizes=(6,),
        activation="tanh",
        batch_size=16,
        num_classes=4,
    )
    test = experiment.TestSplit(jnp.asarray(images[64:]), jnp.asarray(labels[64:]))
    return task, test


def _config(**robustness):
    sgd = {"optimizer": "sgd", "hyperparams": {"lr": 0.1}, "reparam": "raw"}
    data = {
        "task": {"kind": "mlp", "hidden_sizes": [6], "activation": "tanh", "batch_size": 16},
        "seeds": 2,
        "epochs": 3,
        "rows": [
            {"name": "SGD", "stack": [sgd], "paper_error": 8.99},
            {
                "name": "SGD / SGD(0)",
                "stack": [sgd, {"optimizer": "sgd", "hyperparams": {"lr": 0.0}}],
            },
            {
                "name": "SGD / SGD",
                "stack": [sgd, {"optimizer": "sgd", "hyperparams": {"lr": 0.05}}],
            },
        ],
        "robustness": {
            "heights": [1, 2],
            "lr_min": 1e-3,
            "lr_max": 1e-1,
            "num_lrs": 3,
            "epochs": 2,
            "bottom": sgd,
            "top": {"optimizer": "sgd", "hyperparams": {"lr": 0.0}},
            **robustness,
        },
    }
    return config_lib.from_dict(experiment.HyperMnistConfig, data)


def test_table_pairs_rows_and_refits_learned_values(tmp_path):
    task, test = _tiny()
    cfg = _config()
    rows = {r["name"]: r for r in experiment.run_table(cfg, task, test)}
    plain, frozen, learning = rows["SGD"], rows["SGD / SGD(0)"], rows["SGD / SGD"]
    assert plain["steps"] == 3 * 4

    # A zero step size at the top: the same runs as the plain optimizer, seed by seed.
    assert frozen["test_error"]["per_seed"] == plain["test_error"]["per_seed"]
    assert frozen["train_loss"]["per_seed"] == plain["train_loss"]["per_seed"]
    assert frozen["learned"]["lr"]["per_seed"] == pytest.approx([0.1, 0.1], rel=1e-7)
    assert frozen["refit_test_error"]["per_seed"] == plain["test_error"]["per_seed"]
    assert frozen["baseline"] == "SGD" and frozen["vs_baseline"]["mean"] == 0.0

    # Learning moves the step size, and the comparison is the paired per-seed difference.
    assert all(abs(lr - 0.1) > 1e-4 for lr in learning["learned"]["lr"]["per_seed"])
    expected = np.subtract(learning["test_error"]["per_seed"], plain["test_error"]["per_seed"])
    np.testing.assert_allclose(learning["vs_baseline"]["per_seed"], expected)
    assert learning["skipped"] == [0, 0]
    assert len(learning["hyperparam_trace"]["lr"]) == 10
    assert learning["hyperparam_trace"]["lr"][0] == pytest.approx(0.1)

    report = {"config": config_lib.to_dict(cfg), "rows": list(rows.values()), "num_train": 64}
    table = experiment.format_table(report)
    assert table.count("\n") == 2 + 3 - 1
    assert f"| {plain['test_error']['mean']:.2f} ± {plain['test_error']['sd']:.2f} |" in table
    assert "| 8.99 |" in table and "(SGD)" in table


def test_robustness_sweep_and_report(tmp_path):
    task, test = _tiny()
    cfg = _config()
    sweep = experiment.run_robustness(cfg, task, test)
    assert sweep["lrs"] == pytest.approx([1e-3, 1e-2, 1e-1])
    one, two = sweep["curves"]["1"], sweep["curves"]["2"]
    # With a zero step size on top, height 2 is height 1, at every initial step size.
    np.testing.assert_allclose(two["final_train_loss"], one["final_train_loss"], rtol=1e-6)
    np.testing.assert_allclose(one["final_lr"], sweep["lrs"], rtol=1e-6)
    losses = np.asarray(one["final_train_loss"])
    assert one["spread_decades"] == pytest.approx(np.log10(losses.max() / losses.min()), rel=1e-5)
    assert losses[0] > losses[-1]  # The larger step sizes train further in the same steps.

    report = {
        "config": config_lib.to_dict(cfg),
        "rows": [],
        "num_train": 64,
        "robustness": sweep,
    }
    paths = experiment.write_report(report, tmp_path / "out")
    assert paths["robustness"].stat().st_size < 200_000
    assert paths["robustness"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "out" / "table.md").read_text().startswith("| optimizer |")


def test_shipped_config_is_valid_and_points_at_the_shared_data():
    cfg = config_lib.load(experiment.HyperMnistConfig, REPO / "configs" / "hyper_mnist.yaml")
    assert cfg.task.data_dir == "../shared/data/mnist"
    assert (cfg.task.hidden_sizes, cfg.task.activation, cfg.task.batch_size) == (
        (128,),
        "tanh",
        256,
    )
    names = [row.name for row in cfg.rows]
    for required in [
        "SGD",
        "SGD / SGD(0.01)",
        "Adam",
        "Adam / SGD(1e-5)",
        "AdaGrad / AdaGrad(1e-3)",
    ]:
        assert required in names
    assert cfg.robustness.heights == (1, 2, 3, 4)


def test_config_errors_name_the_key():
    data = {"rows": [{"name": "x", "stack": [{"optimizer": "adamw"}]}]}
    with pytest.raises(config_lib.ConfigError, match=r"rows\.0\.stack\.0.*adamw"):
        config_lib.from_dict(experiment.HyperMnistConfig, data)
    data = {"rows": [{"name": "x", "stack": [{"optimizer": "adam", "learn": ["lr"]}]}]}
    with pytest.raises(config_lib.ConfigError, match="learn"):
        config_lib.from_dict(experiment.HyperMnistConfig, data)


def test_cli_has_the_hyper_subcommand(capsys, tmp_path):
    from l2l import cli

    assert "hyper" in cli.COMMANDS
    assert cli.main(["hyper", str(tmp_path / "missing.yaml")]) == 2
    assert "no such config file" in capsys.readouterr().err
    assert cli.main(["hyper", "configs/hyper_mnist.yaml", "seeds=0"]) == 2
    assert "key 'seeds': expected a value >= 1" in capsys.readouterr().err
