"""Response curves: the signals, closed-form responses, the look-ahead reading, the experiment."""

import json
import math

import numpy as np
import optax
import pytest
from PIL import Image

from l2l import config as config_lib
from l2l.config import ConfigError
from l2l.experiments import responses
from l2l.experiments.responses import (
    SIGNAL_TITLES,
    SIGNALS,
    Config,
    ResponseFigureConfig,
    make_signals,
    read_signal,
    response_curves,
)
from l2l.optimizers import adagrad, adam, momentum, nesterov, smoothed_nesterov
from l2l.specs import ClassicSpec

# --------------------------------------------------------------------------- signals


@pytest.fixture(scope="module")
def signals():
    return make_signals(steps=300, seed=0)


@pytest.mark.parametrize(
    "name, values",
    [
        ("spikes", {0: 1, 1: 0, 59: 0, 60: 1, 61: 0, 240: 1, 299: 0}),
        ("rectangles", {0: 1, 19: 1, 20: -1, 39: -1, 40: 1, 299: 1}),
        # x <= 80: (x % 20) / 5; x > 80: (x % 20) / 20.
        ("uneven_sawtooth", {0: 0, 19: 3.8, 20: 0, 79: 3.8, 80: 0, 81: 0.05, 99: 0.95, 299: 0.95}),
        ("saturation", {0: 1, 39: 1, 40: 0, 79: 0, 80: 1, 119: 1, 120: 0}),
    ],
)
def test_deterministic_signals_at_chosen_steps(signals, name, values):
    for step, value in values.items():
        assert signals[name][step] == pytest.approx(value, abs=1e-6), (name, step)


def test_noisy_sines_share_the_noise_and_differ_by_four_fifths_of_the_sine(signals):
    noisy, very_noisy = signals["noisy_sine"], signals["very_noisy_sine"]
    # noisy - very_noisy = sin(x/20) - sin(x/20)/5 = 0.8 sin(x/20): e.g. 0.8 sin(5) at x = 100.
    assert noisy[100] - very_noisy[100] == pytest.approx(0.8 * math.sin(5.0), abs=1e-6)
    assert noisy[0] == very_noisy[0]  # sin(0) = 0: both are U_0 - 0.5
    noise = noisy - np.sin(np.arange(300) / 20)
    assert noise.min() >= -0.5 - 1e-6 and noise.max() < 0.5 + 1e-6
    assert abs(noise.mean()) < 0.05 and noise.std() == pytest.approx(math.sqrt(1 / 12), abs=0.03)
    other = make_signals(("noisy_sine",), steps=300, seed=1)["noisy_sine"]
    assert not np.allclose(other, noisy)
    np.testing.assert_array_equal(make_signals(("noisy_sine",), 300, 0)["noisy_sine"], noisy)


def test_read_signal_interpolates_and_is_zero_outside():
    signal = np.asarray([1.0, 3.0, -1.0], np.float32)
    got = [float(read_signal(signal, p)) for p in (0.0, 0.5, 1.25, 2.0, 2.5, -0.5)]
    assert got == pytest.approx([1.0, 2.0, 2.0, -1.0, 0.0, 0.0])


# --------------------------------------------------------------------------- responses


@pytest.mark.parametrize("gamma", [0.25, 0.9, 0.975])
def test_momentum_after_a_spike_decays_geometrically(signals, gamma):
    curves = response_curves({"m": momentum(0.25, gamma)}, {"spikes": signals["spikes"]})
    response = curves["m"]["spikes"]
    k = np.arange(60)
    np.testing.assert_allclose(response[:60], 0.25 * gamma**k, rtol=2e-5, atol=1e-30)
    assert response[60] == pytest.approx(0.25 * (1 + gamma**60), rel=2e-5)


@pytest.mark.parametrize("eps", [1e-7, 0.1, 10.0])
def test_adagrad_on_a_constant_signal(signals, eps):
    """g = 1 for t < 40: response_t = lr g / sqrt((t + 1) g^2 + eps); then g = 0 gives 0."""
    curves = response_curves({"a": adagrad(2.5, eps)}, {"s": signals["saturation"]})
    response = curves["a"]["s"]
    t = np.arange(40)
    np.testing.assert_allclose(response[:40], 2.5 / np.sqrt(t + 1 + eps), rtol=2e-6)
    np.testing.assert_array_equal(response[40:80], 0.0)
    assert response[80] == pytest.approx(2.5 / math.sqrt(41 + eps), rel=2e-6)


