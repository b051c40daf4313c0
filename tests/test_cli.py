import json

from l2l import cli


def test_evaluate_command_writes_json_png_and_config(tmp_path, capsys):
    out = tmp_path / "run"
    code = cli.main(
        [
            "evaluate",
            "task.dim=3",
            "steps=8",
            "num_tuning=4",
            "num_test=4",
            "baselines=[{name: sgd, lr_min: 0.001, lr_max: 0.1, num_lrs: 3}]",
            f"output_dir={out}",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "| sgd |" in printed and str(out / "results.json") in printed
    data = json.loads((out / "results.json").read_text())
    assert data["config"]["steps"] == 8 and len(data["results"][0]["curve_mean"]) == 9
    assert (out / "loss_curves.png").stat().st_size > 0 and (out / "config.yaml").exists()


def test_config_errors_are_reported_without_a_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: -3\n")
    assert cli.main(["evaluate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "config error" in err and str(bad) in err and "'steps'" in err and ">= 1" in err
    assert cli.main(["meta-train", "truncation=30"]) == 2
    assert "multiple of truncation" in capsys.readouterr().err
