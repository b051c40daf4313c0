"""The short-horizon study (``l2l short-horizon``): a tiny config through the command, its tuned
fixed step size's loss against the closed-form expected loss of SGD on the noisy quadratic, its
one-step runs against Baydin et al.'s rule replayed in float64 NumPy and against the stack's
reverse mode, and its config errors."""

import json
import warnings
from pathlib import Path

import jax
import numpy as np
import pytest

from l2l import cli, sweep
from l2l import config as config_lib
from l2l.experiments import short_horizon as sh
from l2l.experiments.report import number

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "short_horizon.yaml"
MNIST_DIR = REPO.parent / "shared" / "data" / "mnist"
# The noisy quadratic of the tests: the command's tiny run and the checks share these shapes, so
# that they share compiled programs.
DIM, STEPS, SEEDS = 30, 60, 64
GRID = np.geomspace(0.05, 1.5, 6)


def closed_form_expected_loss(h, v, s0, alpha, steps):
    """E[0.5 sum_i h_i theta_i^2] after ``steps`` SGD steps of size ``alpha`` from E[theta^2] =
    s0, gradient noise of variance v: with r = (1 - alpha h)^2, the second moment's linear
    recurrence s <- r s + alpha^2 v sums to s_T = r^T s0 + alpha^2 v (1 - r^T) / (1 - r)."""
    r = (1 - alpha * h) ** 2
    s = r**steps * s0 + alpha**2 * v * (1 - r**steps) / (1 - r)
    return 0.5 * np.sum(h * s)


