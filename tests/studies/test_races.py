"""Races on 2-D surfaces: closed-form runs, the classic race's findings, configs and the CLI."""

import json

import numpy as np
import optax
import pytest
from PIL import Image

from l2l import cli
from l2l import config as config_lib
from l2l.config import ConfigError
from l2l.optimizers import make, nesterov
from l2l.studies import (
    CLASSIC_RACE,
    OptimizerSpec,
    SurfaceStudyConfig,
    format_race_table,
    race,
    run_surface_study,
    values_along,
)
from l2l.studies.races import report_to_json
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
        ("Nesterov", "nesterov", {"lr": 0.01, "gamma": 0.9}),
        ("RMSProp", "rmsprop", {"lr": 0.25, "gamma": 0.9, "eps": 1e-6}),
        ("Adadelta", "adadelta", {"lr": 100.0, "gamma": 0.95, "eps": 1e-6, "initial_delta": 0.0}),
        ("Adagrad", "adagrad", {"lr": 1.0, "eps": 1e-6}),
        ("Adam", "adam", {"lr": 0.25, "b1": 0.9, "b2": 0.999, "eps": 1e-8}),
    ]


def test_on_hills_and_canyon_only_adam_reaches_the_central_basin(classic_race):
    finals = {label: value for label, (_, value) in classic_race["hills_and_canyon"].items()}
    assert finals["Adam"] < 0.5, finals
    for label in ("Nesterov", "RMSProp", "Adadelta", "Adagrad"):
        assert finals[label] > 6.0, finals  # Trapped behind the hills, near (-2, -1).


def test_on_two_minimums_all_stay_in_the_shallow_well_near_the_start(classic_race):
    for label, (position, value) in classic_race["two_minimums"].items():
        assert np.linalg.norm(position - np.array([-2.5, -2.5])) < 0.6, (label, position)
        assert np.linalg.norm(position) > 3.0, (label, position)  # Not in the deep well at 0.
        assert value > 3.4, (label, value)  # f = 3.5 in the shallow well, ~1 in the deep one.


def test_sgd_on_simple_quad_contracts_by_one_minus_two_lr():
    """f = x^2 + y^2: w_{t+1} = w_t - lr 2 w_t = (1 - 2 lr)^t w_0."""
    paths = race({"sgd": make("sgd", lr=0.1)}, "simple_quad", (-2.8, -2.5), 20)
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
    got = race({"n": nesterov(1e-4, 0.9)}, "rosenbrock", (-1.0, 1.5), 10)["n"]
    np.testing.assert_allclose(got, np.array(expected), rtol=1e-5)


def test_a_batch_of_starts_is_vmapped_and_any_transform_races():
    starts = np.array([[-2.8, -2.5], [1.0, 2.0], [0.5, -1.0]], np.float32)
    transforms = {"adam": make("adam", lr=0.1), "optax": optax.chain(optax.sgd(0.05))}
    batch = race(transforms, SURFACES["wobbly"], starts, 15)
    for label in transforms:
        assert batch[label].shape == (3, 16, 2)
        for i, start in enumerate(starts):
            one = race({label: transforms[label]}, "wobbly", start, 15)[label]
            np.testing.assert_allclose(batch[label][i], one, rtol=1e-5, atol=1e-6)


def test_the_yaml_config_is_the_embedded_default():
    assert (
        config_lib.load(SurfaceStudyConfig, "configs/study_surfaces.yaml") == SurfaceStudyConfig()
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        ("surfaces: [simple_quad, hills_and_canyons]\n", ["Unknown surface 'hills_and_canyons'",
                                                          "Known surfaces: simple_quad, wobbly"]),
        ("optimizers: [{name: nesterof}]\n", ["optimizers.0", "Unknown optimizer 'nesterof'",
                                              "Known optimizers: adadelta, adagrad"]),
        ("optimizers: [{name: adam, hyperparams: {betas: 1}}]\n", ["has no hyperparameter 'betas'"]),
        ("optimizers: [{kind: lstm, path: x}]\n", ["optimizers.0.kind", "'classic', 'learned'"]),
        ("optimizers: [{kind: learned, path: nothing-here}]\n", ["no pretrained optimizer named"]),
        ("optimizers: [{name: adam}, {name: adam}]\n", ["labels must differ"]),
        ("surfaces: [ripple]\nanimate: [wobbly]\n", ["animate names 'wobbly'"]),
        ("xlim: [3, -3]\n", ["xlim must be (low, high)"]),
    ],
)  # fmt: skip
def test_config_errors_say_what_is_known(tmp_path, text, expected):
    path = tmp_path / "race.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        config_lib.load(SurfaceStudyConfig, path)
    for part in expected:
        assert part in str(err.value)


