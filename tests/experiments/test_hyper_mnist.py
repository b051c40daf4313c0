"""The MNIST experiment of the hyperoptimizers (table, refit, robustness sweep, report): its
numbers against plain training loops written here, on a tiny synthetic classification task so that
it runs in seconds; one small run on the shipped MNIST files; the shipped config's validity."""

import json
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2l import config as config_lib
from l2l.experiments import hyper_mnist
from l2l.experiments.report import jsonable
from l2l.tasks import MLPClassifier

REPO = Path(__file__).resolve().parents[2]
MNIST_DIR = REPO.parent / "shared" / "data" / "mnist"
STEPS = 12  # 3 epochs of the tiny task


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
    test = hyper_mnist.TestSplit(jnp.asarray(images[64:]), jnp.asarray(labels[64:]))
    return task, test


def _sgd(learning_rate, **kw):
    return {"optimizer": "sgd", "hyperparams": {"learning_rate": learning_rate}, **kw}


def _stack(*levels):
    return {"kind": "stack", "levels": list(levels)}


def _config(**robustness):
    bottom = _sgd(0.1, reparam="raw")
    data = {
        "task": {"kind": "mlp", "hidden_sizes": [6], "activation": "tanh", "batch_size": 16},
        "seeds": 2,
        "epochs": 3,
        "rows": [
            {"name": "SGD", "optimizer": _stack(bottom), "paper_error": 8.99},
            {"name": "SGD / SGD(0)", "optimizer": _stack(bottom, _sgd(0.0))},
            {"name": "SGD / SGD", "optimizer": _stack(bottom, _sgd(0.05))},
        ],
        "robustness": {
            "heights": [2],
            "lr_min": 1e-3,
            "lr_max": 1e-1,
            "num_lrs": 6,
            "epochs": 3,
            "bottom": bottom,
            "top": _sgd(0.0),
            **robustness,
        },
    }
    return config_lib.from_dict(hyper_mnist.Config, data)


@jax.jit
def _sgd_hd(task, test, seed_keys, learning_rates, kappas):
    """The oracle: SGD whose step size follows Baydin et al.'s hypergradient rule, written out,
    alpha_t = alpha_{t-1} + kappa g_t . g_{t-1} (kappa = 0: plain SGD), for 12 steps on the
    experiment's keys (weights from the seed's first key, step t's minibatch from
    fold_in(second key, t)). One run per entry of ``seed_keys``, ``learning_rates``, ``kappas``."""

    def one(seed_key, learning_rate, kappa):
        init_key, data_key = jax.random.split(seed_key)
        params = task.init(init_key)

        def step(carry, t):
            params, learning_rate, previous = carry
            g = jax.grad(task.loss)(params, None, jax.random.fold_in(data_key, t))
            pairs = zip(jax.tree.leaves(g), jax.tree.leaves(previous))
            learning_rate = learning_rate + kappa * sum(jnp.vdot(a, b) for a, b in pairs)
            params = jax.tree.map(lambda p, d: p - learning_rate * d, params, g)
            return (params, learning_rate, g), None

        zeros = jax.tree.map(jnp.zeros_like, params)  # No g_{-1}: alpha_0 is the initial value.
        (params, learning_rate, _), _ = jax.lax.scan(
            step, (params, learning_rate, zeros), jnp.arange(STEPS)
        )
        return {
            "learning_rate": learning_rate,
            "train_loss": task.full_loss(params, task.images, task.labels),
            "test_error": 100 * task.error_rate(params, test.images, test.labels),
        }

    return jax.vmap(one)(seed_keys, learning_rates, kappas)


@pytest.fixture(scope="module")
def table():
    task, test = _tiny()
    cfg = _config()
    rows = {row.name: row for row in hyper_mnist.run_table(cfg, task, test)}
    return cfg, task, test, rows


