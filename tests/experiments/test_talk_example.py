"""The talk's example (``l2l talk``): its forward-mode run and the one-step stack against a literal
dual-number oracle written here, its whole-run tangent against ``jax.grad`` through the unrolled
run, and the command from the shipped config (float64 enabled for the experiment alone)."""

import json
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2l import cli
from l2l import config as config_lib
from l2l.experiments import talk_example

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "talk_example.yaml"
FIELDS = ("error", "a", "eta", "kappa", "de_deta", "de_dkappa")


class Dual:
    """A dual number v + d ε (ε² = 0): ``value`` and derivative part ``d``, each a float, a NumPy
    vector (one derivative per direction) or itself a ``Dual`` (nested: derivatives of
    derivatives). Only what the talk's slide needs: +, -, *."""

    def __init__(self, value, d):
        self.value, self.d = value, d

    @staticmethod
    def lift(other):
        return other if isinstance(other, Dual) else Dual(other, 0.0)

    def __add__(self, other):
        other = Dual.lift(other)
        return Dual(self.value + other.value, self.d + other.d)

    __radd__ = __add__

    def __neg__(self):
        return Dual(-self.value, -self.d)

    def __sub__(self, other):
        return self + (-Dual.lift(other))

    def __rsub__(self, other):
        return Dual.lift(other) - self

    def __mul__(self, other):
        if not isinstance(other, Dual):
            return Dual(self.value * other, self.d * other)
        return Dual(self.value * other.value, self.value * other.d + self.d * other.value)

    __rmul__ = __mul__


def dual_number_oracle(x, y, *, eta, kappa, delta, a_init, discount=1.0):
    """The talk's loop, literally, in dual numbers (float64 NumPy scalars).

    ``a``, ``eta``, ``kappa`` are duals whose derivative parts are (d/deta, d/dkappa) vectors. The
    error is evaluated on a nested dual, A = a + 1 ε_a, so that e = (A x - y)^2 gives, in one go,
    e's own derivatives (de/deta, de/dkappa: read off as numbers) and de/da, itself a dual in
    (eta, kappa). ``discount`` scales the carried derivative parts before the step's updates:
    1 is the talk's (derivatives through every past step), 0 keeps the last update's alone.
    """
    zero = np.zeros(2)
    a = Dual(np.float64(a_init), zero)
    eta = Dual(np.float64(eta), np.array([1.0, 0.0]))  # d eta / d eta = 1
    kappa = Dual(np.float64(kappa), np.array([0.0, 1.0]))  # d kappa / d kappa = 1
    rows = []
    for xt, yt in zip(x, y):

        def error(a):
            outer = Dual(a, Dual(1.0, zero))  # a + 1 ε_a; ε_a's coefficient has no (eta, kappa)
            residual = outer * xt - yt
            return residual * residual  # .value: e (a dual in eta, kappa); .d: de/da (likewise)

        e = error(a).value
        de_deta, de_dkappa = e.d
        kappa = kappa - delta * de_dkappa  # a number times a number: kappa's part stays (0, 1)
        a = Dual(a.value, discount * a.d)
        eta = Dual(eta.value, np.array([1.0, discount * eta.d[1]]))
        eta = eta - kappa * de_deta  # eta's part: (1, deta/dkappa - de/deta)
        a = a - eta * error(a).d  # a's part: da/deta, da/dkappa through this update too
        rows.append((e.value, a.value, eta.value, kappa.value, de_deta, de_dkappa))
    return dict(zip(FIELDS, np.asarray(rows, np.float64).T))


@pytest.fixture(scope="module")
def setting():
    """The shipped config's samples and hyperparameters, over its first 1500 steps (the talk's run
    converges at step 419, the stack's a is within 0.2 % of the true slope at the end)."""
    cfg = config_lib.load(talk_example.Config, CONFIG, ["steps=1500"])
    x, y = talk_example.samples(cfg)
    hyperparams = {"eta": cfg.eta, "kappa": cfg.kappa, "delta": cfg.delta, "a_init": cfg.a_init}
    return cfg, x, y, hyperparams


def assert_traces_equal(actual, expected, *, a_true, a_init, rtol, fields=FIELDS):
    """Every trace to ``rtol``, except where it is a difference of nearly equal numbers: the error
    and the hypergradients carry the residual a x - y = (a - a_true) x, whose rounding (relative
    to y) grows to relative error |a_true| / |a - a_true| times larger as a converges. So they
    are compared to ``rtol`` times that factor until a is within CONVERGED (1e-6) of a_true, and
    after it, where they are rounding noise, to ``rtol`` times their largest value."""
    before = np.concatenate([[a_init], expected["a"][:-1]])  # a_{t-1}, which step t's error reads
    gap = np.abs(before - a_true)
    settled = gap <= talk_example.CONVERGED * abs(a_true)
    amplified = 1.0 + abs(a_true) / np.where(settled, 1.0, gap)
    for name in fields:
        a, e = np.asarray(actual[name]), np.asarray(expected[name])
        tolerance = rtol * np.abs(e)
        if name in ("error", "de_deta", "de_dkappa"):
            tolerance = np.where(settled, rtol * np.max(np.abs(e)), amplified * tolerance)
        bad = ~(np.abs(a - e) <= tolerance)
        assert not bad.any(), (
            f"{name}: {bad.sum()} of {bad.size} steps differ beyond the tolerance, first at step "
            f"{np.argmax(bad) + 1}: {a[bad][0]!r} vs {e[bad][0]!r}"
        )