def test_the_command_runs_a_tiny_config_and_reports_the_closed_form(tmp_path, capsys):
    """Quadratic (and MNIST where the shared files are here) through ``l2l.cli.main``: every file,
    the table's numbers are the JSON's, and the tuned fixed step size's mean final loss over 64
    seeds is the closed-form expected loss within four standard errors."""
    out = tmp_path / "short"
    args = [
        f"quadratic.dim={DIM}",
        f"quadratic.steps={STEPS}",
        f"quadratic.seeds={SEEDS}",
        f"quadratic.grid={{lr_min: {GRID[0]}, lr_max: {GRID[-1]}, num_lrs: {GRID.size}}}",
        "alpha0_multiples=[1.0]",
        "discounts=[]",
        "trace_points=20",
        f"output_dir={out}",
    ]
    if MNIST_DIR.is_dir():
        args += [
            f"mnist.task.data_dir={MNIST_DIR}",
            "mnist.task.hidden_sizes=[8]",
            "mnist.task.batch_size=16",
            "mnist.steps=8",
            "mnist.seeds=2",
            "mnist.grid={lr_min: 0.1, lr_max: 1.0, num_lrs: 2}",
        ]
    else:
        args += ["mnist.enabled=false"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # MNIST carved from its test split
        assert cli.main(["short-horizon", str(CONFIG), *args]) == 0
    printed = capsys.readouterr().out
    assert f"wrote into {out}: results.json table.md short_horizon.png config.yaml" in printed
    assert (out / "short_horizon.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cfg = config_lib.load(sh.Config, out / "config.yaml")
    assert cfg == config_lib.load(sh.Config, CONFIG, args)
    saved = json.loads((out / "results.json").read_text())
    assert saved["config"]["quadratic"]["seeds"] == SEEDS
    np.testing.assert_allclose(saved["problems"]["quadratic"]["grid"], GRID)
    problems = ["quadratic", "mnist"] if MNIST_DIR.is_dir() else ["quadratic"]
    assert list(saved["problems"]) == problems

    for problem in saved["problems"].values():
        best = int(np.argmin(problem["grid_final_loss"]))
        assert problem["best_learning_rate"] == problem["grid"][best]
        fixed, one_step = problem["runs"]
        assert (fixed["mode"], one_step["mode"]) == ("fixed", "forward")
        assert fixed["final_loss"]["mean"] == pytest.approx(problem["grid_final_loss"][best])
        assert one_step["alpha0"] == pytest.approx(problem["best_learning_rate"])
        for run in problem["runs"]:
            per_seed = np.asarray(run["final_loss"]["per_seed"])
            assert run["final_loss"]["mean"] == pytest.approx(per_seed.mean())
            assert len(run["learning_rate_trace"]) == len(problem["trace_steps"])
            assert f"| {run['method']} | {number(run['alpha0'])} (1) " in printed
        assert problem["trace_steps"][-1] == problem["steps"]
        np.testing.assert_allclose(fixed["learning_rate_trace"], fixed["alpha0"], rtol=1e-6)

    quad = saved["problems"]["quadratic"]
    h = 1.0 / np.arange(1, DIM + 1)
    v = 0.1 * h  # the shipped noise: variance 0.1 h_i; theta_0 ~ N(0, I)
    alpha = quad["best_learning_rate"]
    expected = closed_form_expected_loss(h, v, 1.0, alpha, STEPS)
    per_seed = np.asarray(quad["runs"][0]["final_loss"]["per_seed"])
    standard_error = per_seed.std(ddof=1) / np.sqrt(per_seed.size)
    assert abs(per_seed.mean() - expected) < 4 * standard_error
    assert standard_error < 0.1 * expected  # the check has teeth
    # The experiment's own expectations (grid and Wu et al.'s greedy schedule) are the same sums.
    grid_expected = [closed_form_expected_loss(h, v, 1.0, a, STEPS) for a in GRID]
    np.testing.assert_allclose(quad["grid_expected_loss"], grid_expected, rtol=1e-5)
    s, alphas = np.ones(DIM), []
    for _ in range(STEPS):  # greedy: argmin over alpha of 0.5 sum h ((1 - alpha h)^2 s + alpha^2 v)
        alphas.append(np.sum(h**2 * s) / np.sum(h**3 * s + h * v))
        s = (1 - alphas[-1] * h) ** 2 * s + alphas[-1] ** 2 * v
    steps = np.asarray(quad["trace_steps"])
    np.testing.assert_allclose(
        quad["greedy"]["learning_rate_trace"], np.asarray(alphas)[steps - 1], rtol=1e-5
    )
    assert quad["greedy"]["final_loss"] == pytest.approx(0.5 * np.sum(h * s), rel=1e-5)


def test_without_noise_the_fixed_step_is_the_exact_contraction():
    """Noise 0: each seed's final loss is 0.5 sum_i h_i theta_0i^2 (1 - alpha h_i)^(2T), exactly
    (float32 rounding), with theta_0 the seed's initial point. (The shapes of the command's tiny
    run: one compiled program serves both.)"""
    q = sh.QuadraticProblemConfig(dim=DIM, noise=0.0)
    keys = sh.seed_keys(3, "quadratic", SEEDS)
    out = sh.trajectories(sh.FIXED, q.task.build(), keys, GRID, STEPS, trace_training_loss=True)
    h = 1.0 / np.arange(1, DIM + 1)
    for k, key in enumerate(keys[:3]):
        theta0 = np.asarray(jax.random.normal(jax.random.split(key)[0], (DIM,)), np.float64)
        for i, alpha in enumerate(GRID):
            expected = 0.5 * np.sum(h * theta0**2 * (1 - alpha * h) ** (2 * STEPS))
            np.testing.assert_allclose(out["final_loss"][i, k], expected, rtol=2e-5)
            first = 0.5 * np.sum(h * theta0**2 * (1 - alpha * h) ** 2)
            np.testing.assert_allclose(out["training_loss"][i, k, 0], first, rtol=2e-5)


def test_one_step_runs_are_baydins_rule_and_the_reverse_mode():
    """The one-step runs, replayed in float64 NumPy from the same noise: log alpha moves by
    kappa = 0.2 times the cosine of consecutive gradients (Baydin's multiplicative rule), and the
    hypergradient the stack records is -alpha_{t-1} g_t . g_{t-1}; the stack's reverse mode gives
    the same numbers. (Whole-run mode at mu = 0 is the one-step rule: tests/hyper.)"""
    task = sh.QuadraticProblemConfig(dim=DIM, noise=0.1).task.build()
    keys = sh.seed_keys(1, "quadratic", SEEDS)
    h = np.asarray(task.curvature, np.float64)
    runner = sweep.Runner()  # One program per method for both step sizes.
    for alpha0 in (0.05, 0.5):  # growing from below, and from near the best fixed step size
        forward = sh.trajectories(sh.ONE_STEP, task, keys, [alpha0], STEPS, runner=runner)
        assert forward["guarded"].sum() == 0 and forward["skipped"].sum() == 0
        for k, key in enumerate(keys[:2]):
            init_key, data_key = jax.random.split(key)
            theta = np.asarray(task.init(init_key), np.float64)
            alpha, previous = alpha0, None
            alphas, hypergradients = [], []
            for t in range(STEPS):
                c = np.asarray(task.targets(jax.random.fold_in(data_key, t)), np.float64)
                g = h * (theta - c)
                if previous is None:
                    hypergradients.append(0.0)
                else:
                    hypergradients.append(-alpha * g @ previous)
                    cosine = g @ previous / (np.linalg.norm(g) * np.linalg.norm(previous))
                    alpha = alpha * np.exp(0.2 * cosine)
                theta = theta - alpha * g
                alphas.append(alpha)
                previous = g
            np.testing.assert_allclose(forward["learning_rate"][0, k], alphas, rtol=1e-4)
            scale = np.max(np.abs(hypergradients))
            np.testing.assert_allclose(
                forward["hypergradient"][0, k], hypergradients, rtol=1e-3, atol=1e-5 * scale
            )
        reverse_mode = sh.Method("one-step, reverse", "reverse")
        reverse = sh.trajectories(reverse_mode, task, keys, [alpha0], STEPS, runner=runner)
        np.testing.assert_allclose(reverse["learning_rate"], forward["learning_rate"], rtol=1e-5)
        np.testing.assert_allclose(
            reverse["hypergradient"], forward["hypergradient"], rtol=1e-4, atol=1e-7
        )


def test_config_mistakes_are_one_line(capsys):
    assert cli.main(["short-horizon", "quadratic.dimm=3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("l2l short-horizon: config error:") and "'quadratic.dimm'" in err
    assert "dim" in err and len(err.strip().splitlines()) == 1
    assert cli.main(["short-horizon", str(CONFIG), "discounts=[0.9, 1.5]"]) == 2
    err = capsys.readouterr().err
    assert "discounts must lie in [0, 1]" in err and len(err.strip().splitlines()) == 1
    assert cli.main(["short-horizon", "quadratic.enabled=false", "mnist.enabled=false"]) == 2
    assert "nothing to run" in capsys.readouterr().err
    assert cli.main(["short-horizon", "quadratic.grid.lr_max=0.001"]) == 2
    assert "lr_max (0.001) is below lr_min (0.01)" in capsys.readouterr().err


def test_shipped_config_is_the_documented_setting():
    cfg = config_lib.load(sh.Config, CONFIG)
    q, m = cfg.quadratic, cfg.mnist
    assert (q.dim, q.curvature_power, q.noise, q.init_scale, q.steps) == (1000, 1.0, 0.1, 1.0, 1000)
    assert (m.task.hidden_sizes, m.task.activation, m.task.batch_size) == ((128,), "tanh", 256)
    assert m.task.data_dir == "../shared/data/mnist" and m.steps == 1000
    assert cfg.alpha0_multiples == (0.01, 0.1, 1.0) and cfg.discounts == (0.9, 0.99, 1.0)
    # The embedded default is the shipped config but for the data directory (as `l2l hyper`).
    assert cfg == config_lib.load(sh.Config, None, ["mnist.task.data_dir=../shared/data/mnist"])