def test_table_matches_plain_training_loops_and_pairs_rows(table):
    cfg, task, test, rows = table
    plain, frozen, learning = rows["SGD"], rows["SGD / SGD(0)"], rows["SGD / SGD"]
    assert plain.steps == STEPS  # 3 epochs of 64 examples in minibatches of 16.

    # Every seed of the plain row, of the stack and of its refit (plain SGD from scratch at the
    # learned step size) is the written-out loop, number for number.
    keys = jax.random.split(jax.random.key(cfg.seed), cfg.seeds)
    learned = learning.learned["learning_rate"].per_seed
    oracle = _sgd_hd(
        task,
        test,
        jnp.concatenate([keys, keys, keys]),
        jnp.asarray([0.1, 0.1, 0.1, 0.1, *learned], jnp.float32),
        jnp.asarray([0.0, 0.0, 0.05, 0.05, 0.0, 0.0], jnp.float32),
    )
    sgd, hd, refit = (jax.tree.map(lambda x, k=k: x[k : k + 2], oracle) for k in (0, 2, 4))
    np.testing.assert_allclose(plain.train_loss.per_seed, sgd["train_loss"], rtol=1e-5)
    np.testing.assert_allclose(plain.test_error.per_seed, sgd["test_error"], atol=1e-4)
    np.testing.assert_allclose(learned, hd["learning_rate"], rtol=1e-5)
    np.testing.assert_allclose(learning.train_loss.per_seed, hd["train_loss"], rtol=1e-5)
    np.testing.assert_allclose(learning.refit_test_error.per_seed, refit["test_error"], atol=1e-4)
    assert learning.learned_as == {"learning_rate": "raw"} and learning.skipped == [0, 0]
    assert all(abs(lr - 0.1) > 1e-4 for lr in learned)
    assert len(learning.hyperparam_trace["learning_rate"]) == 10
    assert learning.hyperparam_trace["learning_rate"][0] == pytest.approx(0.1)
    errors = learning.test_error.per_seed
    assert learning.test_error.mean == pytest.approx(np.mean(errors))
    assert learning.test_error.sd == pytest.approx(np.std(errors, ddof=1))

    # A zero step size at the top: the same runs as the plain optimizer, seed by seed.
    assert frozen.test_error.per_seed == plain.test_error.per_seed
    assert frozen.train_loss.per_seed == plain.train_loss.per_seed
    assert frozen.learned["learning_rate"].per_seed == pytest.approx([0.1, 0.1], rel=1e-7)
    assert frozen.refit_test_error.per_seed == plain.test_error.per_seed
    assert frozen.baseline == "SGD" and frozen.vs_baseline.mean == 0.0
    # The comparison with the plain row is the paired per-seed difference.
    expected = np.subtract(learning.test_error.per_seed, plain.test_error.per_seed)
    np.testing.assert_allclose(learning.vs_baseline.per_seed, expected)
    assert plain.baseline is None and plain.refit_test_error is None


