import json

import pytest

from l2l import cli, config
from l2l.experiments import EXPERIMENTS, experiment


def test_evaluate_command_writes_json_png_and_config(tmp_path, capsys):
    out = tmp_path / "run"
    code = cli.main(
        [
            "evaluate",
            "task.dim=3",
            "steps=8",
            "num_tuning=4",
            "num_test=4",
            "baselines=[{optimizer: sgd, lr_min: 0.001, lr_max: 0.1, num_lrs: 3}]",
            f"output_dir={out}",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "| sgd |" in printed and f"wrote into {out}: results.json" in printed
    data = json.loads((out / "results.json").read_text())
    results = data["panels"][0]["comparison"]["results"]
    assert data["config"]["steps"] == 8 and len(results[0]["curve_mean"]) == 9
    assert (out / "loss_curves.png").stat().st_size > 0 and (out / "config.yaml").exists()


def test_config_errors_are_reported_without_a_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: -3\n")
    assert cli.main(["evaluate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "config error" in err and str(bad) in err and "'steps'" in err and ">= 1" in err
    assert len(err.strip().splitlines()) == 1
    assert cli.main(["meta-train", "truncation=30"]) == 2
    assert "multiple of truncation" in capsys.readouterr().err
    assert cli.main(["study", "surfaces", "surfaces=[nowhere]"]) == 2
    assert "Unknown surface 'nowhere'" in capsys.readouterr().err


def test_library_errors_are_one_line_and_exit_2(tmp_path, capsys):
    """An unknown zoo name, a corrupt optimizer file and a data set failing its checksum."""
    assert cli.main(["evaluate", "learned=[quadratic-lsmt]"]) == 2
    err = capsys.readouterr().err
    assert "no trained optimizer named 'quadratic-lsmt'" in err and "Did you mean" in err
    assert len(err.strip().splitlines()) == 1

    corrupt = tmp_path / "corrupt.l2l"
    corrupt.write_bytes(b"\x00garbage")
    args = ["evaluate", "task.dim=2", "steps=3", "num_tuning=2", "num_test=2"]
    args += ["baselines=[{optimizer: sgd, num_lrs: 1}]", f"output_dir={tmp_path}"]
    assert cli.main([*args, f"learned=[{corrupt}]"]) == 2
    err = capsys.readouterr().err
    assert "l2l evaluate: error:" in err and "corrupt.l2l" in err and "Traceback" not in err

    data = tmp_path / "mnist"
    data.mkdir()
    (data / "t10k-images-idx3-ubyte.gz").write_bytes(b"not mnist")
    (data / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not mnist")
    task = f"task={{kind: mlp, data_dir: {data}}}"
    assert cli.main([*args, task]) == 2
    err = capsys.readouterr().err
    assert "failed its checksum" in err and "Traceback" not in err


def test_every_experiment_has_the_face_the_command_reads():
    for words, entry in EXPERIMENTS.items():
        module = experiment(entry.module)
        for attribute in ("Config", "run", "write", "summary"):
            assert hasattr(module, attribute), f"l2l {' '.join(words)}: no {attribute}"
        assert words[0] in cli.build_parser().format_help()
        # The module's docstring lists every command, as the table has it.
        assert f"    l2l {' '.join(words)} [CONFIG.yaml]" in cli.__doc__
    assert cli.__doc__.count("    l2l ") == len(EXPERIMENTS)


def test_meta_train_without_baselines_reports_the_learned_optimizer_alone():
    """``l2l meta-train baselines=[]``: the closing comparison holds the learned optimizer alone,
    with no ratio, instead of a traceback after the meta-training."""
    from l2l.evaluate import Comparison, Result
    from l2l.experiments import evaluate as evaluate_experiment
    from l2l.experiments import meta_train
    from l2l.meta import TrainingRun

    cfg = config.load(meta_train.Config, None, ["baselines=[]", "meta_steps=10"])
    mine = Result(name="best", hyperparams={}, mean_summed_loss=2.0, summed_losses=[2.0])
    mine.learned = True
    comparison = Comparison({"kind": "quadratic"}, 100, 0, 0, 1, [mine])
    assert comparison.best_baseline() is None and comparison.ratios_to_best_baseline() == {}
    assert comparison.held_out_summary()["best_baseline"] is None
    panel = evaluate_experiment.Panel(None, comparison)
    evaluation = evaluate_experiment.Report(
        meta_train.evaluation_config(cfg, "best.l2l"), [panel], 1.0
    )
    run = TrainingRun(None, None, 2.0, 10, 10, 0, 60.0, 5.0, None)
    report = meta_train.Report(cfg, run, evaluation)
    assert report.ratio is None
    assert "learned optimizer alone: no baselines to compare it with" in meta_train.summary(report)


def test_unknown_subcommands_are_refused():
    with pytest.raises(SystemExit):
        cli.main(["study", "races"])


def test_a_long_message_is_cut_to_what_was_wrong_and_what_to_do():
    from l2l._errors import L2LError

    err = L2LError(
        "files missing in d: a, b.\n  a: mirror 1 failed\n  a: mirror 2 failed\nPut them in d."
    )
    assert cli._one_line(err) == "files missing in d: a, b. Put them in d."
    assert cli._one_line(L2LError("one line")) == "one line"


def test_a_command_flag_stands_anywhere_among_the_overrides_and_only_for_its_command(
    capsys, monkeypatch
):
    seen = []

    def capture(config_class, path, overrides):
        seen.append(list(overrides))
        raise cli.ConfigError("stop here")

    monkeypatch.setattr(cli, "load", capture)
    assert cli.main(["benchmark", "configs/benchmark.yaml", "only=[x]", "--quick"]) == 2
    assert cli.main(["benchmark", "--tune-baselines", "seeds=2"]) == 2
    assert seen == [["quick=true", "only=[x]"], ["tune_baselines=true", "seeds=2"]]
    with pytest.raises(SystemExit):
        cli.main(["evaluate", "--quick"])
    assert "l2l evaluate has no option --quick" in capsys.readouterr().err
