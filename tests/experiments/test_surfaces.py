"""Races on 2-D surfaces: closed-form runs, independent loops, the classic race's findings, the
config, and the experiment's run -> write -> summary."""

import json

import jax
import numpy as np
import optax
import pytest
from PIL import Image

from l2l import config as config_lib
from l2l.config import ConfigError
from l2l.experiments import surfaces
from l2l.experiments.report import jsonable
from l2l.experiments.surfaces import CLASSIC_RACE, Config, race, values_along
from l2l.optimizers import make, nesterov
from l2l.specs import ClassicSpec
from l2l.tasks.surfaces import SURFACES


@pytest.fixture(scope="module")
def classic_race():
    """The classic race (start (-2.8, -2.5), 125 steps) on the two surfaces with findings."""
    transforms = {spec.display_label: spec.build() for spec in CLASSIC_RACE}
    results = {}
    for name in ("hills_and_canyon", "two_minimums"):
        paths = race(transforms, name, (-2.8, -2.5), 125)
        results[name] = {
            label: (path[-1], float(values_along(name, path)[-1])) for label, path in paths.items()
        }
    return results


def test_the_classic_race_is_the_one_specified():
    assert [(s.label, s.name, s.hyperparams) for s in CLASSIC_RACE] == [
        ("Nesterov", "nesterov", {"learning_rate": 0.01, "momentum": 0.9}),
        ("RMSProp", "rmsprop", {"learning_rate": 0.25, "decay": 0.9, "eps": 1e-6}),
        ("Adadelta", "adadelta",
         {"learning_rate": 100.0, "rho": 0.95, "eps": 1e-6, "initial_delta": 0.0}),
        ("Adagrad", "adagrad", {"learning_rate": 1.0, "eps": 1e-6}),
        ("Adam", "adam", {"learning_rate": 0.25, "b1": 0.9, "b2": 0.999, "eps": 1e-8}),
    ]  # fmt: skip


def test_on_hills_and_canyon_only_adam_reaches_the_central_basin(classic_race):
    """README: Adam's final f is 0.09; the others stall behind the hills at f = 6.6-6.7."""
    finals = {label: value for label, (_, value) in classic_race["hills_and_canyon"].items()}
    assert finals["Adam"] == pytest.approx(0.0897, abs=0.005), finals
    for label in ("Nesterov", "RMSProp", "Adadelta", "Adagrad"):
        assert 6.6 < finals[label] < 6.8, finals  # Trapped behind the hills, near (-2, -1).


def test_on_two_minimums_all_stay_in_the_shallow_well_near_the_start(classic_race):
    for label, (position, value) in classic_race["two_minimums"].items():
        assert np.linalg.norm(position - np.array([-2.5, -2.5])) < 0.6, (label, position)
        assert np.linalg.norm(position) > 3.0, (label, position)  # Not in the deep well at 0.
        assert value > 3.4, (label, value)  # f = 3.5 in the shallow well, ~1 in the deep one.


def test_sgd_on_simple_quad_contracts_by_one_minus_two_lr():
    """f = x^2 + y^2: w_{t+1} = w_t - lr 2 w_t = (1 - 2 lr)^t w_0."""
    paths = race({"sgd": make("sgd", learning_rate=0.1)}, "simple_quad", (-2.8, -2.5), 20)
    expected = 0.8 ** np.arange(21)[:, None] * np.array([-2.8, -2.5])
    np.testing.assert_allclose(paths["sgd"], expected, rtol=1e-5)


def test_nesterov_in_a_race_is_the_textbook_recurrence():
    """v_t = gamma v + lr grad f(w - gamma v), w -= v, on rosenbrock, in NumPy float64."""

    def grad(w):
        x, y = w
        return np.array([-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)])

    w, v = np.array([-1.0, 1.5]), np.zeros(2)
    expected = [w]
    for _ in range(10):
        v = 0.9 * v + 1e-4 * grad(w - 0.9 * v)
        w = w - v
        expected.append(w)
    got = race({"n": nesterov(learning_rate=1e-4, momentum=0.9)}, "rosenbrock", (-1.0, 1.5), 10)
    np.testing.assert_allclose(got["n"], np.array(expected), rtol=1e-5)


def test_a_race_is_optax_adam_applied_step_by_step():
    """optax.adam itself, in a Python loop of its own, on hills_and_canyon: the same path."""
    f = SURFACES["hills_and_canyon"]
    opt = optax.adam(0.25, b1=0.9, b2=0.999, eps=1e-8)
    w = np.asarray([-2.8, -2.5], np.float32)
    state = opt.init(w)
    grad, update = jax.jit(jax.grad(f)), jax.jit(opt.update)
    expected = [w]
    for _ in range(40):
        updates, state = update(grad(w), state, w)
        w = np.asarray(optax.apply_updates(w, updates))
        expected.append(w)
    got = race({"adam": make("adam", learning_rate=0.25)}, f, (-2.8, -2.5), 40)["adam"]
    np.testing.assert_allclose(got, np.array(expected), rtol=1e-5, atol=1e-6)


