import dataclasses
import json

import jax
import pytest

from l2l import evaluate, learned
from l2l.evaluate import BaselineConfig
from l2l.experiments import evaluate as experiment
from l2l.experiments.evaluate import Config, SettingConfig
from l2l.experiments.report import jsonable
from l2l.tasks import QuadraticConfig, SeparableQuadraticConfig


def test_report_files_and_table(tmp_path):
    cfg = Config(
        task=QuadraticConfig(dim=3),
        steps=10,
        num_tuning=4,
        num_test=4,
        baselines=(
            BaselineConfig.of("sgd", lr_min=1e-3, lr_max=1e-1, num_lrs=3),
            BaselineConfig.of("adam", lr_min=1e-2, lr_max=1e-1, num_lrs=2),
        ),
    )
    report = experiment.run(cfg, show_progress=False)
    json_path, png_path, cfg_path = experiment.write(report, tmp_path)
    data = json.loads(json_path.read_text())
    (panel,) = data["panels"]
    assert panel["name"] is None and panel["comparison"]["steps"] == 10
    assert [r["name"] for r in panel["comparison"]["results"]] == ["sgd", "adam"]
    assert panel["comparison"]["results"][0] == jsonable(report.comparison.results[0])
    assert evaluate.Comparison.from_json(panel["comparison"]) == report.comparison
    assert png_path.stat().st_size > 10_000 and cfg_path.name == "config.yaml"
    table = experiment.summary(report)
    best = report.comparison.best_baseline()
    assert table.splitlines()[2].startswith(f"| {best.name} |") and "| 1.000 |" in table


def test_settings_re_tune_the_baselines_for_each_panel(tmp_path):
    cfg_lstm = learned.LSTMOptimizerConfig(hidden_sizes=(3,))
    path = learned.save(
        tmp_path / "mine.l2l", learned.init_meta_params(jax.random.key(1), cfg_lstm), cfg_lstm
    )
    cfg = Config(
        task=QuadraticConfig(dim=3),
        steps=6,
        num_tuning=4,
        num_test=4,
        baselines=(BaselineConfig.of("sgd", lr_min=1e-3, lr_max=1e-1, num_lrs=3),),
        learned=(str(path),),
        settings=(
            SettingConfig("base"),
            SettingConfig("long uniform", steps=9, distribution="uniform"),
            SettingConfig("separable", task_section=SeparableQuadraticConfig(dim=4)),
        ),
    )
    report = experiment.run(cfg, show_progress=False)
    base, other, separable = report.panels
    assert separable.comparison.task["kind"] == "separable_quadratic"
    assert separable.comparison.task["dim"] == 4
    assert base.comparison.steps == 6 and other.comparison.steps == 9
    assert other.comparison.task["distribution"] == "uniform"
    # Each panel equals a plain comparison of its own task and horizon (the oracle).
    plain = evaluate.compare(
        QuadraticConfig(dim=3, distribution="uniform"),
        baselines=cfg.baselines,
        learned_optimizers=cfg.learned,
        steps=9,
        num_tuning=4,
        num_test=4,
        show_progress=False,
    )
    assert other.comparison.results[1].mean_summed_loss == pytest.approx(
        plain.results[1].mean_summed_loss
    )
    table = experiment.settings_table(report)
    ratio = other.comparison.ratios_to_best_baseline()["mine"]
    assert f"({ratio:.3f})" in table.splitlines()[3]
    json_path, png, heat, _ = experiment.write(report, tmp_path / "out")
    assert png.stat().st_size > 10_000 and heat.name == "ratios.png"
    assert [p["name"] for p in json.loads(json_path.read_text())["panels"]] == [
        "base",
        "long uniform",
        "separable",
    ]
    # Learned optimizers alone (no baselines): the table gives their numbers without a ratio.
    alone = experiment.run(dataclasses.replace(cfg, baselines=()), show_progress=False)
    row = experiment.settings_table(alone).splitlines()[3]
    assert row.startswith("| long uniform | – |") and row.endswith(" (–) |")
    assert f"{other.comparison.results[1].mean_summed_loss:.4g} (–)" in row
    experiment.write(alone, tmp_path / "alone")


def test_a_setting_must_change_a_field_the_task_kind_has():
    with pytest.raises(ValueError, match="changes 'activation', which task kind 'quadratic'"):
        Config(settings=(SettingConfig("relu", activation="relu"),))


def test_an_unknown_learned_optimizer_fails_before_any_tuning():
    with pytest.raises(KeyError, match="no trained optimizer named 'nosuch'"):
        Config(learned=("nosuch",))