def test_forward_mode_is_the_talks_dual_numbers(setting):
    cfg, x, y, hyperparams = setting
    ends = {"a_true": cfg.a_true, "a_init": cfg.a_init}
    run = talk_example.forward_mode_run(x, y, **hyperparams)
    oracle = dual_number_oracle(x, y, **hyperparams)
    assert_traces_equal(run, oracle, **ends, rtol=1e-12)
    # What the talk's numbers do: eta climbs from 1e-20 by 13 decades, a reaches the true slope;
    # kappa cannot move, since delta * de/dkappa < 1e-50 is below float64's resolution at 1e-20.
    assert abs(run["a"][-1] - cfg.a_true) < 1e-12
    assert 1e-7 < run["eta"][-1] < 1e-6
    assert np.all(run["kappa"] == cfg.kappa)
    assert 0 < np.max(np.abs(cfg.delta * run["de_dkappa"])) < 1e-50


def test_the_stack_is_the_one_step_dual_numbers_and_differs_from_the_talks(setting):
    cfg, x, y, hyperparams = setting
    ends = {"a_true": cfg.a_true, "a_init": cfg.a_init}
    stack = talk_example.stack_run(x, y, **hyperparams)
    one_step = dual_number_oracle(x, y, **hyperparams, discount=0.0)
    assert_traces_equal(stack, one_step, **ends, rtol=1e-12)
    # Baydin's rule, level by level: de_t/deta = -g_t g_{t-1}, de_t/dkappa = -h_t h_{t-1}.
    g = 2 * x * (np.concatenate([[cfg.a_init], stack["a"][:-1]]) * x - y)
    h = np.concatenate([[0.0], -g[1:] * g[:-1]])
    # (a stays > 0.2 % from the true slope in these steps: g's cancellation costs < 1e3 ulps)
    np.testing.assert_allclose(stack["de_deta"], h, rtol=1e-10)
    np.testing.assert_allclose(stack["de_dkappa"][1:], -h[1:] * h[:-1], rtol=1e-10)
    # The jvp recurrence with its tangents reset each step (discount 0) is the stack too.
    reset = talk_example.forward_mode_run(x, y, **hyperparams, discount=0.0)
    assert_traces_equal(reset, stack, **ends, rtol=1e-12)
    # And the talk's whole-run derivatives are another rule: eta ends ~7x larger, a converges
    # ~8x sooner (steps 419 and 3217 on the whole shipped run).
    talk = talk_example.forward_mode_run(x, y, **hyperparams)
    assert talk["eta"][-1] > 5 * stack["eta"][-1]
    assert not np.allclose(talk["de_deta"][2:], stack["de_deta"][2:], rtol=0.1)


def test_the_stacks_whole_run_mode_is_the_talks_rule_while_kappa_stands_still(setting):
    """``hyper.stack(..., mode='run')`` carries eta's tangent through the whole run as the talk's
    dual numbers do (kappa's stays one-step, but kappa cannot move here): the same a and eta."""
    cfg, x, y, hyperparams = setting
    ends = {"a_true": cfg.a_true, "a_init": cfg.a_init}
    whole_run = talk_example.stack_run(x, y, **hyperparams, mode="run")
    talk = talk_example.forward_mode_run(x, y, **hyperparams)
    fields = ("error", "a", "eta", "kappa", "de_deta")
    assert_traces_equal(whole_run, talk, **ends, rtol=1e-12, fields=fields)


def test_all_three_levels_where_kappa_moves():
    """With the talk's numbers kappa never moves (below); here it does, so the comparison checks
    the whole three-level recurrence, the talk's order (kappa, then eta with the new kappa, then a
    with the new eta) included, in both modes. x ~ U(0, 1), 300 steps."""
    rng = np.random.default_rng(1)
    x = rng.uniform(0.0, 1.0, 300)
    y = 3.0 * x
    hyperparams = {"eta": 0.01, "kappa": 1e-3, "delta": 1e-4, "a_init": 0.0}
    ends = {"a_true": 3.0, "a_init": 0.0}
    talk = talk_example.forward_mode_run(x, y, **hyperparams)
    assert_traces_equal(talk, dual_number_oracle(x, y, **hyperparams), **ends, rtol=1e-12)
    stack = talk_example.stack_run(x, y, **hyperparams)
    one_step = dual_number_oracle(x, y, **hyperparams, discount=0.0)
    assert_traces_equal(stack, one_step, **ends, rtol=1e-12)
    # kappa moved (in the talk's run it even changes sign), and the runs differ.
    assert talk["kappa"][-1] < -1e-3 and stack["kappa"][-1] > 5e-3
    assert talk["eta"][-1] > 0.9 and 0.1 < stack["eta"][-1] < 0.2
    assert abs(talk["a"][-1] - 3.0) < 1e-12 and abs(stack["a"][-1] - 3.0) < 1e-12