def test_a_batch_of_starts_is_vmapped_and_any_transform_races():
    starts = np.array([[-2.8, -2.5], [1.0, 2.0], [0.5, -1.0]], np.float32)
    transforms = {"adam": make("adam", learning_rate=0.1), "optax": optax.chain(optax.sgd(0.05))}
    batch = race(transforms, SURFACES["wobbly"], starts, 15)
    for label in transforms:
        assert batch[label].shape == (3, 16, 2)
        for i, start in enumerate(starts):
            one = race({label: transforms[label]}, "wobbly", start, 15)[label]
            np.testing.assert_allclose(batch[label][i], one, rtol=1e-5, atol=1e-6)


def test_a_start_that_is_not_a_point_is_refused():
    with pytest.raises(ValueError, match=r"start must be a point \(2,\)"):
        race({"sgd": make("sgd")}, "ripple", (1.0, 2.0, 3.0), 3)


def test_the_yaml_config_is_the_embedded_default():
    assert config_lib.load(Config, "configs/study_surfaces.yaml") == Config()
    assert surfaces.SurfaceStudyConfig is Config


@pytest.mark.parametrize(
    "text, expected",
    [
        ("surfaces: [simple_quad, hills_and_canyons]\n", ["Unknown surface 'hills_and_canyons'",
                                                          "Known surfaces: simple_quad, wobbly"]),
        ("optimizers: [{name: nesterof}]\n", ["optimizers.0", "Unknown optimizer 'nesterof'",
                                              "Known optimizers: adadelta, adagrad"]),
        ("optimizers: [{name: adam, hyperparams: {betas: 1}}]\n",
         ["has no hyperparameter 'betas'"]),
        ("optimizers: [{kind: lstm, path: x}]\n",
         ["optimizers.0.kind", "Known: classic, learned, optax, schedule, stack"]),
        ("optimizers: [{kind: learned, path: nothing-here}]\n",
         ["optimizers.0", "learned optimizer 'nothing-here'", "quadratic-lstm"]),
        ("optimizers: [{name: adam}, {name: adam}]\n", ["labels must differ"]),
        ("surfaces: [ripple]\nanimate: [wobbly]\n", ["animate names 'wobbly'"]),
        ("xlim: [3, -3]\n", ["xlim must be (low, high)"]),
    ],
)  # fmt: skip
def test_config_errors_say_what_is_known(tmp_path, text, expected):
    path = tmp_path / "race.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        config_lib.load(Config, path)
    for part in expected:
        assert part in str(err.value)


def test_run_write_summary_as_the_command_calls_them(tmp_path):
    """config.load -> run -> write -> summary: PNG, GIF, overview, JSON and config.yaml."""
    path = tmp_path / "race.yaml"
    path.write_text(
        "surfaces: [two_minimums]\nsteps: 6\nanimate: [all]\nfps: 4\n"
        "optimizers:\n"
        "  - {name: adam, label: Adam, hyperparams: {learning_rate: 0.25}}\n"
        "  - {name: sgd, hyperparams: {learning_rate: 0.5}}\n"
    )
    out = tmp_path / "out"
    cfg = config_lib.load(Config, path, [f"output_dir={out}"])
    report = surfaces.run(cfg, show_progress=False)
    paths = surfaces.write(report, cfg.output_dir)
    assert sorted(p.name for p in paths) == sorted(p.name for p in out.iterdir()) == [
        "config.yaml", "overview.png", "races.json", "two_minimums.gif", "two_minimums.png",
    ]  # fmt: skip
    with Image.open(out / "two_minimums.gif") as gif:
        assert gif.n_frames >= 7  # steps 0..6 (Pillow folds the held final frames into one)
    adam = report.races["two_minimums"]["Adam"]
    written = json.loads((out / "races.json").read_text())["races"]["two_minimums"]["Adam"]
    assert written["kind"] == "classic" and written["optimizer"] == "adam"
    assert written["hyperparams"] == {"learning_rate": 0.25}
    assert len(written["trajectory"]) == 7 and written["trajectory"][0] == [-2.8, -2.5]
    np.testing.assert_allclose(written["trajectory"], adam.trajectory, rtol=1e-6)
    np.testing.assert_allclose(written["final_position"], adam.trajectory[-1], rtol=1e-6)
    f = SURFACES["two_minimums"]
    assert written["final_value"] == pytest.approx(float(f(np.asarray(adam.trajectory[-1]))))
    assert written["values"][-1] == written["final_value"]
    assert config_lib.load(Config, out / "config.yaml") == cfg
    x, y = adam.final_position
    row = f"| two_minimums | {adam.final_value:.3g} at ({x:.2f}, {y:.2f}) |"
    assert surfaces.summary(report).splitlines()[2].startswith(row)


def test_a_diverged_run_is_reported_not_hidden():
    """sgd lr 0.01 on rosenbrock from (-2.8, -2.5): the first step is ~100 long; it blows up."""
    cfg = Config(
        surfaces=("rosenbrock",),
        steps=40,
        optimizers=(ClassicSpec(name="sgd", hyperparams={"learning_rate": 0.01}),),
    )
    report = surfaces.run(cfg)
    assert not np.isfinite(report.races["rosenbrock"]["sgd"].values[-1])
    assert report.races["rosenbrock"]["sgd"].final_value is None
    assert jsonable(report)["races"]["rosenbrock"]["sgd"]["final_value"] is None
    assert "| rosenbrock | diverged |" in surfaces.summary(report)