def test_report_writes_every_number_it_shows(table, tmp_path):
    cfg, task, test, rows = table
    sweep = hyper_mnist.run_robustness(cfg, task, test)
    assert sweep.lrs == pytest.approx(np.geomspace(1e-3, 0.1, 6))
    (curve,) = sweep.curves.values()
    # With a zero step size on top, height 2 is plain SGD from each initial step size: the loop.
    keys = jnp.broadcast_to(jax.random.split(jax.random.key(cfg.seed), 1), (6,))
    lrs = jnp.asarray(sweep.lrs, jnp.float32)
    oracle = _sgd_hd(task, test, keys, lrs, jnp.zeros(6))
    np.testing.assert_allclose(curve.final_train_loss, oracle["train_loss"], rtol=1e-5)
    np.testing.assert_allclose(curve.test_error, oracle["test_error"], atol=1e-4)
    np.testing.assert_allclose(curve.final_lr, sweep.lrs, rtol=1e-6)
    losses = np.asarray(curve.final_train_loss)
    assert curve.spread_decades == pytest.approx(np.log10(losses.max() / losses.min()), rel=1e-5)
    assert curve.diverged == 0 and sweep.steps == STEPS

    report = hyper_mnist.Report(
        config=cfg,
        data="tiny synthetic",
        num_train=64,
        num_test=32,
        device="cpu",
        rows=list(rows.values()),
        table_minutes=0.3,
        robustness=sweep,
        minutes=0.5,
    )
    paths = hyper_mnist.write(report, tmp_path / "out")
    assert [p.name for p in paths] == ["results.json", "table.md", "robustness.png", "config.yaml"]
    saved = json.loads(paths[0].read_text())
    assert saved == json.loads(json.dumps(jsonable(report)))
    plain = rows["SGD"]
    assert saved["rows"][0]["test_error"]["per_seed"] == plain.test_error.per_seed
    assert saved["robustness"]["curves"]["2"]["final_lr"] == curve.final_lr
    assert paths[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert config_lib.load(hyper_mnist.Config, paths[3]) == cfg

    table_md = paths[1].read_text()
    assert table_md.startswith("| optimizer |") and table_md.count("\n") == 2 + 3
    assert f"| {plain.test_error.mean:.2f} ± {plain.test_error.sd:.2f} |" in table_md
    assert "| 8.99 |" in table_md and "(SGD)" in table_md and "α = " in table_md
    # The committed-results path (docs/hyperoptimizers.md) gives the run's table back.
    assert hyper_mnist.chandra_table(saved) == hyper_mnist.format_table(report)
    assert hyper_mnist.table_rows_of(saved) == report.rows
    text = hyper_mnist.summary(report)
    assert text.startswith(table_md) and text.endswith("0.5 min (table 0.3 min)")


@pytest.mark.skipif(not MNIST_DIR.is_dir(), reason="the shared MNIST files are not here")
def test_run_on_mnist(tmp_path, capsys):
    from l2l.data import load_mnist

    overrides = [
        f"task.data_dir={MNIST_DIR}",
        "task.hidden_sizes=[8]",
        "seeds=1",
        "epochs=1",
        "rows=[{name: SGD, optimizer: {kind: stack, levels: [{optimizer: sgd, "
        "hyperparams: {learning_rate: 0.1}}]}}]",
        "robustness.enabled=false",
        f"output_dir={tmp_path}",
    ]
    cfg = config_lib.load(hyper_mnist.Config, REPO / "configs" / "hyper_mnist.yaml", overrides)
    report = hyper_mnist.run(cfg)
    (row,) = report.rows
    data = load_mnist(MNIST_DIR)
    assert (report.num_train, report.num_test) == (len(data.train.labels), len(data.test.labels))
    assert row.steps == -(-report.num_train // 256)  # One epoch of minibatches of 256.
    # A test error is a count of misclassified test images, well below chance (90 %).
    (error,) = row.test_error.per_seed
    assert error * report.num_test / 100 == pytest.approx(round(error * report.num_test / 100))
    assert 0 < error < 80
    assert capsys.readouterr().out.startswith(f"SGD: test error {error:.2f} ± 0.00 %")
    paths = hyper_mnist.write(report, cfg.output_dir)
    assert [p.name for p in paths] == ["results.json", "table.md", "config.yaml"]
    assert json.loads(paths[0].read_text())["num_train"] == report.num_train
    assert report.robustness is None and "robustness" not in jsonable(report)


def test_shipped_config_is_valid_and_points_at_the_shared_data():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # Every name is optax's.
        cfg = config_lib.load(hyper_mnist.Config, REPO / "configs" / "hyper_mnist.yaml")
    assert cfg.task.kind == "mlp" and cfg.task.data_dir == "../shared/data/mnist"
    assert (cfg.task.hidden_sizes, cfg.task.activation, cfg.task.batch_size) == (
        (128,),
        "tanh",
        256,
    )
    rows = {row.name: row for row in cfg.rows}
    for required in [
        "SGD",
        "SGD / SGD(0.01)",
        "Adam",
        "Adam / SGD(1e-5)",
        "AdaGrad / AdaGrad(1e-3)",
    ]:
        assert required in rows
    momentum = rows["SGD+momentum(α, γ) / SGD(1e-3)"].levels[0]
    assert momentum.learn == ("learning_rate", "momentum")
    rmsprop = rows["RMSProp(α, γ) / SGD(1e-4)"].levels[0]
    assert rmsprop.hyperparams == {"learning_rate": 0.01, "decay": 0.99}
    assert cfg.robustness.heights == (1, 2, 3, 4)
    assert hyper_mnist.HyperMnistConfig is hyper_mnist.Config


def test_old_hyperparameter_names_still_load_renamed():
    data = {
        "optimizer": "rmsprop",
        "hyperparams": {"lr": 0.01, "gamma": 0.99},
        "learn": ["lr", "gamma"],
        "reparam": {"lr": "sqrt", "gamma": "raw"},
    }
    with pytest.warns(DeprecationWarning) as record:
        level = config_lib.from_dict(hyper_mnist.LevelConfig, data)
    assert any("`gamma` is deprecated; use `decay`" in str(w.message) for w in record)
    assert level.hyperparams == {"learning_rate": 0.01, "decay": 0.99}
    assert level.reparam == {"learning_rate": "sqrt", "decay": "raw"}
    data = {"optimizer": "momentum", "hyperparams": {"gamma": 0.9}, "learn": ["lr", "gamma"]}
    with pytest.warns(DeprecationWarning) as record:
        level = config_lib.from_dict(hyper_mnist.LevelConfig, data)
    assert any("`gamma` is deprecated; use `momentum`" in str(w.message) for w in record)
    assert level.hyperparams == {"momentum": 0.9}
    assert level.learn == ("learning_rate", "momentum")


def test_config_errors_name_the_key():
    data = {"rows": [{"name": "x", "optimizer": _stack({"optimizer": "adamz"})}]}
    with pytest.raises(config_lib.ConfigError, match=r"rows\.0\.optimizer\.levels\.0.*adamz"):
        config_lib.from_dict(hyper_mnist.Config, data)
    data = {"rows": [{"name": "x", "optimizer": _stack({"optimizer": "adamw"})}]}
    with pytest.raises(config_lib.ConfigError, match=r"adamw has no default `learning_rate`"):
        config_lib.from_dict(hyper_mnist.Config, data)
    top = {"optimizer": "adam", "learn": ["learning_rate"]}
    with pytest.raises(config_lib.ConfigError, match="top level of a stack .* learn"):
        config_lib.from_dict(
            hyper_mnist.Config, {"rows": [{"name": "x", "optimizer": _stack(top)}]}
        )
    with pytest.raises(config_lib.ConfigError, match="its optimizer is a stack"):
        config_lib.from_dict(hyper_mnist.Config, {"rows": [{"name": "x", "optimizer": "adam"}]})
    with pytest.raises(config_lib.ConfigError, match="task.kind must be 'mlp'"):
        config_lib.from_dict(hyper_mnist.Config, {"task": {"kind": "quadratic"}})
    with pytest.raises(config_lib.ConfigError, match="unknown key 'task.dim'"):
        config_lib.from_dict(hyper_mnist.Config, {"task": {"kind": "mlp", "dim": 3}})
    with pytest.raises(config_lib.ConfigError, match="discount is the whole-run mode's"):
        config_lib.from_dict(hyper_mnist.Config, {"robustness": {"discount": 0.9}})
    with pytest.raises(config_lib.ConfigError, match="robustness"):
        config_lib.from_dict(hyper_mnist.Config, {"robustness": {"mode": "sideways"}})


def test_the_robustness_sweep_runs_its_stacks_in_the_mode_it_names():
    cfg = config_lib.from_dict(
        hyper_mnist.Config, {"robustness": {"mode": "run", "discount": 0.99}}
    )
    stack = cfg.robustness.stack(2)
    assert (stack.mode, stack.discount) == ("run", 0.99)
    assert cfg.robustness.stack(1).levels == (cfg.robustness.bottom.fixed(),)  # plain: no mode
    assert hyper_mnist.Config().robustness.stack(3).mode == "forward"


def test_the_hyper_subcommand_runs_this_experiment(capsys, tmp_path):
    from l2l import cli
    from l2l.experiments import EXPERIMENTS, experiment

    assert experiment(EXPERIMENTS[("hyper",)].module) is hyper_mnist
    assert cli.main(["hyper", str(tmp_path / "missing.yaml")]) == 2
    assert "no such config file" in capsys.readouterr().err
    assert cli.main(["hyper", str(REPO / "configs" / "hyper_mnist.yaml"), "seeds=0"]) == 2
    assert "key 'seeds': expected a value >= 1" in capsys.readouterr().err


def test_the_old_row_layout_is_read_with_a_deprecation_warning():
    row = {"name": "A", "stack": [{"optimizer": "adam"}, {"optimizer": "sgd"}]}
    with pytest.warns(DeprecationWarning, match="`stack: \\[...\\]` is l2l 0.2's layout"):
        cfg = config_lib.from_dict(hyper_mnist.Config, {"rows": [row]})
    assert [level.optimizer for level in cfg.rows[0].levels] == ["adam", "sgd"]