def test_the_whole_run_tangent_is_the_derivative_through_the_unrolled_run():
    """With kappa = 0, eta stays put and de_t/deta (the error's dual part) must be jax.grad with
    respect to eta of e_t through the t - 1 unrolled SGD steps before it (float64)."""
    rng = np.random.default_rng(3)
    x = rng.uniform(0.0, 1.0, 25)
    y = 3.0 * x
    eta = 0.4
    run = talk_example.forward_mode_run(x, y, eta=eta, kappa=0.0, delta=0.0, a_init=0.0)
    with jax.enable_x64(True):

        def error_at(eta, t):
            a = jnp.float64(0.0)
            for s in range(t - 1):
                a = a - eta * 2 * x[s] * (a * x[s] - y[s])
            return (a * x[t - 1] - y[t - 1]) ** 2

        for t in (1, 2, 10, 25):
            expected = float(jax.grad(error_at)(jnp.float64(eta), t))
            np.testing.assert_allclose(run["de_deta"][t - 1], expected, rtol=1e-12, atol=1e-300)
    assert run["de_deta"][0] == 0.0 and np.all(run["eta"] == eta)


def test_the_command_runs_the_shipped_config_in_float64_alone(tmp_path, capsys):
    x64 = jax.config.jax_enable_x64  # False unless the whole process asked for float64
    out = tmp_path / "talk"
    assert cli.main(["talk", str(CONFIG), "steps=600", f"output_dir={out}"]) == 0
    # Float64 was on for the experiment alone: the default dtype is what it was before.
    assert jax.config.jax_enable_x64 == x64
    if not x64:
        assert jnp.zeros(()).dtype == jnp.float32 and jnp.asarray(1e-80) == 0.0

    printed = capsys.readouterr().out
    saved = json.loads((out / "results.json").read_text())
    cfg = config_lib.load(talk_example.Config, out / "config.yaml")
    assert cfg == config_lib.load(talk_example.Config, CONFIG, ["steps=600", f"output_dir={out}"])
    assert saved["config"]["delta"] == 1e-80 and len(saved["x"]) == 600
    x = np.asarray(saved["x"])
    assert x.dtype == np.float64 and 0 <= x.min() and x.max() <= 300
    talk, stack = saved["dual_numbers"], saved["one_step"]
    for trace in (talk, stack):
        assert all(len(trace[name]) == 600 for name in (*FIELDS, "kappa_change"))
        k = np.asarray(trace["de_dkappa"])
        np.testing.assert_allclose(trace["kappa_change"], -1e-80 * np.cumsum(k), rtol=1e-12)
    # Every number is the run's: the JSON's traces are the oracle's.
    hyperparams = {"eta": cfg.eta, "kappa": cfg.kappa, "delta": cfg.delta, "a_init": cfg.a_init}
    oracle = dual_number_oracle(x, cfg.a_true * x, **hyperparams)
    ends = {"a_true": cfg.a_true, "a_init": cfg.a_init}
    assert_traces_equal({k: np.asarray(talk[k]) for k in FIELDS}, oracle, **ends, rtol=1e-12)
    assert talk["converged_at"] == 1 + int(np.argmax(np.abs(oracle["a"] - 3.0) <= 3e-6))
    assert talk["converged_at"] < 600 and stack["converged_at"] is None
    assert (out / "talk_example.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert printed.startswith("the talk's dual numbers")
    assert f"| {talk['a'][-1]:.12g} | {talk['eta'][-1]:.4g} | 1e-20 |" in printed
    assert f"wrote into {out}: results.json talk_example.png config.yaml" in printed


def test_config_mistakes_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("etta: 1.0e-20\n")
    assert cli.main(["talk", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("l2l talk: config error:") and str(bad) in err and "'etta'" in err
    assert "expected one of" in err and "eta" in err and len(err.strip().splitlines()) == 1
    assert cli.main(["talk", "x_low=2.0", "x_high=1.0"]) == 2
    err = capsys.readouterr().err
    assert "x_high (1.0) must exceed x_low (2.0)" in err and len(err.strip().splitlines()) == 1
    assert cli.main(["talk", "delta=-1.0"]) == 2
    assert "'delta': expected a value >= 0" in capsys.readouterr().err


def test_shipped_config_is_the_documented_setting():
    cfg = config_lib.load(talk_example.Config, CONFIG)
    assert (cfg.eta, cfg.kappa, cfg.delta) == (1e-20, 1e-20, 1e-80)  # the talk's
    assert (cfg.x_low, cfg.x_high, cfg.a_true, cfg.a_init) == (0.0, 300.0, 3.0, 0.0)  # ours
    assert cfg.steps == 4000 and cfg == talk_example.Config()
    assert math.isclose(talk_example.CONVERGED, 1e-6)