def test_adam_on_a_constant_signal_is_lr(signals):
    """Bias correction makes m_hat = v_hat = 1 for g = 1:
    response = lr / (sqrt(1 + eps_root) + eps)."""
    opt = adam(0.25, b1=0.9, b2=0.999, eps_root=1e-7)
    response = response_curves({"a": opt}, {"s": signals["saturation"]})["a"]["s"]
    # float32: 1 - 0.999^t carries a relative rounding error of ~1e-5 at small t.
    np.testing.assert_allclose(response[:40], 0.25 / (math.sqrt(1 + 1e-7) + 1e-8), rtol=3e-5)


def test_nesterov_reads_the_signal_at_t_plus_gamma_v():
    """Ramp s(x) = x + 1 (T = 5), lr 0.25, gamma 0.5; v_{t+1} = gamma v_t + lr s(t + gamma v_t)."""
    ramp = np.arange(1.0, 6.0, dtype=np.float32)
    # t=0: s(0) = 1                         -> v = 0.25
    # t=1: s(1.125) = 2.125                 -> v = 0.125 + 0.53125 = 0.65625
    # t=2: s(2.328125) = 3.328125           -> v = 0.328125 + 0.83203125 = 1.16015625
    # t=3: s(3.580078125) = 4.580078125     -> v = 0.580078125 + 1.14501953125 = 1.72509765625
    # t=4: s(4.8625...) is past the end, 0  -> v = 0.862548828125
    expected = [0.25, 0.65625, 1.16015625, 1.72509765625, 0.862548828125]
    got = response_curves({"n": nesterov(0.25, 0.5)}, {"ramp": ramp})["n"]["ramp"]
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    # Momentum reads s(t) instead: v = 0.25, 0.625, 1.0625, 1.53125, 2.015625.
    plain = response_curves({"m": momentum(0.25, 0.5)}, {"ramp": ramp})["m"]["ramp"]
    np.testing.assert_allclose(plain, [0.25, 0.625, 1.0625, 1.53125, 2.015625], rtol=1e-6)


def test_smoothed_nesterov_averages_the_signal_along_the_look_ahead():
    """K = 2: the mean of s(t + gamma v / 2) and s(t + gamma v). At t=1 (v = 0.25, gamma = 0.5):
    s(1.0625) = 2.0625 and s(1.125) = 2.125, mean 2.09375 -> v = 0.125 + 0.25 * 2.09375."""
    ramp = np.arange(1.0, 6.0, dtype=np.float32)
    got = response_curves({"s": smoothed_nesterov(0.25, 0.5, points=2)}, {"r": ramp})["s"]["r"]
    assert got[:2] == pytest.approx([0.25, 0.125 + 0.25 * 2.09375], rel=1e-6)


def test_nesterov_sees_the_spike_coming(signals):
    """At t = 59 the look-ahead 59 + gamma v reads 0.25 gamma^59 of the spike at 60."""
    gamma = 0.975
    curves = response_curves(
        {"n": nesterov(0.25, gamma), "m": momentum(0.25, gamma)}, {"s": signals["spikes"]}
    )
    np.testing.assert_allclose(curves["n"]["s"][:59], 0.25 * gamma ** np.arange(59), rtol=2e-5)
    assert curves["n"]["s"][59] == pytest.approx(0.25 * gamma**59 * 1.25, rel=2e-5)
    assert curves["m"]["s"][59] == pytest.approx(0.25 * gamma**59, rel=2e-5)