def test_cli_study_surfaces_writes_pngs_gif_and_json(tmp_path, capsys):
    config = tmp_path / "race.yaml"
    config.write_text(
        "surfaces: [two_minimums]\nsteps: 6\nanimate: [all]\nfps: 4\n"
        "optimizers:\n"
        "  - {name: adam, label: Adam, hyperparams: {lr: 0.25}}\n"
        "  - {name: sgd, hyperparams: {lr: 0.5}}\n"
    )
    out = tmp_path / "out"
    assert cli.main(["study", "surfaces", str(config), f"output_dir={out}"]) == 0
    assert "| two_minimums |" in capsys.readouterr().out
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "config.yaml", "overview.png", "races.json", "two_minimums.gif", "two_minimums.png",
    ]  # fmt: skip
    with Image.open(out / "two_minimums.gif") as gif:
        assert gif.n_frames >= 7  # steps 0..6 (Pillow folds the held final frames into one)
    report = json.loads((out / "races.json").read_text())
    adam = report["results"]["two_minimums"]["Adam"]
    assert len(adam["trajectory"]) == 7 and adam["trajectory"][0] == [-2.8, -2.5]
    f = SURFACES["two_minimums"]
    assert adam["final_value"] == pytest.approx(float(f(np.asarray(adam["final_position"]))))
    assert config_lib.load(SurfaceStudyConfig, out / "config.yaml").steps == 6


def test_cli_study_responses_and_config_errors(tmp_path, capsys):
    config = tmp_path / "responses.yaml"
    config.write_text(
        "steps: 12\nsignals: [spikes, rectangles]\n"
        "figures: [{name: adam, optimizers: [{name: adam, hyperparams: {lr: 0.25}}],"
        " sweep: {b1: [0.5, 0.9]}}]\n"
    )
    out = tmp_path / "out"
    assert cli.main(["study", "responses", str(config), f"output_dir={out}"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["adam.png", "config.yaml", "responses.json"]
    capsys.readouterr()
    assert cli.main(["study", "surfaces", "surfaces=[bowl]"]) == 2
    error = capsys.readouterr().err
    assert "config error" in error and "Unknown surface 'bowl'" in error and "rosenbrock" in error


def test_the_parser_keeps_evaluate_and_nests_study():
    parser = cli.build_parser()
    args = parser.parse_args(["evaluate", "configs/x.yaml", "steps=3"])
    assert (args.command, args.config, args.overrides) == (
        "evaluate",
        "configs/x.yaml",
        ["steps=3"],
    )
    args = parser.parse_args(["study", "surfaces", "configs/y.yaml", "steps=3"])
    assert (args.command, args.subcommand, args.config) == ("study", "surfaces", "configs/y.yaml")
    assert args.overrides == ["steps=3"]
    with pytest.raises(SystemExit):
        parser.parse_args(["study", "races"])


def test_a_diverged_run_is_reported_not_hidden():
    """sgd lr 0.01 on rosenbrock from (-2.8, -2.5): the first step is ~100 long; it blows up."""
    cfg = SurfaceStudyConfig(
        surfaces=("rosenbrock",),
        steps=40,
        optimizers=(OptimizerSpec(name="sgd", hyperparams={"lr": 0.01}),),
    )
    report = run_surface_study(cfg)
    entry = report["results"]["rosenbrock"]["sgd"]
    assert not np.isfinite(entry["final_value"])
    assert report_to_json(report)["results"]["rosenbrock"]["sgd"]["final_value"] is None
    assert "| rosenbrock | diverged |" in format_race_table(report)