def test_any_optax_transform_goes_through(signals):
    """Plain optax (no extra-args support) and a chain: sgd's response is lr g, clipped here."""
    chain = optax.chain(optax.clip(0.5), optax.sgd(1.0))
    curves = response_curves({"sgd": optax.sgd(0.1), "clipped": chain}, signals)
    for name, signal in signals.items():
        np.testing.assert_allclose(curves["sgd"][name], 0.1 * signal, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(curves["clipped"][name], np.clip(signal, -0.5, 0.5), atol=1e-7)


# --------------------------------------------------------------------------- the experiment


def test_the_yaml_config_is_the_embedded_default():
    assert config_lib.load(Config, "configs/study_responses.yaml") == Config()
    assert responses.ResponseStudyConfig is Config


def test_study_sweeps_the_cartesian_product_and_writes_figures_and_json(tmp_path):
    figure = ResponseFigureConfig(
        name="adadelta",
        optimizers=(ClassicSpec(name="adadelta", hyperparams={"eps": 1e-3}, label="Adadelta"),),
        sweep={"initial_delta": (0.0, 50.0), "rho": (0.25, 0.9)},
    )
    cfg = Config(steps=30, signals=("saturation",), figures=(figure,), output_dir=str(tmp_path))
    report = responses.run(cfg, show_progress=False)
    curves = report.figures["adadelta"]
    assert [c.label for c in curves] == [
        "D₀=0, ρ=0.25", "D₀=0, ρ=0.9", "D₀=50, ρ=0.25", "D₀=50, ρ=0.9",
    ]  # fmt: skip
    assert [(c.group, c.shade) for c in curves] == [
        ((0, 0), (0, 2)), ((0, 0), (1, 2)), ((0, 1), (0, 2)), ((0, 1), (1, 2)),
    ]  # fmt: skip
    # First step from g = 1: E_1 = 1 - rho, s_1 = sqrt(D_0 + eps) / sqrt(E_1 + eps).
    for c in curves:
        d0, rho = c.hyperparams["initial_delta"], c.hyperparams["rho"]
        first = math.sqrt(d0 + 1e-3) / math.sqrt(1 - rho + 1e-3)
        assert c.responses["saturation"][0] == pytest.approx(first, rel=1e-5)
    paths = responses.write(report, cfg.output_dir)
    assert [p.name for p in paths] == ["responses.json", "adadelta.png", "config.yaml"]
    with Image.open(paths[1]) as image:
        assert image.format == "PNG" and image.size[0] > 400
    assert config_lib.load(Config, paths[2]) == cfg
    written = json.loads(paths[0].read_text())
    assert written["signals"]["saturation"][:3] == [1.0, 1.0, 1.0]
    assert written["figures"]["adadelta"][3]["hyperparams"] == {
        "eps": 1e-3, "initial_delta": 50.0, "rho": 0.9,
    }  # fmt: skip
    assert written["figures"]["adadelta"][3]["shade"] == [1, 2]
    np.testing.assert_allclose(
        written["figures"]["adadelta"][3]["responses"]["saturation"],
        curves[3].responses["saturation"],
        rtol=1e-6,
    )
    peak = max(np.abs(c.responses["saturation"]).max() for c in curves)
    table = responses.summary(report)
    assert f"| adadelta | 4 | {peak:.3g} |" in table, table


def _load(tmp_path, text):
    path = tmp_path / "study.yaml"
    path.write_text(text)
    return config_lib.load(Config, path)


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "figures: [{name: a, optimizers: [{name: adamm}]}]\n",
            [
                "figures.0.optimizers.0",
                "Unknown optimizer 'adamm'",
                "Did you mean 'adam'",
                "rmsprop",
            ],
        ),
        (
            "figures: [{name: a, optimizers: [{name: adam}], sweep: {gama: [0.5]}}]\n",
            ["figures.0", "no hyperparameter 'gama'", "It accepts: learning_rate, b1"],
        ),
        (
            "figures: [{name: a, optimizers: [{name: momentum}], sweep: {momentum: [1.5]}}]\n",
            ["figures.0", "`momentum` = 1.5 is out of range"],
        ),
        ("signals: [spikes, sawtooth]\n", ["unknown signal 'sawtooth'", "uneven_sawtooth"]),
        (
            "figures: [{name: a, optimizers: [{kind: learned, path: nowhere/opt.l2l}]}]\n",
            ["figures.0.optimizers.0", "nowhere/opt.l2l", "no such learned-optimizer file"],
        ),
        ("figures: [{name: a/b, optimizers: [{name: adam}]}]\n", ["names an output file"]),
    ],
)
def test_config_errors_say_what_is_known(tmp_path, text, expected):
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, text)
    for part in expected:
        assert part in str(err.value)


def test_every_signal_has_a_title():
    assert set(SIGNAL_TITLES) == set(SIGNALS)
